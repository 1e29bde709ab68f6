"""EMS (DNP3 master) ↔ DMS (outstation) on loopback: the request arrives, the answer comes back;
out-of-range requests are refused; junk on the port and TLS with a foreign CA change nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from apps.dms.engine.dnp3.certs import make_test_pki
from apps.dms.engine.dnp3.dms_outstation import DmsAnswer, DmsOutstation
from apps.dms.engine.dnp3.master import MasterOptions
from apps.dms.engine.dnp3.stack import TlsFiles
from apps.ems.engine.dnp3_link import DsoRequest, EmsDnp3Master
from tests.integration.dnp3_support import ports, send_junk, until

OPTIONS = MasterOptions(
    response_timeout_s=2.0, event_poll_s=0.2, integrity_poll_s=30.0, retry_min_s=0.1, retry_max_s=1.0
)


@pytest.fixture
def link(request: pytest.FixtureRequest) -> Iterator[tuple[EmsDnp3Master, DmsOutstation, int]]:
    tls: dict[str, TlsFiles] | None = getattr(request, "param", None)
    port = ports(1)
    dms = DmsOutstation(port, tls=tls["outstation"] if tls else None)
    ems = EmsDnp3Master(OPTIONS)
    ems.add_dso("dso-1", "127.0.0.1", port, tls=tls["master"] if tls else None)
    yield ems, dms, port
    ems.close()
    dms.close()


def _round_trip(ems: EmsDnp3Master, dms: DmsOutstation, interval: int) -> None:
    assert until(lambda: ems.status("dso-1").link_up, lambda: ems.pump(0.1))
    outcome = ems.send(
        "dso-1", DsoRequest(interval, q_request_kvar=-350.0, v_set_pu=1.02, pv_curtail_kw=12.5, dr_kw=40)
    )
    assert outcome.ok, outcome.reason
    seen = dms.latest()
    assert seen is not None
    assert (seen.interval_id, seen.q_request_kvar, seen.v_set_pu, seen.pv_curtail_kw, seen.dr_kw) == (
        interval,
        -350.0,
        1.02,
        12.5,
        40.0,
    )
    dms.answer(DmsAnswer(q_achieved_kvar=-341.7, q_min_kvar=-812.3, q_max_kvar=604.9, interval_id=interval))
    status = ems.wait_for("dso-1", interval, timeout_s=20)
    assert status.interval_id == interval
    # analog inputs carry 0.1 kvar steps (scale 10)
    assert status.q_achieved_kvar == pytest.approx(-341.7, abs=0.05)
    assert (status.q_min_kvar, status.q_max_kvar) == (
        pytest.approx(-812.3, abs=0.05),
        pytest.approx(604.9, abs=0.05),
    )
    assert status.healthy and not status.fallback_active


def test_it_ems_request_reaches_the_dms_and_its_answer_comes_back(
    link: tuple[EmsDnp3Master, DmsOutstation, int],
) -> None:
    ems, dms, _ = link
    _round_trip(ems, dms, interval=101)
    # The master answers the outstation's NEED_TIME on its own schedule, not before the first request.
    assert until(dms.station.app.synced.is_set, lambda: ems.pump(0.1)), (
        "the master synchronised the outstation's clock at start-up"
    )


def test_it_dms_refuses_an_out_of_range_request_and_keeps_nothing(
    link: tuple[EmsDnp3Master, DmsOutstation, int],
) -> None:
    ems, dms, _ = link
    assert until(lambda: ems.status("dso-1").link_up, lambda: ems.pump(0.1))
    outcome = ems.send("dso-1", DsoRequest(7, q_request_kvar=100.0, v_set_pu=1.5))
    assert not outcome.ok
    assert outcome.reason == "v_set_pu: refused by the outstation: out of range"
    assert "outside 0.9 … 1.1 pu" in dms.station.commands.last_refusal
    assert dms.latest() is None


def test_it_junk_on_the_dms_port_does_not_bring_it_down(
    link: tuple[EmsDnp3Master, DmsOutstation, int],
) -> None:
    ems, dms, port = link
    assert until(lambda: ems.status("dso-1").link_up, lambda: ems.pump(0.1))
    for _ in range(3):
        send_junk(port)  # a new connection replaces the EMS's (CloseExisting) …
    _round_trip(ems, dms, interval=202)  # … and the EMS reconnects with back-off and carries on


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, TlsFiles]:
    return make_test_pki(Path(tmp_path_factory.mktemp("pki")))


@pytest.fixture(scope="module")
def foreign_pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, TlsFiles]:
    return make_test_pki(Path(tmp_path_factory.mktemp("foreign")))


def test_it_round_trip_over_tls_with_certificates(pki: dict[str, TlsFiles]) -> None:
    port = ports(1)
    dms = DmsOutstation(port, tls=pki["outstation"])
    ems = EmsDnp3Master(OPTIONS)
    ems.add_dso("dso-1", "127.0.0.1", port, tls=pki["master"])
    try:
        _round_trip(ems, dms, interval=303)
        send_junk(port)  # plain-text junk on the TLS port: handshake fails, the server stays up
        _round_trip(ems, dms, interval=304)
    finally:
        ems.close()
        dms.close()


def test_it_tls_master_with_a_foreign_certificate_is_not_let_in(
    pki: dict[str, TlsFiles], foreign_pki: dict[str, TlsFiles]
) -> None:
    port = ports(1)
    dms = DmsOutstation(port, tls=pki["outstation"])
    ems = EmsDnp3Master(OPTIONS)
    ems.add_dso("dso-1", "127.0.0.1", port, tls=foreign_pki["master"])
    try:
        outcome = ems.send("dso-1", DsoRequest(9, q_request_kvar=1.0), timeout_s=10)
        ems.pump(0.5)
        assert not outcome.ok
        assert not ems.status("dso-1").link_up
        assert dms.latest() is None
    finally:
        ems.close()
        dms.close()


def test_it_carries_the_interval_the_meter_and_an_asked_range_across_the_link(
    link: tuple[EmsDnp3Master, DmsOutstation, int],
) -> None:
    """Issue #12: the request says the cycle's interval (the DMS's budgets follow it); the DMS
    publishes its substation meter (none until it has a reading) and a range computed on the EMS's
    ask, tagged with the ask's id."""
    ems, dms, _ = link
    asks: list[int] = []
    dms.on_capability = asks.append
    assert until(lambda: ems.status("dso-1").updated_s is not None, lambda: ems.pump(0.1))
    assert ems.status("dso-1").measured_at_s is None  # no reading yet: the EMS sees none
    assert ems.send("dso-1", DsoRequest(12, q_request_kvar=50.0, v_set_pu=1.0, interval_s=600.0)).ok
    seen = dms.latest()
    assert seen is not None and seen.interval_s == 600.0

    dms.measured(6932.1, 3843.4, 1.0123, 1_796_000_000.0)
    assert until(lambda: ems.status("dso-1").measured_at_s == 1_796_000_000.0, lambda: ems.pump(0.1))
    status = ems.status("dso-1")
    assert (status.p_measured_kw, status.q_measured_kvar) == (
        pytest.approx(6932.1, abs=0.05),
        pytest.approx(3843.4, abs=0.05),
    )
    assert status.v_measured_pu == pytest.approx(1.0123, abs=5e-5)

    assert ems.ask_capability("dso-1", 77).ok and asks == [77]
    assert ems.status("dso-1").capability_interval_id is None
    dms.capability(-1234.5, 987.6, 77)
    assert until(lambda: ems.status("dso-1").capability_interval_id == 77, lambda: ems.pump(0.1))
    status = ems.status("dso-1")
    assert (status.q_min_kvar, status.q_max_kvar) == (
        pytest.approx(-1234.5, abs=0.05),
        pytest.approx(987.6, abs=0.05),
    )
    assert not ems.ask_capability("dso-1", 0).ok  # ids start at 1: refused at the interface
    assert asks == [77]
