"""``threadline search`` with the real console script against the shared server: JSON in
exactly the documented shape with absolute URLs, readable text otherwise, the current
folder's project by default, users apart, and clear errors."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import click

from tests.helpers import cli
from tests.search.conftest import PROJECT, Indexed
from threadline.cli.search import _marked

REQUIRED = {"thread_id", "entry_id", "seq", "ts", "role", "snippet", "score", "url"}


def search(home: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return cli.run(home, "search", *args, cwd=cwd, timeout=60)


def project_folder(tmp_path: Path, project: str) -> Path:
    folder = tmp_path / project.replace("/", "-")
    folder.mkdir()
    (folder / "threadline.toml").write_text(f'project = "{project}"\n')
    return folder


def test_json_is_the_documented_shape_with_absolute_urls(indexed: Indexed) -> None:
    done = search(indexed.alice_home, "zanzibar", "--project", PROJECT, "--json")
    assert done.returncode == 0, done.stderr
    page = json.loads(done.stdout)
    assert set(page) >= {"query", "results", "next_cursor"}
    assert page["query"] == "zanzibar" and page["next_cursor"] is None
    assert len(page["results"]) == 3
    for hit in page["results"]:
        assert set(hit) >= REQUIRED
        assert isinstance(hit["seq"], int) and isinstance(hit["score"], float)
        assert hit["url"] == (
            f"{indexed.url}/threads/{hit['thread_id']}?around={hit['entry_id']}#entry-{hit['entry_id']}"
        )


def test_text_output(indexed: Indexed) -> None:
    done = search(indexed.alice_home, "cache miss", "--project", PROJECT)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("zanzibar") and PROJECT in lines[0]
    assert lines[1].strip() == "2026-01-10 10:00:00  user"
    assert lines[2].strip() == "Why does the zanzibar cache miss so often?"
    assert lines[3].strip().startswith(f"{indexed.url}/threads/")
    assert "\x1b[" not in done.stdout, "no escape codes into a pipe"


def test_the_current_folders_project_by_default(indexed: Indexed, tmp_path: Path) -> None:
    demo = project_folder(tmp_path, PROJECT)
    elsewhere = project_folder(tmp_path, "acme/elsewhere")
    found = json.loads(search(indexed.alice_home, "zanzibar", "--json", cwd=demo).stdout)
    assert {h["project"] for h in found["results"]} == {PROJECT}
    none = search(indexed.alice_home, "zanzibar", cwd=elsewhere)
    assert none.returncode == 0
    assert none.stdout.strip() == (
        "No entries match 'zanzibar': project acme/elsewhere holds no threads; "
        "`threadline thread list --all-projects` lists the projects."
    )
    nowhere = search(indexed.alice_home, "qqzzxxnothing", "--all-projects", cwd=elsewhere)
    assert nowhere.stdout.strip() == "No entries match 'qqzzxxnothing' in any project."
    everywhere = search(indexed.alice_home, "conda", "--all-projects", "--json", cwd=elsewhere)
    assert json.loads(everywhere.stdout)["results"]


def test_filters_and_paging(indexed: Indexed, tmp_path: Path) -> None:
    first = json.loads(
        search(indexed.alice_home, "pagingword", "-p", PROJECT, "--limit", "4", "--json").stdout
    )
    assert len(first["results"]) == 4 and first["next_cursor"]
    rest = json.loads(
        search(indexed.alice_home, "pagingword", "-p", PROJECT, "--limit", "4", "--json",
               "--cursor", first["next_cursor"]).stdout
    )  # fmt: skip
    seen = [h["entry_id"] for h in first["results"] + rest["results"]]
    assert len(seen) == len(set(seen)) >= 7
    tools = json.loads(
        search(indexed.alice_home, "zanzibar", "-p", PROJECT, "--role", "tool", "--json").stdout
    )
    assert [h["role"] for h in tools["results"]] == ["tool"]
    dated = json.loads(
        search(indexed.alice_home, "pagingword", "-p", PROJECT, "--since", "2026-02-06",
               "--until", "2026-02-07", "--json").stdout
    )  # fmt: skip
    assert len(dated["results"]) == 2
    codex = json.loads(
        search(indexed.alice_home, "packages/services", "--all-projects", "--agent", "codex",
               "--json").stdout
    )  # fmt: skip
    assert codex["results"] and {h["kind"] for h in codex["results"]} == {"codex"}
    scoped = json.loads(
        search(indexed.alice_home, "scopedword", "-p", PROJECT, "--scope", "pr:43",
               "--json").stdout
    )  # fmt: skip
    assert [h["snippet"] for h in scoped["results"]] == ["scopedword about pr 43"]


def test_another_users_entries_are_never_found(indexed: Indexed) -> None:
    for q in ("conda", "zanzibar", "pagingword"):
        done = search(indexed.bob_home, q, "--all-projects", "--json")
        assert done.returncode == 0, done.stderr
        assert all("bobsecret" in h["snippet"] for h in json.loads(done.stdout)["results"]), q


def test_clear_errors(indexed: Indexed, tmp_path: Path) -> None:
    nobody = search(tmp_path / "nobody", "zanzibar")
    assert nobody.returncode != 0
    assert "Error: no server is configured" in nobody.stderr and "Hint:" in nobody.stderr
    down = cli.run(
        tmp_path / "down",
        "search",
        "zanzibar",
        THREADLINE_SERVER_URL="http://127.0.0.1:9",
        THREADLINE_TOKEN="tl_notarealtoken",
    )
    assert down.returncode != 0 and "Error:" in down.stderr and "Traceback" not in down.stderr
    assert "Hint: Search runs on the server" in down.stderr, "a search queues nothing to deliver"
    empty = search(indexed.alice_home, "   ")
    assert empty.returncode != 0 and "the search query is empty" in empty.stderr
    kind = search(indexed.alice_home, "x", "--kind", "bogus")
    assert kind.returncode == 2 and "Invalid value for '--kind'" in kind.stderr, kind.stderr
    assert "'note', 'claude-code', 'codex'" in kind.stderr, "the choices are listed"
    both = search(indexed.alice_home, "x", "--project", "a", "--all-projects")
    assert both.returncode != 0 and "exclude each other" in both.stderr
    scope = search(indexed.alice_home, "x", "--scope", "pr")
    assert scope.returncode == 2 and "Invalid value for '--scope'" in scope.stderr
    assert "a scope is TYPE:ID" in scope.stderr


def test_matches_are_bold_on_a_terminal() -> None:
    bold = click.style("limit", bold=True)
    assert _marked("rate limit", [[5, 10]], True) == "rate " + bold
    assert _marked("rate limit", [[5, 10]], False) == "rate limit"
    assert _marked("short", [[3, 99]], True) == "short", "ranges past the end are ignored"
