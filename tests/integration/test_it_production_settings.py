"""Production settings: secure cookies, HSTS, HTTPS redirect, and no start without a real key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_check(**env: str) -> subprocess.CompletedProcess[str]:
    inherited = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    full = {**inherited, "CREST_ENV": "production", "DJANGO_ALLOWED_HOSTS": "crest.example", **env}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_it_passes_djangos_deployment_checklist_in_production() -> None:
    result = run_check(DJANGO_SECRET_KEY="p" * 60 + "Q1!x")
    assert result.returncode == 0, result.stdout + result.stderr


def test_it_refuses_to_start_in_production_without_a_secret_key() -> None:
    result = run_check(DJANGO_SECRET_KEY="")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set in production" in result.stderr


def test_it_rejects_a_malformed_boolean_setting() -> None:
    result = run_check(DJANGO_SECRET_KEY="p" * 60, DJANGO_DEBUG="yes please")
    assert "DJANGO_DEBUG must be True or False" in result.stderr
