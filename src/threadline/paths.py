"""Where Threadline keeps its files.

``THREADLINE_HOME`` overrides every path (tests and scripts set it, so nothing ever touches a
real user's folders); otherwise the platform's user folders from platformdirs are used.
platformdirs is imported only when it is needed, to keep ``push`` fast.
"""

from __future__ import annotations

import os
from pathlib import Path

APP = "threadline"


def home_override() -> Path | None:
    value = os.environ.get("THREADLINE_HOME")
    return Path(value).expanduser() if value else None


def config_dir() -> Path:
    """Holds ``config.toml`` and ``credentials.json``."""
    home = home_override()
    if home is not None:
        return home
    import platformdirs

    return Path(platformdirs.user_config_dir(APP, appauthor=False))


def data_dir() -> Path:
    """Holds the local store and, for ``threadline serve``, the default server database."""
    home = home_override()
    if home is not None:
        return home
    import platformdirs

    return Path(platformdirs.user_data_dir(APP, appauthor=False))


def log_dir() -> Path:
    return data_dir() / "log"


def user_config_file() -> Path:
    return config_dir() / "config.toml"


def credentials_file() -> Path:
    return config_dir() / "credentials.json"


def local_store_file() -> Path:
    return data_dir() / "local.db"


def server_database_file() -> Path:
    return data_dir() / "server.db"


def ensure_dir(path: Path, mode: int = 0o700) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=mode)
    return path
