"""Fault tests: real processes (workers, gateways, field devices) stopped, killed and restarted."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.conftest import empty_broker, worker
from tests.integration.dso_support import field_sim, gateways

__all__ = ["field_sim", "gateways", "worker"]


@pytest.fixture(autouse=True)
def _empty_broker() -> Iterator[None]:
    """Each fault test starts with no tasks queued and leaves none behind for the next test."""
    empty_broker()
    yield
    empty_broker()
