"""``sources`` is a leaf: parsers never reach into storage, sync, the server or the CLI."""

from __future__ import annotations

from tests.test_layers import SRC, _imports

FORBIDDEN = {"store", "client", "sync", "server", "cli"}


def test_sources_imports_no_upper_layer() -> None:
    files = sorted((SRC / "sources").rglob("*.py"))
    assert files, "no modules in sources"
    bad = [
        f"{f.relative_to(SRC)} imports {name}"
        for f in files
        for name in _imports(f)
        if name.startswith("threadline.") and name.split(".")[1] in FORBIDDEN
    ]
    assert not bad, "\n".join(bad)
