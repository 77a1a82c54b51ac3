"""Scopes in the web UI, in process on both backends: the threads list filters by scope and
scope type (page and live rows), shows each thread's scope, the thread page's header shows it
— always escaped — and another user's scoped thread never appears."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from markupsafe import escape

from tests.helpers.asgi import AsgiClient
from tests.helpers.web import PASSWORD
from tests.scope.conftest import Api
from tests.web.conftest import sign_in
from threadline.server.app import create_app
from threadline.server.settings import ServerSettings
from threadline.services import accounts
from threadline.storage.database import Database

ROW = re.compile(r'<tr id="thread-([^"]+)" data-change="\d+"')
HOSTILE = 'xss:<script>alert("x")</script>&amp;\''


@pytest.fixture
def app(db: Database, server_db_url: str) -> Iterator[list[AsgiClient]]:
    """Clients of one app; each closed afterwards."""
    clients: list[AsgiClient] = []
    yield clients
    for client in clients:
        client.close()


def _user(
    db: Database, server_db_url: str, app: list[AsgiClient], name: str
) -> tuple[Api, AsgiClient]:
    """``name``'s API (bearer token) and a browser signed in as ``name``, on one app."""
    made = create_app(ServerSettings(database_url=server_db_url), db=db)
    api_client, browser = AsgiClient(made), AsgiClient(made)
    app.extend([api_client, browser])
    accounts.create_user(db, name, PASSWORD)
    sign_in(browser, name)
    return Api(api_client, accounts.create_token(db, name, "tests").secret), browser


@pytest.fixture
def alice(db: Database, server_db_url: str, app: list[AsgiClient]) -> tuple[Api, AsgiClient]:
    return _user(db, server_db_url, app, "alice")


@pytest.fixture
def bob(db: Database, server_db_url: str, app: list[AsgiClient]) -> tuple[Api, AsgiClient]:
    return _user(db, server_db_url, app, "bob")


def rows(page: str) -> list[str]:
    return ROW.findall(page)


def test_the_list_filters_by_scope_and_shows_it(alice: tuple[Api, AsgiClient]) -> None:
    api, browser = alice
    pr1 = api.create(name="one", scope="pr:1", title="Review one").json()["id"]
    pr2 = api.create(name="two", scope="pr:2").json()["id"]
    plain = api.create(name="plain").json()["id"]

    everything = browser.get("/threads")
    assert sorted(rows(everything.text)) == sorted([pr1, pr2, plain])
    assert '<a class="badge badge-scope" href="/threads?scope=pr%3A1"' in everything.text

    page = browser.get("/threads", params={"scope": "pr:1"})
    assert page.status_code == 200
    assert rows(page.text) == [pr1]
    assert 'name="scope" value="pr:1"' in page.text
    assert 'data-filters="scope=pr%3A1"' in page.text, "live updates keep the filter"

    by_type = browser.get("/threads", params={"scope_type": "pr"})
    assert sorted(rows(by_type.text)) == sorted([pr1, pr2])
    assert '<input type="hidden" name="scope_type" value="pr">' in by_type.text


def test_live_rows_keep_to_the_scope_filter(alice: tuple[Api, AsgiClient]) -> None:
    api, browser = alice
    pr1 = api.create(name="one", scope="pr:1").json()["id"]
    api.create(name="two", scope="pr:2")
    live = browser.get("/threads/rows", params={"scope": "pr:1", "since_change": "0"})
    assert live.status_code == 200
    assert rows(live.text) == [pr1]
    paged = browser.get("/threads/rows", params={"scope_type": "pr"})
    assert len(rows(paged.text)) == 2


def test_the_thread_page_header_shows_the_scope(alice: tuple[Api, AsgiClient]) -> None:
    api, browser = alice
    thread_id = api.create(name="spec", scope="file:docs/spec.md").json()["id"]
    page = browser.get(f"/threads/{thread_id}")
    assert page.status_code == 200
    assert (
        '<div class="scope"><dt>Scope</dt><dd><a href="/threads?scope=file%3Adocs/spec.md">'
        "file:docs/spec.md</a></dd></div>"
    ) in page.text
    plain = api.create(name="plain").json()["id"]
    assert "<dt>Scope</dt>" not in browser.get(f"/threads/{plain}").text


def test_a_hostile_scope_is_escaped_everywhere(alice: tuple[Api, AsgiClient]) -> None:
    api, browser = alice
    made = api.create(name="x", scope=HOSTILE)
    assert made.status_code == 201, made.text
    thread_id = made.json()["id"]
    escaped = str(escape(HOSTILE))  # as the templates escape
    for page in (
        browser.get("/threads"),
        browser.get("/threads", params={"scope": HOSTILE}),
        browser.get(f"/threads/{thread_id}"),
    ):
        assert page.status_code == 200
        assert "<script>alert" not in page.text
        assert escaped in page.text
    assert rows(browser.get("/threads", params={"scope": HOSTILE}).text) == [thread_id]


@pytest.mark.parametrize(
    ("query", "rule"),
    [
        ({"scope": "no-colon"}, "has no &#39;:&#39;"),
        ({"scope": "PR:1"}, "lowercase letters"),
        ({"scope": "pr:" + "x" * 600}, "1–512 characters"),
        ({"scope_type": "Pull Request"}, "lowercase letters"),
        ({"scope_type": "pr:123"}, "is a whole scope"),
    ],
)
def test_a_malformed_scope_filter_is_a_400_page(
    alice: tuple[Api, AsgiClient], query: dict[str, str], rule: str
) -> None:
    _, browser = alice
    for path in ("/threads", "/threads/rows"):
        page = browser.get(path, params=query)
        assert page.status_code == 400, page.text[:300]
        assert rule in page.text


def test_an_empty_scope_filter_is_no_filter(alice: tuple[Api, AsgiClient]) -> None:
    api, browser = alice
    api.create(name="plain")
    page = browser.get("/threads", params={"scope": "  ", "scope_type": ""})
    assert page.status_code == 200 and len(rows(page.text)) == 1


def test_another_users_scoped_thread_never_appears(
    alice: tuple[Api, AsgiClient], bob: tuple[Api, AsgiClient]
) -> None:
    alice_api, alice_browser = alice
    bob_api, bob_browser = bob
    mine = alice_api.create(name="mine", scope="pr:1", title="Alice's review").json()["id"]
    assert rows(bob_browser.get("/threads", params={"scope": "pr:1"}).text) == []
    assert "Alice&#39;s review" not in bob_browser.get("/threads").text
    assert bob_browser.get(f"/threads/{mine}").status_code == 404
    theirs = bob_api.create(name="theirs", scope="pr:1").json()["id"]
    assert rows(bob_browser.get("/threads", params={"scope": "pr:1"}).text) == [theirs]
    assert rows(alice_browser.get("/threads", params={"scope": "pr:1"}).text) == [mine]
