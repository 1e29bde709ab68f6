"""Pytest plugin (loaded with -p before pytest-django reads settings): real PostgreSQL and Redis.

Embedded servers start in a temporary directory unless DATABASE_URL / REDIS_URL point at
external ones; they are stopped and deleted when the session ends.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
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
    from crest_web.launcher import services

    data_dir = Path(tempfile.mkdtemp(prefix="crest-test-"))
    _services.callback(shutil.rmtree, data_dir, ignore_errors=True)  # runs after the servers stop
    _services.enter_context(services(data_dir, ephemeral=True))
    _own_redis_database_per_xdist_worker()
    # Also when start-up fails before pytest_unconfigure would run.
    atexit.register(_services.close)


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
