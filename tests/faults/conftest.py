"""Fault tests: real processes (workers, gateways, field devices) stopped, killed and restarted."""

from __future__ import annotations

from tests.integration.conftest import worker
from tests.integration.dso_support import field_sim, gateways

__all__ = ["field_sim", "gateways", "worker"]
