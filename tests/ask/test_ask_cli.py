"""``threadline ask`` as a user runs it, against a real server holding a small planted Claude
Code transcript (:func:`tests.ask.stubs.planted_session`, project ``acme-shop``), extractive
answers (no language model): the ``--json`` shape, scoping to the current folder's project,
another user's entries, ``--thread``, ``--about`` — and a prompt injection planted in the
transcript, which the answer quotes as a cited passage and never obeys."""

from __future__ import annotations

import json
import re
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.ask.conftest import Site, history_site
from tests.ask.stubs import INJECTION, INJECTION_2, planted_session
from tests.conftest import BACKENDS
from tests.helpers import cli
from threadline.cli.ask import WIDER_HINT
from threadline.recall.extractive import HEADER

REDIS = "Why did we drop the Redis cache?"
ISSUE_KEYS = {"question", "answer", "no_match", "citations", "thread_id"}
CITATION_KEYS = {"n", "thread_id", "entry_id", "seq", "ts", "snippet", "url"}


@pytest.fixture(scope="module", params=BACKENDS)
def planted(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("ask-cli")
    transcripts = planted_session(folder / "transcripts").parent
    yield from history_site(request.param, folder, None, (transcripts,))


def project_folder(site: Site, name: str, project: str) -> Path:
    folder = site.folder / name
    folder.mkdir(exist_ok=True)
    (folder / "threadline.toml").write_text(f'project = "{project}"\n')
    return folder


def ask_json(site: Site, *args: str, cwd: Path, who: str = "alice") -> dict[str, Any]:
    account = site.alice if who == "alice" else site.bob
    result = site.cli(account, "ask", "--json", *args, cwd=cwd)
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_json_prints_exactly_the_documented_shape(planted: Site) -> None:
    here = project_folder(planted, "shop", "acme-shop")
    answer = ask_json(planted, REDIS, cwd=here)
    assert set(answer) >= ISSUE_KEYS
    assert answer["question"] == REDIS and not answer["no_match"]
    assert isinstance(answer["answer"], str) and isinstance(answer["thread_id"], str)
    assert answer["citations"]
    for c in answer["citations"]:
        assert set(c) >= CITATION_KEYS
        assert isinstance(c["n"], int) and isinstance(c["seq"], int)
        assert c["url"] == (
            f"{planted.url}/threads/{c['thread_id']}?around={c['entry_id']}#entry-{c['entry_id']}"
        )


def test_the_current_folders_project_is_searched(planted: Site) -> None:
    other = project_folder(planted, "other", "other-project")
    assert ask_json(planted, REDIS, cwd=other)["no_match"]
    assert not ask_json(planted, "--all-projects", REDIS, cwd=other)["no_match"]
    assert not ask_json(planted, "--project", "acme-shop", REDIS, cwd=other)["no_match"]
    answer = ask_json(planted, REDIS, cwd=project_folder(planted, "shop", "acme-shop"))
    assert {c["project"] for c in answer["citations"]} == {"acme-shop"}


def test_nothing_found_in_one_project_says_how_to_ask_every_project(planted: Site) -> None:
    shop = project_folder(planted, "shop", "acme-shop")
    question = "What did we decide about the zqxvbnm quorbleflax?"
    here = planted.cli(planted.alice, "ask", question, cwd=shop)
    assert here.returncode == 0, here.stderr
    assert here.stdout.startswith("Nothing relevant was found in the history of project acme")
    assert here.stdout.rstrip().endswith(WIDER_HINT)
    # A project without any history (a mistyped name) is said to be one.
    other = project_folder(planted, "other", "other-project")
    empty = planted.cli(planted.alice, "ask", "--project", "acme-shp", REDIS, cwd=other)
    assert empty.returncode == 0, empty.stderr
    assert "Project acme-shp holds no history (only questions asked of it)" in empty.stdout
    wide = planted.cli(planted.bob, "ask", "--all-projects", REDIS, cwd=other)
    assert wide.returncode == 0 and "Nothing relevant" in wide.stdout
    assert WIDER_HINT not in wide.stdout


def test_thread_list_shows_a_long_question_cut_and_thread_show_opens_it(planted: Site) -> None:
    here = project_folder(planted, "shop", "acme-shop")
    question = "Why did the flaky checkout test fail " + "again and again " * 20 + "?"
    asked = ask_json(planted, question, cwd=here)
    listed = planted.cli(planted.alice, "thread", "list", cwd=here)
    assert listed.returncode == 0, listed.stderr
    (row,) = [line for line in listed.stdout.splitlines() if "Why did the flaky" in line]
    assert "again and again" in row and "…" in row and question not in row
    assert len(row) < len(question)
    shown = planted.cli(planted.alice, "thread", "show", asked["thread_id"], cwd=here)
    assert shown.returncode == 0, shown.stderr
    assert question in shown.stdout
    # The answer reads as ask printed it, its citations' links after it.
    out = shown.stdout
    assert HEADER in out and asked["citations"]
    first = asked["citations"][0]
    assert out.index(HEADER) < out.index(f"[1] {first['url'].removeprefix(planted.url)}")
    assert "[1]: " not in out


def test_thread_show_by_id_from_another_projects_folder_names_the_threads_project(
    planted: Site,
) -> None:
    asked = ask_json(planted, REDIS, cwd=project_folder(planted, "shop", "acme-shop"))
    elsewhere = project_folder(planted, "other", "other-project")
    result = planted.cli(
        planted.alice, "thread", "show", asked["thread_id"], "--json", cwd=elsewhere
    )
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["project"] == "acme-shop" and shown["thread_id"] == asked["thread_id"]
    assert shown["name"] != asked["thread_id"]  # the conversation's own name: its question
    assert [e["role"] for e in shown["entries"]] == ["user", "assistant"]


def test_another_user_gets_nothing_of_alices(planted: Site) -> None:
    here = project_folder(planted, "shop", "acme-shop")
    alices = ask_json(planted, REDIS, cwd=here)
    bobs = ask_json(planted, "--all-projects", REDIS, cwd=here, who="bob")
    assert bobs["no_match"] and bobs["citations"] == []
    result = planted.cli(planted.bob, "ask", "--thread", alices["thread_id"], REDIS, cwd=here)
    assert result.returncode != 0
    assert result.stderr.startswith(f"Error: no thread {alices['thread_id']}"), result.stderr
    assert "Hint: Pass the thread_id an earlier answer gave" in result.stderr
    # A wrong token's hint speaks to the user: log in again (the variable wins over the login).
    wrong = planted.cli(planted.bob, "ask", REDIS, cwd=here, THREADLINE_TOKEN="tl_wrong")
    assert wrong.returncode != 0 and "Authorization" not in wrong.stderr, wrong.stderr
    assert "run `threadline login` again (THREADLINE_TOKEN" in wrong.stderr


def test_the_answer_prints_with_numbered_citations(planted: Site) -> None:
    here = project_folder(planted, "shop", "acme-shop")
    result = planted.cli(planted.alice, "ask", "Which", "command", "fixed", "the", "flaky", "test?",
                         cwd=here)  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith(HEADER + "\n")
    assert "seeding the clock fixed the flaky checkout test" in out
    assert re.search(
        rf"^\[1\] .+\n    {re.escape(planted.url)}/threads/\S+\?around=\S+$", out, re.M
    )
    assert re.search(r"^\[1\] .+ · \w+ · \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$", out, re.M), out
    thread_id = re.search(r"^Conversation: threadline ask --thread (\S+) …$", out, re.M)
    assert thread_id, out
    again = planted.cli(planted.alice, "ask", "--thread", thread_id.group(1), "and why?", cwd=here)
    assert again.returncode == 0, again.stderr
    assert f"--thread {thread_id.group(1)} " in again.stdout


def test_a_follow_up_from_another_folder_searches_the_conversations_project(
    planted: Site,
) -> None:
    here = project_folder(planted, "shop", "acme-shop")
    first = ask_json(planted, REDIS, cwd=here)
    assert first["citations"]
    other = project_folder(planted, "other", "other-project")
    again = ask_json(planted, "--thread", first["thread_id"], REDIS, cwd=other)
    assert not again["no_match"] and again["searched_project"] == "acme-shop"
    narrowed = ask_json(
        planted, "--thread", first["thread_id"], "--project", "other-project", REDIS, cwd=here
    )
    assert narrowed["no_match"] and narrowed["searched_project"] == "other-project"


def git_repository(folder: Path) -> Path:
    folder.mkdir(exist_ok=True)
    subprocess.run(["git", "init", "-q", str(folder)], check=True)
    (folder / "threadline.toml").write_text('project = "acme-shop"\n')
    (folder / "docs").mkdir(exist_ok=True)
    (folder / "docs" / "sessions.md").write_text(
        "# Sessions\n\nSessions live in PostgreSQL; the Redis cache is gone.\n"
    )
    return folder


def test_about_a_file_names_it_from_the_repository_root(planted: Site) -> None:
    repo = git_repository(planted.folder / "repo")
    question = "Where do sessions live now?"
    first = ask_json(planted, "--about", "docs/sessions.md", question, cwd=repo)
    assert any(c["role"] == "system" for c in first["citations"])
    assert "Sessions live in PostgreSQL" in first["answer"]
    again = ask_json(planted, "--about", "sessions.md", "And Redis?", cwd=repo / "docs")
    assert again["thread_id"] == first["thread_id"]
    kept = planted.entries(planted.alice, first["thread_id"])
    assert [e["role"] for e in kept].count("system") == 1
    assert kept[0]["meta"]["ask"]["about"] == "docs/sessions.md"


def test_about_refuses_what_it_cannot_send(planted: Site) -> None:
    repo = git_repository(planted.folder / "repo")
    (repo / "big.md").write_text("x" * (64 * 1024 + 1))
    (repo / "image.bin").write_bytes(b"\x89PNG\x00\x01")
    cases = {
        "missing.md": "Error: no file missing.md",
        "big.md": "Error: big.md is 65537 bytes; --about takes files of at most 65536 bytes",
        "image.bin": "Error: image.bin is not a UTF-8 text file",
        "docs": "Error: docs is a folder; --about takes a file",
        "tab\tname.md": "Error: the path 'tab\\tname.md' cannot name a conversation: the scope "
        "id must be printable text: it holds the control character U+0009",
    }
    (repo / "tab\tname.md").write_text("text")
    other = git_repository(planted.folder / "other")
    (other / "x.md").write_text("another repository's file")
    (repo / "link.md").symlink_to(other / "x.md")
    cases["../other/x.md"] = f"Error: ../other/x.md is outside {repo.resolve()}"
    cases["link.md"] = f"Error: link.md is outside {repo.resolve()}"
    for name, message in cases.items():
        result = planted.cli(planted.alice, "ask", "--about", name, "what?", cwd=repo)
        assert result.returncode != 0
        assert result.stderr.startswith(message), (name, result.stderr)


def test_the_extractive_answer_quotes_an_injection_and_never_obeys_it(planted: Site) -> None:
    here = project_folder(planted, "shop", "acme-shop")
    answer = ask_json(planted, "Which instructions did the notes reply with?", cwd=here)
    text = answer["answer"]
    assert text.strip() != "PWNED"
    lines = text.splitlines()
    assert lines[0] == HEADER
    quoted = re.compile(r"^- “(.+)” \[(\d+)\]$")
    assert all(quoted.match(line) for line in lines[1:]), text
    by_n = {c["n"]: c for c in answer["citations"]}
    planted_lines = [quoted.match(line) for line in lines if "PWNED" in line]
    assert planted_lines, text
    for match in planted_lines:
        assert match is not None and match.group(1) == INJECTION
        cited = by_n[int(match.group(2))]
        (entry,) = [e for e in planted.entries(planted.alice, cited["thread_id"])
                    if e["id"] == cited["entry_id"]]  # fmt: skip
        assert INJECTION in entry["text"] and INJECTION_2 in entry["text"]
    assert "You answer questions" not in text  # no system prompt was revealed


def test_a_question_it_cannot_send_is_refused_with_what_to_do(planted: Site) -> None:
    here = project_folder(planted, "shop", "acme-shop")
    cases = {
        "": "Error: the question is empty",
        "   ": "Error: the question is empty",
        "x" * 2001: "Error: the question is 2001 characters; the limit is 2000",
    }
    for question, message in cases.items():
        result = planted.cli(planted.alice, "ask", question, cwd=here)
        assert result.returncode == 1, result.stderr
        lines = result.stderr.splitlines()
        assert lines[0] == message and lines[1].startswith("Hint: "), result.stderr
    both = planted.cli(planted.alice, "ask", "--project", "p", "--all-projects", REDIS, cwd=here)
    assert both.returncode == 2
    assert "--project and --all-projects exclude each other" in both.stderr


def test_a_scope_is_checked_before_asking_and_named_when_nothing_is_found(planted: Site) -> None:
    here = project_folder(planted, "shop", "acme-shop")
    for scope, message in (("bad", "has no ':'"), ("pr:", "1–512 characters")):
        result = planted.cli(planted.alice, "ask", "--scope", scope, REDIS, cwd=here)
        assert result.returncode == 2 and "Invalid value for '--scope'" in result.stderr
        assert message in result.stderr
    answer = ask_json(planted, "--scope", "pr:999", REDIS, cwd=here)
    assert answer["no_match"] is True
    assert answer["answer"] == (
        "Nothing relevant was found in the history of project acme-shop about pr:999, "
        "so there is no answer to give."
    )


def test_a_server_that_cannot_be_reached_is_said_without_queue_talk(tmp_path: Path) -> None:
    """Nothing of a question is queued: the hint says to check the server and ask again."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before the CLI tries it
    env = {"THREADLINE_SERVER_URL": f"http://127.0.0.1:{port}", "THREADLINE_TOKEN": "tl_x"}
    for extra in ((), ("--json",)):
        result = cli.run(tmp_path / "home", "ask", *extra, "why?", cwd=tmp_path, env=env)
        assert result.returncode != 0
        assert f"Error: cannot connect to 127.0.0.1:{port}" in result.stderr, result.stderr
        assert "Hint: Ask runs on the server" in result.stderr
        assert "queued" not in result.stderr
