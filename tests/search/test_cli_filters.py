"""``threadline search``'s filters with the real console script against the shared server
(see ``conftest.py``): ``--thread`` takes a thread's name or id as ``thread list`` shows it,
``--since``/``--until`` take ISO 8601 times, bad values are one ``Error:`` and one ``Hint:``,
and when nothing matches the message says why it may be — the filters, a project without
threads — and a page whose ranking reached its cap says so."""

from __future__ import annotations

import json
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.search.conftest import PROJECT, Indexed, push
from tests.search.test_cli import project_folder, search


def failed(done: subprocess.CompletedProcess[str]) -> tuple[str, str]:
    """The ``Error:`` and ``Hint:`` lines of a command that failed with status 1, alone."""
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    error, hint = done.stderr.splitlines()
    assert error.startswith("Error: ") and hint.startswith("Hint: "), done.stderr
    assert "Traceback" not in done.stderr and "Usage:" not in done.stderr
    return error, hint


def found(done: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    assert done.returncode == 0, done.stderr
    results: list[dict[str, Any]] = json.loads(done.stdout)["results"]
    return results


def session_thread(indexed: Indexed) -> dict[str, Any]:
    """alice's imported Claude Code session: a thread named by the session's id."""
    answer = httpx.get(
        f"{indexed.url}/api/v1/threads",
        params={"kind": "claude-code"},
        headers=indexed.alice.headers,
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    (thread,) = answer.json()["threads"]
    assert thread["name"] != thread["id"], "the name is not the id: both are looked up"
    return dict(thread)


@dataclass
class Pushed:
    """What this module adds to the shared server, each under words of its own."""

    #: Two note threads of one name in two projects.
    twin: str
    twin_projects: tuple[str, str]
    #: A word in more entries than the server ranks, all in :attr:`capped_project`.
    capped: str
    capped_project: str


@pytest.fixture(scope="module")
def pushed(indexed: Indexed) -> Pushed:
    tag = uuid.uuid4().hex[:8]
    twin, projects = f"twin{tag}", (f"acme/twin-a-{tag}", f"acme/twin-b-{tag}")
    for project in projects:
        entry = {"seq": 1, "id": str(uuid.uuid4()), "ts": "2026-03-01T00:00:00Z",
                 "role": "user", "text": f"{twin} note of {project}"}  # fmt: skip
        push(indexed.url, indexed.alice, twin, [entry], project=project,
             key=f"note:{project}:{twin}")  # fmt: skip
    word, project = f"capped{tag}", f"acme/capped-{tag}"
    entries = [
        {"seq": n, "id": str(uuid.uuid4()), "ts": f"2026-03-02T{n // 60:02d}:{n % 60:02d}:00Z",
         "role": "user", "text": f"{word} number {n}"}
        for n in range(1, 302)
    ]  # fmt: skip
    push(indexed.url, indexed.alice, word, entries, project=project, key=f"note:{project}:{word}")
    return Pushed(twin, projects, word, project)


# --- --thread --------------------------------------------------------------------------------


def test_thread_takes_a_note_threads_name(indexed: Indexed) -> None:
    hits = found(search(indexed.alice_home, "zanzibar", "-p", PROJECT, "--thread", "zanzibar",
                        "--json"))  # fmt: skip
    assert len(hits) == 3
    assert {h["thread_id"] for h in hits} == {indexed.threads["zanzibar"]}


def test_thread_takes_a_sessions_name_as_thread_list_shows_it(indexed: Indexed) -> None:
    session = session_thread(indexed)
    listed = search(indexed.alice_home, "conda", "--all-projects", "--thread", session["name"],
                    "--json")  # fmt: skip
    hits = found(listed)
    assert hits and {h["thread_id"] for h in hits} == {session["id"]}
    in_project = search(indexed.alice_home, "conda", "-p", session["project"], "--thread",
                        session["name"], "--json")  # fmt: skip
    assert found(in_project) == hits


def test_thread_takes_an_id_from_any_project(indexed: Indexed, tmp_path: Path) -> None:
    elsewhere = project_folder(tmp_path, "acme/elsewhere")
    thread_id = indexed.threads["zanzibar"]
    hits = found(search(indexed.alice_home, "zanzibar", "--thread", thread_id, "--json",
                        cwd=elsewhere))  # fmt: skip
    assert len(hits) == 3 and {h["thread_id"] for h in hits} == {thread_id}
    none = search(indexed.alice_home, "qqzzxxnothing", "--thread", thread_id, cwd=elsewhere)
    assert none.returncode == 0, none.stderr
    assert none.stdout.strip() == (
        f"No entries match 'qqzzxxnothing' in project {PROJECT} with --thread {thread_id} "
        "(drop or widen a filter to find more)."
    )


def test_an_unknown_thread_is_an_error(indexed: Indexed) -> None:
    error, hint = failed(search(indexed.alice_home, "zanzibar", "-p", PROJECT, "--thread", "bogus"))
    assert error == f"Error: no thread 'bogus' in project {PROJECT}"
    assert "`threadline thread list`" in hint and "name or id" in hint
    bogus_id = str(uuid.uuid4())
    error, hint = failed(
        search(indexed.alice_home, "zanzibar", "--all-projects", "--thread", bogus_id)
    )
    assert error == f"Error: no thread '{bogus_id}' in any project"
    assert "`threadline thread list --all-projects`" in hint
    bobs = search(indexed.bob_home, "zanzibar", "--all-projects", "--thread",
                  indexed.threads["zanzibar"])  # fmt: skip
    assert failed(bobs)[0].startswith("Error: no thread"), "another user's thread is none"


def test_a_name_of_several_threads_is_an_error_naming_their_ids(
    indexed: Indexed, pushed: Pushed
) -> None:
    error, hint = failed(
        search(indexed.alice_home, pushed.twin, "--all-projects", "--thread", pushed.twin)
    )
    assert error.startswith(f"Error: 2 threads are named '{pushed.twin}' in any project: ")
    assert all(project in error for project in pushed.twin_projects)
    assert hint == "Hint: Give --thread the id of the one to search."
    one = search(indexed.alice_home, pushed.twin, "-p", pushed.twin_projects[1], "--thread",
                 pushed.twin, "--json")  # fmt: skip
    assert [h["snippet"] for h in found(one)] == [
        f"{pushed.twin} note of {pushed.twin_projects[1]}"
    ]


# --- when nothing matches --------------------------------------------------------------------


def test_no_match_names_the_active_filters(indexed: Indexed) -> None:
    def said(*args: str) -> str:
        done = search(indexed.alice_home, *args)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    loosen = "drop or widen a filter to find more"
    assert said("zanzibar", "-p", PROJECT, "--kind", "claude-code") == (
        f"No entries match 'zanzibar' in project {PROJECT} with --kind claude-code "
        f"({loosen}; --all-projects searches every project)."
    )
    assert said("zanzibar", "-p", PROJECT, "--role", "system", "--agent", "codex",
                "--since", "2030-01-01") == (
        f"No entries match 'zanzibar' in project {PROJECT} with --agent codex --role system "
        f"--since 2030-01-01 ({loosen}; --all-projects searches every project)."
    )  # fmt: skip
    assert said("zanzibar", "--all-projects", "--until", "2020-01-01", "--scope", "pr:9") == (
        f"No entries match 'zanzibar' in any project with --scope pr:9 --until 2020-01-01 "
        f"({loosen})."
    )
    assert said("qqzzxxnothing", "-p", PROJECT) == (
        f"No entries match 'qqzzxxnothing' in project {PROJECT} "
        "(--all-projects searches every project)."
    ), "without filters, as before"


def test_a_project_without_threads_is_said(indexed: Indexed, tmp_path: Path) -> None:
    done = search(indexed.alice_home, "sound", "--project", "nosuchproject")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "No entries match 'sound': project nosuchproject holds no threads; "
        "`threadline thread list --all-projects` lists the projects."
    )
    here = search(indexed.alice_home, "zanzibar", cwd=project_folder(tmp_path, "acme/empty"))
    assert here.stdout.strip().startswith("No entries match 'zanzibar': project acme/empty holds")
    as_json = search(indexed.alice_home, "sound", "--project", "nosuchproject", "--json")
    assert json.loads(as_json.stdout)["results"] == [], "--json keeps its shape"


def test_an_empty_project_is_a_usage_error(indexed: Indexed) -> None:
    for empty in ("", "  "):
        done = search(indexed.alice_home, "zanzibar", "--project", empty)
        assert done.returncode == 2, (done.stdout, done.stderr)
        assert "Invalid value for '-p' / '--project': the project name is empty" in done.stderr


# --- --since and --until ---------------------------------------------------------------------


def test_since_and_until_take_iso_date_times(indexed: Indexed) -> None:
    def numbers(*args: str) -> list[str]:
        hits = found(
            search(indexed.alice_home, "pagingword number", "-p", PROJECT, "--json", *args)
        )
        return sorted(h["snippet"].rsplit(" ", 1)[1] for h in hits)

    # "pagingword number N" was written at 2026-02-0NT08:00:00Z; both bounds are included.
    assert numbers("--since", "2026-02-06T08:00:00Z", "--until", "2026-02-07T07:59:59Z") == ["6"]
    assert numbers("--since", "2026-02-06T09:00:00+01:00", "--until", "2026-02-07T08:00Z") == [
        "6",
        "7",
    ]
    assert numbers("--since", "2026-02-07 08:00") == ["7"], "without an offset: UTC"
    assert numbers("--since", "2026-02-06T08:00:00.000001Z") == ["7"]
    assert numbers("--since", "2026-02-06", "--until", "2026-02-06") == ["6"], "days as before"


def test_the_api_takes_instants_with_an_offset(indexed: Indexed) -> None:
    words = "pagingword number"
    hits = indexed.hits(words, project=PROJECT, since="2026-02-06T10:00:00+02:00")
    assert len(hits) == 2
    hits = indexed.hits(words, project=PROJECT, until="2026-02-01T08:00:00Z")
    assert len(hits) == 1
    naive = indexed.search(q=words, since="2026-02-06T08:00:00")
    assert naive.status_code == 400
    assert "a date-time with an offset" in naive.json()["error"]["message"]


def test_bad_dates_are_one_error_and_a_hint(indexed: Indexed) -> None:
    error, hint = failed(search(indexed.alice_home, "x", "--since", "yesterday"))
    assert error == "Error: --since 'yesterday' is not a date or a date-time"
    assert "YYYY-MM-DD" in hint and "2025-09-25T01:40:00Z" in hint
    error, _ = failed(search(indexed.alice_home, "x", "--until", "2026-13-01"))
    assert error == "Error: --until '2026-13-01' is not a date or a date-time"


def test_since_after_until_is_an_error_before_asking_the_server(tmp_path: Path) -> None:
    from tests.helpers import cli

    for since, until in [("2026-02-07", "2026-02-06"), ("2026-02-06T00:00:01Z", "2026-02-05")]:
        done = cli.run(
            tmp_path / "down",
            "search",
            "zanzibar",
            "--since",
            since,
            "--until",
            until,
            THREADLINE_SERVER_URL="http://127.0.0.1:9",
            THREADLINE_TOKEN="tl_notarealtoken",
        )
        error, hint = failed(done)
        assert error.startswith("Error: --since ") and "is later than --until" in error
        assert "earlier --since" in hint
    same = cli.run(tmp_path / "down", "search", "x", "--since", "2026-02-06", "--until",
                   "2026-02-06", THREADLINE_SERVER_URL="http://127.0.0.1:9",
                   THREADLINE_TOKEN="tl_notarealtoken")  # fmt: skip
    assert "Search runs on the server" in same.stderr, "one day is a range: it is searched"


# --- the ranking's cap -----------------------------------------------------------------------


def test_a_capped_ranking_is_said(indexed: Indexed, pushed: Pushed) -> None:
    note = "Only the newest 300 matches were ranked; add a word or a filter to reach older ones."
    text = search(indexed.alice_home, pushed.capped, "-p", pushed.capped_project)
    assert text.returncode == 0, text.stderr
    assert text.stdout.splitlines()[-1] == note
    page = json.loads(
        search(indexed.alice_home, pushed.capped, "-p", pushed.capped_project, "--json").stdout
    )
    assert page["capped"] is True and len(page["results"]) == 20
    assert indexed.search(q=pushed.capped).json()["capped"] is True
    fewer = search(indexed.alice_home, "zanzibar", "-p", PROJECT)
    assert note not in fewer.stdout
    assert indexed.search(q="zanzibar").json()["capped"] is False
