"""A real Celery worker for the tests that need one (started against the test database)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from django.db import connection

from crest_web.env import database_url_with_name
from tests.integration.dso_support import field_sim, gateways

__all__ = ["field_sim", "gateways"]  # the DSO on loopback, for every integration test

ROOT = Path(__file__).resolve().parents[2]


def start(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        **(env or {}),
        # The worker must see the test database the tests write to, not the default one.
        "DATABASE_URL": database_url_with_name(os.environ["DATABASE_URL"], connection.settings_dict["NAME"]),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "--app", "crest_web", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def empty_broker() -> None:
    """Forget every queued and unacknowledged task in this test process's Redis database. A task
    that a killed worker left behind is handed out again after the visibility timeout, to whichever
    worker is then listening: without this, a later test's worker would run an earlier test's cycle
    against a database that has moved on."""
    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture
def worker() -> Iterator[subprocess.Popen[bytes]]:
    empty_broker()
    proc = start("worker", "--pool", "solo", "--hostname", "test-worker@%h", "--loglevel", "WARNING")
    yield proc
    stop(proc)
