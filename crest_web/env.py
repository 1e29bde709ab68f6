"""Strict parsing of environment settings: a typo fails loudly instead of silently defaulting."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


class ConfigError(RuntimeError):
    """A setting in the environment is missing or malformed."""


_SERVICE_HINTS = {
    "DATABASE_URL": "Run `make demo` (which starts an embedded PostgreSQL) "
    "or export DATABASE_URL=postgresql://user:password@host:5432/crest",
    "REDIS_URL": "Run `make demo` (which starts an embedded Redis) or export REDIS_URL=redis://127.0.0.1:6379/0",
}


def missing_service_message(name: str) -> str:
    """The sentence for a service URL (DATABASE_URL, REDIS_URL) that is not set, and how to set it."""
    return f"{name} is not set. {_SERVICE_HINTS[name]}"


def running_manage_py() -> bool:
    """True in a `manage.py` process, whose commands may need no services at all (DESIGN §7)."""
    return Path(sys.argv[0]).name == "manage.py"


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    if raw in ("True", "true", "1"):
        return True
    if raw in ("False", "false", "0"):
        return False
    raise ConfigError(f"{name} must be True or False, not {raw!r}")


def _env_number(name: str, default: float, ok: Callable[[float], bool], wanted: str) -> float:
    """A number from the environment that `ok` accepts; ConfigError naming the variable otherwise."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not ok(value):
        raise ConfigError(f"{name} must be {wanted}, not {raw!r}")
    return value


def env_seconds(name: str, default: float) -> float:
    """A positive number of seconds from the environment; ConfigError naming the variable otherwise."""
    return _env_number(name, default, lambda v: 0 < v < float("inf"), "a positive number of seconds")


def env_days(name: str, default: int) -> int:
    """A whole number of days, at least one, from the environment; ConfigError naming it otherwise."""
    return int(
        _env_number(
            name,
            default,
            lambda v: 1 <= v < float("inf") and v == int(v),
            "a whole number of days, 1 or more",
        )
    )


def env_share(name: str, default: float) -> float:
    """A share strictly between 0 and 1 from the environment; ConfigError naming the variable otherwise."""
    return _env_number(name, default, lambda v: 0 < v < 1, "a share between 0 and 1 (e.g. 0.1 for 10 %)")


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def parse_database_url(url: str) -> dict[str, Any]:
    """Turn postgresql://user:pass@host:port/db?host=/socket/dir into Django's DATABASES entry.

    A `host` query parameter names a Unix-socket directory, as libpq accepts it.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ConfigError(f"DATABASE_URL must start with postgresql://, not {parts.scheme!r}://")
    name = unquote(parts.path.lstrip("/"))
    if not name:
        raise ConfigError("DATABASE_URL names no database (postgresql://…/<name>)")
    query = parse_qs(parts.query)
    host = query.get("host", [parts.hostname or ""])[0]
    options = {key: values[0] for key, values in query.items() if key != "host"}
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": host,
        "PORT": str(parts.port or ""),
        "OPTIONS": options,
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
    }


def database_url_with_name(url: str, name: str) -> str:
    """The same server URL pointing at another database (used for the test database)."""
    parts = urlsplit(url)
    return parts._replace(path="/" + name).geturl()
