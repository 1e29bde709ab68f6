"""The plant simulator behind the protocols (issue #13): the control room's records make its layout
(`export_plant_layout`), `run_plant` serves it, and a DNP3 master — the control room's own stack —
sees the plant's physics. A DER set to a Q reports that Q within 1 % of its rating once the plant
stepped; asked for more than its rating it reports its limit; the feeder's RTU reports the head P, Q
and V the plant recorded as its true state. Bad layouts and arguments are refused in words."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from apps.der_registry.models import DER, MonitoringSample
from apps.dms.engine.dnp3.der_maps import DER_MAPS, IEEE1815_2
from apps.dms.engine.dnp3.master import Endpoint, MasterOptions, MasterPool
from apps.dms.engine.dnp3.points import DER as DER_POINTS
from apps.dms.engine.dnp3.points import SUBSTATION_RTU
from apps.dms.models import HeadMeasurement
from apps.plant.engine.ltc import BANDWIDTH_PU
from crest_web.launcher import free_port
from tests.integration.dnp3_support import until
from tests.integration.dso_support import _end, _manage, feeder
from tests.integration.plant_support import IEEE1815_2_DER, PV, plant_layout, start_plant

pytestmark = pytest.mark.django_db(transaction=True)

MASTER = MasterOptions(response_timeout_s=3.0, event_poll_s=0.3, retry_min_s=0.1, retry_max_s=1.0)


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, int, int]:
    return plant_layout(tmp_path)


@pytest.fixture
def plant(layout: tuple[Path, int, int], tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    proc = start_plant(layout[0], tmp_path)
    yield proc
    _end(proc)


def values_of(pool: MasterPool, seen: dict[str, dict[str, float]]) -> None:
    for event in pool.drain(0.2):
        if event.kind == "values":
            seen.setdefault(event.key, {}).update(event.values)


@pytest.mark.usefixtures("plant")
def test_it_a_der_reports_the_q_it_was_set_to_and_its_limit_when_asked_for_more(
    layout: tuple[Path, int, int],
) -> None:
    _, first, _ = layout
    der = DER.objects.filter(feeder__name="plant13", dnp3_port=first).get()
    q_max = float(der.effective()["reactive_injected_kvar"].value)
    pool = MasterPool(MASTER)
    seen: dict[str, dict[str, float]] = {}
    try:
        link = pool.add("der", Endpoint("127.0.0.1", first, 10), DER_POINTS)
        assert until(lambda: "q_kvar" in seen.get("der", {}), lambda: values_of(pool, seen))
        wanted = 0.5 * q_max
        assert link.operate("q_set_kvar", wanted).result(timeout=30).ok
        near = lambda q: abs(seen["der"]["q_kvar"] - q) <= 0.01 * q_max  # noqa: E731
        assert until(lambda: near(wanted), lambda: values_of(pool, seen)), seen["der"]
        assert seen["der"]["q_set_kvar"] == pytest.approx(wanted, abs=1e-3)

        assert link.operate("q_set_kvar", 10 * q_max).result(timeout=30).ok  # clamped, not refused
        assert until(lambda: near(q_max), lambda: values_of(pool, seen)), seen["der"]
        assert seen["der"]["q_set_kvar"] == pytest.approx(q_max, abs=1e-3)  # the limit in force
    finally:
        pool.close()


@pytest.mark.usefixtures("plant")
def test_it_a_der_on_the_ieee1815_2_map_reports_in_its_indices_and_takes_q_only_once_its_mode_is_enabled(
    layout: tuple[Path, int, int],
) -> None:
    """IEEE 1815.2 separates a mode's value from its enable (docs/protocols/dnp3-dms-der.md): the
    plant's device holds a written var target without acting on it until the mode is latched on,
    and reports W, var, its line-to-line voltage over its reference and its operating state bits."""
    _, first, _ = layout
    port = first + IEEE1815_2_DER
    der = DER.objects.get(dnp3_port=port)
    q_max = float(der.effective()["reactive_injected_kvar"].value)
    pool = MasterPool(MASTER)
    seen: dict[str, dict[str, float]] = {}
    try:
        bare = pool.add("bare", Endpoint("127.0.0.1", port, 10), IEEE1815_2)  # writes values, no enables
        assert until(lambda: "v_ll_v" in seen.get("bare", {}), lambda: values_of(pool, seen))
        now = seen["bare"]
        assert 0.9 <= now["v_ll_v"] / now["v_ref_v"] <= 1.1, now
        assert now["connected"] and now["connected_generating"] and not now["off_available"], now
        assert now["p_kw"] > 0 and abs(now["q_kvar"]) <= 0.01 * q_max, now

        wanted = 0.5 * q_max
        assert bare.operate("q_set_kvar", wanted).result(timeout=30).ok
        assert until(lambda: seen["bare"].get("q_set_kvar") == pytest.approx(wanted, abs=1e-3),
                     lambda: values_of(pool, seen))  # fmt: skip
        for _ in range(3):  # three more poll rounds: the value alone changes nothing
            values_of(pool, seen)
        assert not seen["bare"]["q_set_enabled"] and abs(seen["bare"]["q_kvar"]) <= 0.01 * q_max

        pool.remove("bare")
        mesa = pool.add("mesa", Endpoint("127.0.0.1", port, 10), DER_MAPS["ieee1815_2"])  # value, then enable
        assert until(lambda: "q_kvar" in seen.get("mesa", {}), lambda: values_of(pool, seen))
        assert mesa.operate("q_set_kvar", wanted).result(timeout=30).ok
        near = lambda q: abs(seen["mesa"]["q_kvar"] - q) <= 0.01 * q_max  # noqa: E731
        assert until(lambda: near(wanted), lambda: values_of(pool, seen))
        assert seen["mesa"]["q_set_enabled"]
    finally:
        pool.close()


@pytest.mark.usefixtures("plant")
def test_it_the_rtu_reports_the_head_the_plant_recorded(
    layout: tuple[Path, int, int], tmp_path: Path
) -> None:
    _, _, rtu_port = layout
    pool = MasterPool(MASTER)
    seen: dict[str, dict[str, float]] = {}
    try:
        pool.add("rtu", Endpoint("127.0.0.1", rtu_port, 10), SUBSTATION_RTU)
        assert until(
            lambda: {"p_kw", "q_kvar", "v_pu"} <= set(seen.get("rtu", {})), lambda: values_of(pool, seen)
        )
        read = dict(seen["rtu"])
        link = pool.links["rtu"]
        assert not link.operate("tap", 3).result(timeout=10).ok  # not an output: nobody moves a tap
        refused = link.operate("v_set_pu", 1.3).result(timeout=10)
        assert refused.answered and not refused.ok  # outside 0.9–1.1 pu: the controller keeps its own
        time.sleep(1.5)  # a step or so: the set point in force is still the one it started with
        values_of(pool, seen)
        assert seen["rtu"]["v_set_pu"] == pytest.approx(read["v_set_pu"], abs=1e-4)
    finally:
        pool.close()
    records = [
        json.loads(line)["feeders"]["plant13"] for line in (tmp_path / "truth.jsonl").read_text().splitlines()
    ]
    assert any(
        abs(r["p_kw"] - read["p_kw"]) <= 0.1
        and abs(r["q_kvar"] - read["q_kvar"]) <= 0.1
        and abs(r["v_pu"] - read["v_pu"]) <= 1e-4
        for r in records
    ), (read, records[-3:])  # the RTU's reading is one of the plant's true states, to its resolution
    assert read["breaker_closed"] == 1.0 and records[-1]["converged"]


@pytest.mark.usefixtures("plant")
def test_it_the_substation_tap_changer_holds_the_voltage_set_point_written_to_the_rtu(
    layout: tuple[Path, int, int],
) -> None:
    """The EMS's voltage set point reaches the substation through the RTU (AO 0): the tap changer's
    controller steps the taps until the bus is inside its ±1 V band (on 120 V) around it."""
    pool = MasterPool(MASTER)
    seen: dict[str, dict[str, float]] = {}
    try:
        link = pool.add("rtu", Endpoint("127.0.0.1", layout[2], 10), SUBSTATION_RTU)
        assert until(lambda: {"v_pu", "tap"} <= set(seen.get("rtu", {})), lambda: values_of(pool, seen))
        before = dict(seen["rtu"])
        wanted = round(before["v_pu"] + 0.03, 4)  # about five steps of 5/8 %
        assert link.operate("v_set_pu", wanted).result(timeout=10).ok
        in_band = lambda: abs(seen["rtu"]["v_pu"] - wanted) <= BANDWIDTH_PU / 2  # noqa: E731
        assert until(in_band, lambda: values_of(pool, seen), limit_s=30), (before, seen["rtu"])
        assert seen["rtu"]["v_set_pu"] == pytest.approx(wanted, abs=1e-4)
        assert seen["rtu"]["tap"] - before["tap"] >= 4  # raised, a step at a time
    finally:
        pool.close()


def test_it_refuses_a_layout_it_cannot_simulate_in_words(
    layout: tuple[Path, int, int], tmp_path: Path
) -> None:
    doc: dict[str, Any] = json.loads(layout[0].read_text())
    cases = {
        "bad bus": (
            {**doc, "ders": [{**doc["ders"][0], "bus": "nowhere"}]},
            "feeder plant13 has no bus 'nowhere'",
        ),
        "negative rating": (
            {**doc, "ders": [{**doc["ders"][0], "s_max_kva": -5}]},
            "'s_max_kva' must be a number of at least 0, not -5",
        ),
        "rtu on a der": (
            {**doc, "feeders": [{**doc["feeders"][0], "rtu": doc["ders"][0]["dnp3"]}]},
            r"DER .* and the RTU of plant13 share the DNP3 port and address",
        ),
        "unknown feeder": (
            {**doc, "ders": [{**doc["ders"][0], "feeder": "elsewhere"}]},
            "no feeder named 'elsewhere'",
        ),
        "unknown tier": (
            {**doc, "ders": [{**doc["ders"][0], "tier": "satellite"}]},
            "a tier is one of lan, wan, fan, nan, for a DER reached over DNP3 or 2030.5",
        ),
        "tier on an unreachable der": (
            {**doc, "ders": [{k: v for k, v in doc["ders"][0].items() if k != "dnp3"} | {"tier": "lan"}]},
            "a tier is one of .*, for a DER reached over DNP3 or 2030.5",
        ),
        "not json": (None, "is not a JSON layout"),
    }
    for name, (bad, words) in cases.items():
        path = tmp_path / f"{name}.json"
        path.write_text("{nope" if bad is None else json.dumps(bad))
        with pytest.raises(CommandError, match=words):
            call_command("run_plant", "--layout", str(path), stdout=io.StringIO())
    with pytest.raises(CommandError, match="--step is a number of simulated seconds"):
        call_command("run_plant", "--layout", str(layout[0]), "--step", "-1", stdout=io.StringIO())


def test_it_export_refuses_an_unknown_feeder_and_a_tie_to_one_not_exported(tmp_path: Path) -> None:
    feeder("plant13", 0)
    out = tmp_path / "layout.json"
    with pytest.raises(CommandError, match="There is no feeder named nowhere"):
        call_command("export_plant_layout", "--out", str(out), "--feeder", "nowhere", stdout=io.StringIO())
    with pytest.raises(CommandError, match="other is not one of the exported feeders"):
        call_command("export_plant_layout", "--out", str(out), "--tie", "other:5", stdout=io.StringIO())
    with pytest.raises(CommandError, match="other is not one of the exported feeders"):
        call_command(
            "export_plant_layout", "--out", str(out), "--rtu-port", "other:20700", stdout=io.StringIO()
        )
    for pin in ("plant13", "plant13:80", "plant13:port"):
        with pytest.raises(CommandError, match="--rtu-port"):
            call_command("export_plant_layout", "--out", str(out), "--rtu-port", pin, stdout=io.StringIO())
    assert not out.exists()


@pytest.mark.usefixtures("plant")
def test_it_the_gateway_records_the_rtus_head_reading_and_the_ders_telemetry(
    layout: tuple[Path, int, int], tmp_path: Path
) -> None:
    _, _, rtu_port = layout
    gateway = _manage(
        "run_dnp3_gateway", "--feeder", "plant13", "--rtu", f"plant13=127.0.0.1:{rtu_port}:10",
        "--poll", "0.5", "--record-every", "0.5",
    )  # fmt: skip
    try:
        assert until(lambda: HeadMeasurement.objects.filter(feeder__name="plant13", source="rtu").exists())
        # Past the samples the fixture recorded: every DER reported over DNP3 at least once.
        assert until(lambda: MonitoringSample.objects.filter(der__feeder__name="plant13").count() >= 2 * PV)
    finally:
        _end(gateway)
    head = HeadMeasurement.objects.filter(feeder__name="plant13", source="rtu").latest("measured_at")
    records = [
        json.loads(x)["feeders"]["plant13"] for x in (tmp_path / "truth.jsonl").read_text().splitlines()
    ]
    assert any(abs(r["p_kw"] - head.p_kw) <= 0.1 and abs(r["q_kvar"] - head.q_kvar) <= 0.1 for r in records)
    # Each DER's telemetry is the plant's: the P its bus got at some step, to the point's resolution.
    for der in DER.objects.filter(feeder__name="plant13"):
        reported = MonitoringSample.objects.filter(der=der).latest("t")
        truths = [r["ders"][der.name][0] for r in records]
        assert any(abs(p - float(reported.p_kw)) <= 1e-3 for p in truths), (der.name, reported.p_kw)
        assert reported.v_pu is not None and 0.9 <= float(reported.v_pu) <= 1.1, (
            der.name
        )  # 1815.2: V_LL / V_ref


def test_it_the_gateway_refuses_a_bad_rtu_setting_in_words() -> None:
    feeder("plant13", 0)
    with pytest.raises(CommandError, match="write FEEDER=HOST:PORT"):
        call_command("run_dnp3_gateway", "--rtu", "plant13:20700", stdout=io.StringIO())
    with pytest.raises(CommandError, match="there is no feeder named 'elsewhere'"):
        call_command("run_dnp3_gateway", "--rtu", "elsewhere=127.0.0.1:20700", stdout=io.StringIO())
    assert not HeadMeasurement.objects.exists()


def test_it_export_puts_every_der_behind_the_one_tier_asked_for(tmp_path: Path) -> None:
    layout_path, _, _ = plant_layout(tmp_path, "--tiers", "wan")  # as `make demo` exports it
    ders = json.loads(layout_path.read_text())["ders"]
    assert len(ders) == PV and all(d["tier"] == "wan" for d in ders)


def test_it_a_lost_segment_silences_only_the_ders_behind_its_tier(tmp_path: Path) -> None:
    layout_path, first, _ = plant_layout(tmp_path, "--tiers", "mixed")  # by port: LAN, WAN, FAN, NAN, LAN, …
    control = free_port()
    proc = start_plant(layout_path, tmp_path, "--control-port", str(control))
    pool = MasterPool(MASTER)
    try:
        lan, wan = (
            pool.add(k, Endpoint("127.0.0.1", first + i, 10), DER_POINTS)
            for i, k in enumerate(("lan", "wan"))
        )
        seen: dict[str, dict[str, float]] = {}
        assert until(lambda: {"lan", "wan"} <= set(seen), lambda: values_of(pool, seen))
        lost = {"id": 1, "kind": "segment_lost", "tier": "lan", "duration_s": 120}
        assert instructor(control, "/scenarios", lost) == 201
        time.sleep(2.0)  # the plant holds it from its next step (one a second here)
        assert not lan.operate("q_set_kvar", 1.0).result(timeout=30).ok  # silence: no confirmation
        assert wan.operate("q_set_kvar", 1.0).result(timeout=30).ok  # the WAN segment still answers
        assert instructor(control, "/scenarios/1/end", {}) == 200
        assert until(lambda: lan.operate("q_set_kvar", 1.0).result(timeout=30).ok, limit_s=30)
        bad = {"id": 2, "kind": "segment_lost", "tier": "satellite", "duration_s": 60}
        assert instructor(control, "/scenarios", bad) == 400
        assert instructor(control, "/scenarios", {"kind": "cloud", "duration_s": 60}) == 400  # no id
        assert instructor(control, "/scenarios", {**lost, "id": 1}) == 400  # its id is taken
        assert instructor(control, "/nowhere", {}) == 404
        with socket.create_connection(("127.0.0.1", control), timeout=5) as raw:  # junk, then a lie
            raw.sendall(b"POST /scenarios HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n{")
            assert b" 413 " in raw.recv(200)
    finally:
        pool.close()
        _end(proc)


def instructor(port: int, path: str, doc: dict[str, Any]) -> int:
    """POST to the plant's instructor API (no token configured here); the HTTP status."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=json.dumps(doc).encode(), method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
