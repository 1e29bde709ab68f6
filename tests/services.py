"""Pytest plugin (loaded with -p before pytest-django reads settings): real PostgreSQL and Redis.

Embedded servers start in a temporary directory unless DATABASE_URL / REDIS_URL point at
external ones; they are stopped and deleted when the session ends.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

_services = contextlib.ExitStack()


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(
    early_config: pytest.Config, parser: pytest.Parser, args: list[str]
) -> None:
    os.environ.setdefault("CREST_ENV", "test")
    os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-" + "k" * 30)
    _find_the_2018_schema()
    from crest_web.launcher import services

    data_dir = Path(tempfile.mkdtemp(prefix="crest-test-"))
    _services.callback(shutil.rmtree, data_dir, ignore_errors=True)  # runs after the servers stop
    _services.enter_context(services(data_dir, ephemeral=True))
    _own_redis_database_per_xdist_worker()
    # Also when start-up fails before pytest_unconfigure would run.
    atexit.register(_services.close)


SCHEMA_2018 = Path("shared") / "ieee2030_5" / "sep-2023.xsd"


def _find_the_2018_schema() -> None:
    """IEEE's 2030.5-2018/2023 schema may not be redistributed, so it is not in the repository; the
    settings find the copy beside it (../shared). A clone made elsewhere for a clean run finds the copy
    beside the repository it was cloned from. Without one the 2018 tests fail and say so."""
    if os.environ.get("CREST_SEP2_SCHEMA_2018"):
        return
    root = Path(__file__).resolve().parent.parent
    places = [root.parent / SCHEMA_2018]
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        command = ["git", "-C", str(root), "remote", "get-url", "origin"]
        origin = subprocess.run(command, capture_output=True, text=True, timeout=10).stdout.strip()
        if origin and Path(origin).is_dir():
            places.append(Path(origin).resolve().parent / SCHEMA_2018)
    found = next((p for p in places if p.is_file()), None)
    if found is not None:
        os.environ["CREST_SEP2_SCHEMA_2018"] = str(found)


def _own_redis_database_per_xdist_worker() -> None:
    """Under pytest-xdist the workers inherit the controller's servers. PostgreSQL is already
    separate (pytest-django names a test database per worker); Redis carries Celery's queue, the
    channel layer, the cache and the sign-in counters, so each worker takes its own database
    number, and its Celery workers never take another pytest worker's tasks."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw"):
        return
    base, _, _db = os.environ["REDIS_URL"].rpartition("/")
    os.environ["REDIS_URL"] = f"{base}/{1 + int(worker[2:]) % 15}"


def pytest_unconfigure(config: pytest.Config) -> None:
    _services.close()
