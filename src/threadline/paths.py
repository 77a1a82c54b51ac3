"""Where Threadline keeps its files.

``THREADLINE_HOME`` overrides every path (tests and scripts set it, so nothing ever touches a
real user's folders); otherwise the platform's user folders from platformdirs are used.
platformdirs is imported only when it is needed, to keep ``push`` fast.
"""

from __future__ import annotations

import contextlib
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


def write_atomic(path: Path, text: str, mode: int | None = None) -> None:
    """Replace ``path`` by a file holding ``text`` (UTF-8) in one step: a temporary file next to
    it, then :func:`os.replace`, so a reader sees the old content or the new, never a part.

    The file gets ``mode`` if given; otherwise it keeps the mode of the file it replaces (a new
    file gets the usual ``0o666`` less the umask). The folder must exist."""
    if mode is None:
        with contextlib.suppress(FileNotFoundError):
            mode = os.stat(path).st_mode & 0o777
    tmp = path.with_name(path.name + ".threadline-tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666 if mode is None else mode)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        if mode is not None:
            os.fchmod(fh.fileno(), mode)  # os.open's mode is cut by the umask
        fh.write(text)
    os.replace(tmp, path)
