from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from apps.der_registry.engine.ieee1547 import DERRecord, Ratings
from apps.der_registry.engine.sep2_identity import sfdi_from_lfdi

ROOT = Path(__file__).resolve().parent.parent
# The public test feeders the suite reads (IEEE 13 and 123 bus, EPRI ckt5), kept in the repository so a
# fresh clone tests on its own.
FEEDERS = ROOT / "tests" / "data" / "feeders"
LFDI = "3E4F45AB31EDFE5B67E343E5E4562E31984E23E5"  # IEEE 2030.5 worked example
# A feeder file with DERs in it: one three-phase bus with a load, a 1-phase PV system at 80 % irradiance,
# a 3-phase generator at 0.95 pf and a 1-phase battery discharging at half its rating (OpenDSS `kW` of a
# Storage is its present output, `kWrated` its rating).
FILE_DERS_DSS = """clear
new circuit.small basekv=12.47 bus1=src pu=1.0
new line.a bus1=src bus2=b1 phases=3 r1=0.1 x1=0.3 r0=0.3 x0=0.9 length=1 units=km
new load.l1 bus1=b1 phases=3 kv=12.47 kw=300 kvar=100
new pvsystem.pv1 bus1=b1.1 phases=1 kv=7.2 kva=60 pmpp=50 irradiance=0.8 pf=1
new generator.g1 bus1=b1 phases=3 kv=12.47 kw=200 kva=250 pf=0.95
new storage.bess bus1=b1.2 phases=1 kv=7.2 kwrated=30 kva=40 kwhrated=100 %stored=50 state=discharging
~ %discharge=50
set voltagebases=[12.47]
calcv
"""


def manage_without_database(*args: str) -> Any:
    """Run `manage.py ARGS` in a subprocess with neither DATABASE_URL nor REDIS_URL set, as a user
    of the commands that need no database runs them (DESIGN §7)."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def make_record(**changes: Any) -> DERRecord:
    """A valid 2030.5 PV inverter on IEEE 13 bus 675, phase 1; override any field."""
    nameplate = Ratings(
        active_power_kw=10.0,
        apparent_power_kva=11.0,
        reactive_injected_kvar=4.84,
        reactive_absorbed_kvar=4.84,
        v_nominal_v=240.0,
        v_min_v=211.2,
        v_max_v=264.0,
    )
    rec = DERRecord(
        name="pv-675-a",
        serial_number="SN-0001",
        nameplate=nameplate,
        feeder="ieee13",
        bus="675",
        phases=(1,),
        lfdi=LFDI,
        sfdi=sfdi_from_lfdi(LFDI),
        supported_modes=("active_reactive", "volt_var"),
        manufacturer="Invertix",
        model="IX-10",
    )
    return replace(rec, **changes)


def dnp3(address: int, host: str = "10.0.0.9", **changes: Any) -> dict[str, Any]:
    """Record fields of a utility DER on a DNP3 channel (no 2030.5 identity), for make_record."""
    return {
        "comm_path": "dnp3_direct",
        "lfdi": "",
        "sfdi": None,
        "dnp3_host": host,
        "dnp3_port": 20000,
        "dnp3_outstation_address": address,
        "dnp3_master_address": 1,
        **changes,
    }


@pytest.fixture
def record() -> Callable[..., DERRecord]:
    return make_record


def _user(username: str, role: str | None) -> User:
    user = User.objects.create_user(username, password=f"{username}-Password-123")
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def operator(db: None) -> User:
    return _user("op1", "operator")


@pytest.fixture
def planner(db: None) -> User:
    return _user("plan1", "planner")


@pytest.fixture
def admin_user(db: None) -> User:
    return _user("adm1", "admin")


@pytest.fixture
def outsider(db: None) -> User:
    return _user("nobody", None)


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def admin_client(admin_user: User) -> Client:
    return client_for(admin_user)


@pytest.fixture
def operator_client(operator: User) -> Client:
    return client_for(operator)


@pytest.fixture
def ieee13(db: None) -> Any:
    """The IEEE 13-node feeder as the demo ships it (converted by our importer)."""
    from apps.dms.actions import do_add_feeder_version
    from apps.dms.engine.network import Network

    text = (ROOT / "apps" / "dms" / "fixtures" / "ieee13.json").read_text()
    net = Network.from_dict(json.loads(text))
    return do_add_feeder_version(None, "system", net, source_name="ieee13.json", source_text=text).feeder


@pytest.fixture
def enrolled(ieee13: Any) -> Callable[..., Any]:
    """Enroll a DER through the action, optionally moving it to a lifecycle state."""
    from apps.der_registry import actions

    def make(status: str = "pending", **changes: Any) -> Any:
        der = actions.do_enroll_der(None, "system", make_record(**changes))
        path = {
            "approved": ["approved"],
            "active": ["approved", "active"],
            "suspended": ["approved", "active", "suspended"],
        }.get(status, [])
        for target in path:
            der = actions.do_transition_der(None, "system", der.pk, target, "test set-up")
        return der

    return make


def as_json(response: Any) -> Any:
    return json.loads(response.content)


@pytest.fixture(autouse=True)
def _forget_failed_logins() -> None:
    """Sign-in lock-outs live in Redis, which outlives each test's database transaction."""
    import os

    import redis

    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    keys = client.keys("*login-failures*")
    if keys:
        client.delete(*keys)


@pytest.fixture(scope="session", autouse=True)
def _end_stray_sessions(django_db_setup: None, django_db_blocker: Any) -> Any:
    """Threads of the live server and of Channels keep database sessions open; end them so the
    test database can be dropped cleanly at the end of the run."""
    yield
    from django.db import connection

    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


# Files that mostly wait on wall-clock interval boundaries: started first, so their waits overlap
# the rest of the suite on the other workers instead of trailing at the end (`make test`, -n 4; it
# passes --no-loadscope-reorder, or xdist would start the files with the most tests first).
WAITING_FIRST = ("test_it_plant_loop.py", "test_it_cycle_run.py", "test_it_dispatch_approval.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.path.as_posix()
        return 0 if "/tests/faults/" in path else 1 if item.path.name in WAITING_FIRST else 2

    items.sort(key=rank)  # stable: within a rank, the order pytest collected them in
