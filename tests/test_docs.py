"""Every setting and every command is documented in the README; the protocol doc names every
route the server has."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from threadline.cli.app import COMMANDS
from threadline.config import SETTINGS, Setting

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
PROTOCOL = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_setting_is_documented(setting: Setting) -> None:
    assert f"`{setting.name}`" in README
    if setting.env:
        assert f"`{setting.env}`" in README


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_command_is_documented(command: str) -> None:
    assert f"`threadline {command}" in README


def test_every_api_route_is_in_the_protocol_doc(tmp_path: Path) -> None:
    from threadline.server.app import create_app
    from threadline.server.settings import ServerSettings

    app = create_app(ServerSettings(database_url=f"sqlite:///{tmp_path / 's.db'}"))
    paths = set(app.openapi()["paths"])
    assert paths
    # The doc names every path parameter {id}.
    missing = [p for p in sorted(paths) if re.sub(r"\{[^}]+\}", "{id}", p) not in PROTOCOL]
    assert not missing, missing


def test_openapi_marks_every_private_route_as_bearer(tmp_path: Path) -> None:
    from threadline.server.app import create_app
    from threadline.server.settings import ServerSettings

    schema = create_app(ServerSettings(database_url=f"sqlite:///{tmp_path / 's.db'}")).openapi()
    assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            public = path in ("/api/v1/capabilities", "/api/v1/auth/login", "/healthz")
            assert ("security" in operation) != public, (method, path)
