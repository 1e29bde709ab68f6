"""The closed loop on the plant simulator (issue #13 acceptance), at a 20 s interval: the EMS half
(`run_cycle`), the DMS gateway reading the feeder's RTU and dispatching on a real worker, and
`run_plant` behind both — its DER outstations, its RTU, and the EMS–DMS link relayed through it.
The EMS's voltage set point reaches the substation's tap changer through the RTU. A cloud passage
started by a trainer takes the feeder's PV: the next cycle solves at an operating point that draws
more, as measured, and the range the DMS reports moves the way dark arrays move it. Then the link is
lost for a while: both sides fall back, and when the scenario ends the next cycle runs normally and
the alarms clear by themselves."""

from __future__ import annotations

import io
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import override_settings

from apps.alarms.models import Alarm
from apps.cycle.engine.schedule import seconds_to_next
from apps.cycle.models import Cycle
from apps.dms.models import Feeder, HeadMeasurement
from apps.ems.actions import do_save_dso_endpoint
from apps.ems.models import OpfRun
from apps.plant.engine.ltc import BANDWIDTH_PU
from apps.training.actions import do_start_scenario
from celery_tasks.training import deliver
from crest_web.launcher import free_port
from tests.integration.dnp3_support import until
from tests.integration.dso_support import _end, _manage, present
from tests.integration.plant_support import plant_layout, start_plant

pytestmark = pytest.mark.django_db(transaction=True)
INTERVAL_S = 20.0
TOKEN = "loop-token"


@pytest.fixture
def loop(tmp_path: Path, worker: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The plant, the DMS gateway behind its relayed link; the plant's instructor URL."""
    layout, _, rtu_port = plant_layout(tmp_path)
    dials, serves, control = free_port(), free_port(), free_port()
    p_kw, q_kvar = present(Feeder.objects.get(name="plant13"))
    do_save_dso_endpoint(
        None, "test", bus=5, name="plant13", host="127.0.0.1", port=dials, p_base_kw=p_kw, q_base_kvar=q_kvar
    )
    monkeypatch.setenv("CREST_PLANT_TOKEN", TOKEN)
    plant = start_plant(
        layout, tmp_path, "--link", f"plant13={dials}:{serves}", "--control-port", str(control)
    )
    gateway: subprocess.Popen[str] = _manage(
        "run_dnp3_gateway", "--ems-port", str(serves), "--dso-feeder", "plant13", "--feeder", "plant13",
        "--interval", str(INTERVAL_S), "--poll", "0.5", "--record-every", "0.5",
        "--rtu", f"plant13=127.0.0.1:{rtu_port}:10",
    )  # fmt: skip
    yield f"http://127.0.0.1:{control}"
    for proc in (gateway, plant):
        _end(proc)


def next_cycle() -> dict[str, Any]:
    time.sleep(seconds_to_next(time.time(), INTERVAL_S) + 0.2)
    out = io.StringIO()
    call_command("run_cycle", "--interval", str(INTERVAL_S), "--json", stdout=out)
    doc: dict[str, Any] = json.loads(out.getvalue())
    return doc


def operating_p_kw(doc: dict[str, Any]) -> float:
    used = next(d for d in OpfRun.objects.get(cycle_id=doc["id"]).inputs["dsos"] if d["bus"] == 5)
    return float(used["p_kw"])


def reported_range(doc: dict[str, Any]) -> tuple[float, float]:
    message = OpfRun.objects.get(cycle_id=doc["id"]).messages.get(bus=5)
    assert message.q_min_next_kvar is not None and message.q_max_next_kvar is not None
    return message.q_min_next_kvar, message.q_max_next_kvar


def newest_head() -> HeadMeasurement:
    return HeadMeasurement.objects.filter(feeder__name="plant13", source="rtu").latest("measured_at")


def scenario(url: str, **doc: Any) -> int:
    with override_settings(CREST_PLANT_URL=url, CREST_PLANT_TOKEN=TOKEN):
        started = do_start_scenario(None, "cli", doc)
        assert deliver(started.pk) == "taken"
    return started.pk


def active(kind: str, source_id: str) -> bool:
    return Alarm.objects.filter(kind=kind, source_id=source_id, cleared_at__isnull=True).exists()


def test_it_a_cloud_passage_moves_the_next_cycles_operating_point_and_a_lost_link_falls_back_and_recovers(
    loop: str,
) -> None:
    assert until(lambda: HeadMeasurement.objects.filter(feeder__name="plant13", source="rtu").exists())
    first = next_cycle()  # the first after start-up asks the DMS for its capability first
    sunny = next_cycle()  # the range it reports with its answer from now on
    assert first["status"] == sunny["status"] == "done" and "1 metered" in sunny["stages"][0]["detail"]
    p_sunny = operating_p_kw(sunny)
    # The EMS's voltage set point went with the request; the DMS wrote it to the RTU, and the
    # substation's tap changer holds the bus inside its band around it.
    v_sent = OpfRun.objects.get(cycle_id=sunny["id"]).messages.get(bus=5).v_pu
    assert until(lambda: abs(newest_head().v_pu - v_sent) <= BANDWIDTH_PU / 2), (v_sent, newest_head().v_pu)

    scenario(loop, kind="cloud", feeders=["plant13"], factor=0.1, duration_s=600)
    assert until(lambda: newest_head().p_kw > p_sunny + 20.0)  # six ~10 kW arrays, 90 % of the sun gone
    cloudy = next_cycle()
    assert cloudy["status"] == "done"
    assert operating_p_kw(cloudy) > p_sunny + 20.0  # the OPF solved at what the RTU measured
    # The DMS reports its range anew for the clouded feeder (changes from the new operating point, so
    # the point itself is inside it); the PV it lost moved it.
    (low_sunny, high_sunny), (low_cloudy, high_cloudy) = reported_range(sunny), reported_range(cloudy)
    assert low_cloudy <= 0.0 <= high_cloudy
    # Expected direction: with their arrays dark the inverters have kVA free and the feeder sits
    # lower in voltage, so it can inject more; it can absorb less before its far end sags.
    assert high_cloudy > high_sunny and low_cloudy > low_sunny, (
        low_sunny,
        high_sunny,
        low_cloudy,
        high_cloudy,
    )
    assert not Cycle.objects.get(pk=cloudy["id"]).ems_fallback

    scenario(loop, kind="link_lost", link="plant13", duration_s=2.5 * INTERVAL_S)
    link_back_s = time.time() + 2.5 * INTERVAL_S
    lost = next_cycle()
    assert active("ems_link_down", "5"), [(s["stage"], s["outcome"], s["detail"]) for s in lost["stages"]]
    assert until(lambda: active("fallback", "plant13"), limit_s=2 * INTERVAL_S)  # the DMS heard nothing
    time.sleep(max(0.0, link_back_s - time.time()))  # the scenario ends by itself
    restored = next_cycle()
    if active("ems_link_down", "5"):  # the relay's silence outlasted this boundary: one more cycle
        restored = next_cycle()
    assert restored["status"] == "done" and not active("ems_link_down", "5")
    assert until(lambda: not active("fallback", "plant13"), limit_s=INTERVAL_S)
