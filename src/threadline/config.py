"""Client settings, declared once as data and resolved from every source in order.

Order, later wins: defaults → user config file (``config.toml``) → the credentials that
``threadline login`` stored → the project's ``threadline.toml`` (found by walking up from the
current folder) → ``THREADLINE_*`` environment variables → command-line flags. Every resolved
value remembers where it came from, which ``threadline config`` prints.

Standard library only (``tomllib`` is imported only when a TOML file exists): ``push`` reads this.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from threadline import paths
from threadline.errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing, like dataclasses, costs milliseconds of imports on the hot path
    from collections.abc import Callable
    from typing import Any

PROJECT_FILE = "threadline.toml"


class Setting:
    """One setting: its name, default, type, help, environment variable, and whether the
    project's ``threadline.toml`` may set it (never a secret: that file is committed)."""

    __slots__ = ("default", "env", "help", "in_project", "name", "type")

    def __init__(
        self,
        name: str,
        default: Any,
        type: Callable[[Any], Any],
        help: str,
        env: str | None = None,
        in_project: bool = True,
    ) -> None:
        self.name = name
        self.default = default
        self.type = type
        self.help = help
        self.env = env
        self.in_project = in_project


def globs(value: Any) -> list[str]:
    """A list of globs from TOML (a list or one string) or the environment (comma-separated)."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise TypeError("expected a list of globs")
    return [str(item).strip() for item in items if str(item).strip()]


SETTINGS: tuple[Setting, ...] = (
    Setting("server_url", None, str, "URL of the Threadline server.", "THREADLINE_SERVER_URL"),
    Setting("token", None, str, "Device token for the server.", "THREADLINE_TOKEN", False),
    Setting("user", None, str, "User name the token belongs to.", None, False),
    Setting(
        "project",
        None,
        str,
        "Project of new threads: threadline.toml, else the git remote, else the folder name.",
        "THREADLINE_PROJECT",
    ),
    Setting("thread", "main", str, "Thread that `push` writes to by default.", "THREADLINE_THREAD"),
    Setting(
        "push_timeout",
        2.0,
        float,
        "Seconds `push` waits for the server before leaving the entry queued.",
        "THREADLINE_PUSH_TIMEOUT",
    ),
    Setting(
        "device_name",
        None,
        str,
        "Name of this machine on the server (default: the host name).",
        "THREADLINE_DEVICE_NAME",
        False,
    ),
    Setting(
        "daemon_rescan",
        60.0,
        float,
        "Seconds between the daemon's full rescans of the transcript folders "
        "(file-system events cover the time between).",
        "THREADLINE_DAEMON_RESCAN",
        False,
    ),
    Setting(
        "daemon_retry_max",
        60.0,
        float,
        "Longest wait, in seconds, between the daemon's upload attempts while the server "
        "is away (backoff doubles from 1 s, with jitter, up to this).",
        "THREADLINE_DAEMON_RETRY_MAX",
        False,
    ),
    Setting(
        "exclude",
        [],
        globs,
        "Globs of projects, working folders or transcript paths never captured "
        "(`~` expands; a folder's glob covers what is inside it).",
        "THREADLINE_EXCLUDE",
        False,
    ),
    Setting(
        "handoff_exclude",
        [],
        globs,
        "Globs of files `threadline save` leaves out besides the secret-looking ones "
        "(`.env*`, `*.pem`, `*.key`, `credentials.json`); a glob without `/` matches a name "
        "at any depth.",
        "THREADLINE_HANDOFF_EXCLUDE",
    ),
)
SETTINGS_BY_NAME = {s.name: s for s in SETTINGS}


class Value:
    __slots__ = ("source", "value")

    def __init__(self, value: Any, source: str) -> None:
        self.value = value
        self.source = source


class Config:
    def __init__(self, values: dict[str, Value], project_file: Path | None = None) -> None:
        self.values = values
        self.project_file = project_file

    def get(self, name: str) -> Any:
        return self.values[name].value

    @property
    def server_url(self) -> str | None:
        url = self.get("server_url")
        return str(url).rstrip("/") if url else None

    @property
    def token(self) -> str | None:
        return self.get("token") or None

    @property
    def project(self) -> str:
        return str(self.get("project") or "")

    @property
    def thread(self) -> str:
        return str(self.get("thread"))

    @property
    def exclude(self) -> list[str]:
        return list(self.get("exclude") or [])

    @property
    def handoff_exclude(self) -> list[str]:
        return list(self.get("handoff_exclude") or [])

    @property
    def push_timeout(self) -> float:
        return float(self.get("push_timeout"))


def find_project_file(start: Path | None = None) -> Path | None:
    """The nearest ``threadline.toml`` in ``start`` or one of its parents."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / PROJECT_FILE
        if candidate.is_file():
            return candidate
    return None


def read_toml(path: Path) -> dict[str, Any]:
    """The table in the TOML file ``path``, ``{}`` if there is no such file; a file that cannot
    be read or parsed raises :class:`ConfigError`."""
    import tomllib

    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise not_utf8(path, exc) from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc


def not_utf8(
    path: Path, exc: UnicodeDecodeError, note: str = "", hint: str | None = None
) -> ConfigError:
    """The error of a settings file that is not UTF-8 text; its bytes are not shown (the file
    may hold a token)."""
    return ConfigError(
        f"{path} is not valid UTF-8 (at byte {exc.start + 1:,}){note}",
        hint=hint
        or "Save the file as UTF-8 text (TOML and JSON files are UTF-8), or move it away.",
    )


