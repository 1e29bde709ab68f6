"""The demo's EMS link: the DSO of the demo feeder at case9's bus 5, served by the DNP3 gateway
(Procfile ``dnp3``: ``run_dnp3_gateway --ems-port 20500 --dso-feeder ieee123``)."""

from __future__ import annotations

from apps.ems.actions import do_save_dso_endpoint
from apps.ems.models import DsoEndpoint

DEMO_BUS = 5
DEMO_DSO = "ieee123"
DEMO_PORT = 20500


def seed_dso_endpoints() -> bool:
    """Create the demo DSO's endpoint unless one exists at its bus (an admin's edit is kept)."""
    if DsoEndpoint.objects.filter(bus=DEMO_BUS).exists():
        return False
    do_save_dso_endpoint(None, "seed", bus=DEMO_BUS, name=DEMO_DSO, host="127.0.0.1", port=DEMO_PORT)
    return True
