"""The demo's EMS link: the DSO of the demo feeder at case9's bus 5, served by the DNP3 gateway
(Procfile ``dnp3``: ``run_dnp3_gateway --ems-port 20500 --dso-feeder ieee123``) — one ieee123 feeder,
so its interface is registered with one feeder and that feeder's own base demand, and a fresh demo's
OPF form starts from them instead of seed 004's 22 feeders (issue #11 item 3)."""

from __future__ import annotations

from apps.ems.actions import do_save_dso_endpoint
from apps.ems.models import DsoEndpoint

DEMO_BUS = 5
DEMO_DSO = "ieee123"
DEMO_PORT = 20500
DEMO_FEEDERS = 1  # the Procfile's --dso-feeder names no :COUNT
# What the DSO tells the EMS when it registers: the feeder's substation demand with its DERs idle
# (OpenDSS on apps/dms/fixtures/ieee123.json; tests/integration/test_it_ems_demo.py re-solves it).
DEMO_P_BASE_KW = 3615.3
DEMO_Q_BASE_KVAR = 1311.5


def seed_dso_endpoints() -> bool:
    """Register the demo DSO's interface unless one exists at its bus (an admin's edit is kept); an
    interface registered before it had a base demand gets the demo feeder's."""
    known = DsoEndpoint.objects.filter(bus=DEMO_BUS).first()
    if known is not None and known.q_base_kvar is not None:
        return False
    name, host, port = DEMO_DSO, "127.0.0.1", DEMO_PORT
    address, tls, count = 10, False, DEMO_FEEDERS
    if known is not None:
        name, host, port = known.name, known.host, known.port
        address, tls, count = known.address, known.tls, known.feeder_count
    do_save_dso_endpoint(
        None, "seed", bus=DEMO_BUS, name=name, host=host, port=port, address=address, tls=tls,
        feeder_count=count, p_base_kw=DEMO_P_BASE_KW, q_base_kvar=DEMO_Q_BASE_KVAR,
    )  # fmt: skip
    return True