def _read_toml(path: Path) -> dict[str, Any]:
    data = read_toml(path)
    # Accept both top-level keys and a [threadline] table.
    nested = data.get("threadline")
    return {**data, **nested} if isinstance(nested, dict) else data


def read_json(path: Path, *, hint: str, note: str = "", blank_ok: bool = False) -> Any:
    """The JSON value in ``path``: ``{}`` if there is no such file (or, with ``blank_ok``, it
    holds only white space). A file that cannot be read or parsed raises
    :class:`ConfigError`; ``note`` ends its message and ``hint`` says what to do."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except UnicodeDecodeError as exc:
        raise not_utf8(path, exc, note, hint) from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    if blank_ok and not text.strip():
        return {}
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{path} is not valid JSON ({exc}){note}", hint=hint) from exc


def read_credentials() -> dict[str, Any]:
    data = read_json(paths.credentials_file(), hint="Run `threadline login` again to rewrite it.")
    return data if isinstance(data, dict) else {}


def write_credentials(data: dict[str, Any]) -> Path:
    """Store credentials with file mode 0600, atomically."""
    path = paths.credentials_file()
    paths.ensure_dir(path.parent)
    paths.write_atomic(path, json.dumps(data, indent=2) + "\n", mode=0o600)
    return path


def _coerce(setting: Setting, raw: Any, source: str) -> Any:
    if raw is None:
        return None
    try:
        return setting.type(raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"{setting.name} from {source} must be a {setting.type.__name__}, got {raw!r}"
        ) from exc


def _apply(config: Config, data: dict[str, Any], source: str, *, project: bool = False) -> None:
    for key, raw in data.items():
        setting = SETTINGS_BY_NAME.get(key)
        if setting is None or (project and not setting.in_project):
            continue
        config.values[key] = Value(_coerce(setting, raw, source), source)


def load(flags: dict[str, Any] | None = None, cwd: Path | None = None) -> Config:
    """Resolve every setting; ``flags`` are command-line values (None means not given)."""
    config = Config({s.name: Value(s.default, "default") for s in SETTINGS})
    user_file = paths.user_config_file()
    if user_file.is_file():
        _apply(config, _read_toml(user_file), str(user_file))
    creds = read_credentials()
    if creds:
        src = str(paths.credentials_file())
        _apply(
            config, {k: creds.get(k) for k in ("server_url", "token", "user") if k in creds}, src
        )
    project_file = find_project_file(cwd)
    if project_file is not None:
        config.project_file = project_file
        _apply(config, _read_toml(project_file), str(project_file), project=True)
    for setting in SETTINGS:
        if setting.env and os.environ.get(setting.env):
            config.values[setting.name] = Value(
                _coerce(setting, os.environ[setting.env], f"env {setting.env}"),
                f"env {setting.env}",
            )
    for key, raw in (flags or {}).items():
        if raw is not None:
            config.values[key] = Value(_coerce(SETTINGS_BY_NAME[key], raw, "flag"), "flag")
    if not config.get("project"):
        name, source = derive_project(cwd)
        config.values["project"] = Value(name, source)
    return config


def derive_project(cwd: Path | None = None) -> tuple[str, str]:
    """The project name from the git remote (``host/owner/repo``), else the repository's
    folder (a linked worktree's main repository's: the worktrees of one repository are one
    project), else the folder name."""
    here = (cwd or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        git = folder / ".git"
        if git.exists():
            common = _common_dir(git)
            url = _origin_url(common / "config") if common else None
            if url:
                return normalize_remote(url), "git remote origin"
            # a linked worktree's repository is the main one's (a plain one's is this folder)
            main = common.parent if common is not None and common.name == ".git" else folder
            return main.name, "git repository folder"
    return here.name, "current folder"


def _common_dir(git: Path) -> Path | None:
    """The git folder holding the repository's ``config``: ``git`` itself, or for a linked
    worktree or a submodule (``.git`` a file: ``gitdir: <path>``) the folder it names — a
    worktree's through its ``commondir``."""
    if not git.is_file():
        return git
    try:
        text = git.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None
    if not text.startswith("gitdir:"):
        return None
    gitdir = Path(text[len("gitdir:") :].strip())
    gitdir = gitdir if gitdir.is_absolute() else (git.parent / gitdir)
    common = gitdir / "commondir"
    try:
        if common.is_file():
            return (gitdir / common.read_text(encoding="utf-8").strip()).resolve()
    except OSError:
        return None
    return gitdir.resolve()


def _origin_url(config_file: Path) -> str | None:
    try:
        lines = config_file.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    in_origin = False
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("["):
            in_origin = stripped.replace("'", '"') == '[remote "origin"]'
        elif in_origin and stripped.split("=", 1)[0].strip() == "url" and "=" in stripped:
            return stripped.split("=", 1)[1].strip()
    return None


def normalize_remote(url: str) -> str:
    """``git@github.com:Owner/Repo.git`` or ``https://github.com/Owner/Repo``
    → ``github.com/owner/repo``."""
    text = url.strip()
    if "://" in text:
        text = text.split("://", 1)[1]
        text = text.split("@", 1)[-1]
        host, _, rest = text.partition("/")
        host = host.split(":", 1)[0]
    elif "@" in text and ":" in text:
        host, _, rest = text.split("@", 1)[1].partition(":")
    else:
        return text.rstrip("/").removesuffix(".git").lower()
    rest = rest.strip("/").removesuffix(".git")
    return f"{host}/{rest}".lower()
