"""Communication loss of IEEE 2030.5 devices (issue #14): the real 2030.5 server over TLS on
loopback notes every request; its supervisor raises a communication alarm for a registered device
that sent nothing for three poll periods and clears it at the next request; the devices behind one
aggregator all silent are one "field segment down" alarm with theirs suppressed. The supervisor is
stepped with the clock moved on, so nobody waits three poll periods."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from apps.alarms.models import Alarm
from apps.der_registry.engine.sep2.app import Sep2App
from apps.der_registry.engine.sep2.notify import Notifier
from apps.der_registry.engine.sep2.server import Sep2Server, ServerThread, client_context, server_context
from apps.der_registry.engine.sep2.simulator import SimClient, SimDevice, run_clients
from apps.der_registry.sep2_store import RegistryStore
from apps.der_registry.sep2_supervision import Sep2Supervisor
from tests.integration.test_it_sep2_server import Pki, aggregator_members
from tests.integration.test_it_sep2_server import pki as server_pki

pytestmark = pytest.mark.django_db(transaction=True)
POLL_S = 2.0
pki = server_pki  # the 2030.5 server tests' certificates (a module fixture)


@pytest.fixture
def served(pki: Pki, transactional_db: None) -> Iterator[tuple[str, Sep2App]]:
    folder = pki.ca.cert.parent
    ctx = server_context(folder / "server.crt", folder / "server.key", pki.ca.cert)
    store = RegistryStore()
    notifier = Notifier(store, client_context(folder / "server.crt", folder / "server.key", pki.ca.cert), 0.2)
    app = Sep2App(store, poll_s=int(POLL_S))
    thread = ServerThread(Sep2Server(app, workers=4, notifier=notifier), "127.0.0.1", 0, ctx).start()
    yield f"https://127.0.0.1:{thread.port}", app
    thread.stop()


def poll_once(url: str, pki: Pki, clients: list[SimClient]) -> None:
    stats = run_clients(url, pki.ca.cert, clients, duration_s=0.3, poll_s=0.1)
    assert stats.latency.errors == 0


def test_it_alarms_a_silent_2030_5_device_and_clears_it_when_it_polls_again(
    served: tuple[str, Sep2App],
    pki: Pki,
    enrolled: Callable[..., Any],
) -> None:
    url, app = served
    der = enrolled("active", name="roof-pv", lfdi=pki.device.lfdi, sfdi=pki.device.sfdi)
    device = SimClient(pki.device.cert, pki.device.key, pki.device.lfdi, pki.device.sfdi)
    poll_once(url, pki, [device])
    supervisor = Sep2Supervisor(app.contact, POLL_S)
    alarms = Alarm.objects.filter(kind="comm_failure", source_id=str(der.pk))
    supervisor.step(time.time())
    assert not alarms.exists()

    supervisor.step(time.time() + 3 * POLL_S + 1)  # three poll periods without a request
    alarm = alarms.get()
    assert alarm.cleared_at is None and alarm.suppressed_by == ""
    assert "roof-pv (IEEE 2030.5) has not polled or posted for" in alarm.message
    assert "(3 poll periods of 2 s)" in alarm.message

    poll_once(url, pki, [device])  # it polls again
    supervisor.step(time.time())
    alarm.refresh_from_db()
    assert alarm.cleared_at is not None
    # A new supervisor (a restarted server) clears what the old one left active.
    supervisor.step(time.time() + 3 * POLL_S + 1)
    Sep2Supervisor(app.contact, POLL_S).step(time.time())
    assert not alarms.filter(cleared_at__isnull=True).exists()


def test_it_makes_the_silent_devices_behind_an_aggregator_one_alarm(
    served: tuple[str, Sep2App],
    pki: Pki,
    enrolled: Callable[..., Any],
) -> None:
    url, app = served
    members = aggregator_members(enrolled, pki, "agg-s", "agg-pv", "SN-S")
    devices = tuple(SimDevice(m.lfdi, m.sfdi) for m in pki.members[:2])
    aggregator = SimClient(
        pki.aggregator.cert, pki.aggregator.key, pki.aggregator.lfdi, pki.aggregator.sfdi, devices
    )
    poll_once(url, pki, [aggregator])
    supervisor = Sep2Supervisor(app.contact, POLL_S)
    supervisor.step(time.time() + 3 * POLL_S + 1)
    active = Alarm.objects.filter(cleared_at__isnull=True)
    segment = active.get(kind="segment_down")
    assert segment.source_id == "2030.5 devices behind agg-s" and "All 2" in segment.message
    assert sorted(active.filter(kind="comm_failure").values_list("source_id", "suppressed_by")) == sorted(
        (str(m.pk), "2030.5 devices behind agg-s") for m in members
    )
    poll_once(url, pki, [aggregator])
    supervisor.step(time.time())
    assert not active.exists()
