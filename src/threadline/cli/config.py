"""``threadline config``: every effective setting, its value and where it came from."""

from __future__ import annotations

import click

from threadline import config as config_mod
from threadline import paths
from threadline.cli.common import print_json, table


def _shown(name: str, value: object) -> str:
    if value is None:
        return "-"
    if name == "token":
        text = str(value)
        return text[:7] + "…" if len(text) > 7 else "…"
    return str(value)


@click.command("config")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the token stays masked).")
def config(as_json: bool) -> None:
    """Print every effective setting and where it came from."""
    cfg = config_mod.load()
    rows = [
        [s.name, _shown(s.name, cfg.get(s.name)), cfg.values[s.name].source]
        for s in config_mod.SETTINGS
    ]
    files = {
        "home (THREADLINE_HOME)": str(paths.home_override() or "-"),
        "user config file": str(paths.user_config_file()),
        "project file": str(cfg.project_file or "-"),
        "credentials file": str(paths.credentials_file()),
        "local store": str(paths.local_store_file()),
    }
    if as_json:
        print_json(
            {"settings": {r[0]: {"value": r[1], "source": r[2]} for r in rows}, "files": files}
        )
        return
    table(rows, ["SETTING", "VALUE", "SOURCE"])
    click.echo("")
    for name, value in files.items():
        click.echo(f"{name}: {value}")
