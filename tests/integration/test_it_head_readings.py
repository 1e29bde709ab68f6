"""The substation meter at a feeder head, as SCADA sends it to the DMS (issue #12 items 3–4): an
operator or a SCADA account posts readings; a planner reads them; bad readings are refused in words
and store nothing. The DMS allocates its loads to the newest fresh one before it dispatches. The
DMS writes the EMS's substation voltage set point to the feeder's RTU and alarms when it is lost."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from apps.alarms.models import Alarm
from apps.dms.engine.dnp3.master import Endpoint, MasterOptions, MasterPool
from apps.dms.engine.dnp3.outstation import OutstationChannel
from apps.dms.engine.dnp3.points import SUBSTATION_RTU, Point, check_output
from apps.dms.head import fresh_head
from apps.dms.models import HeadMeasurement
from apps.dms.rtu import RtuReader
from tests.conftest import as_json, client_for
from tests.integration.dnp3_support import ports, until

URL = "/api/feeders/ieee13/head/"
READING = {"p_kw": 3466.0, "q_kvar": 1921.0, "v_pu": 1.02}


def post(client: Client, body: dict[str, Any], url: str = URL) -> Any:
    return client.post(url, body, content_type="application/json")


def test_it_records_a_reading_and_the_dms_takes_the_newest_fresh_one(
    operator_client: Client, planner: User, ieee13: Any
) -> None:
    older = (timezone.now() - dt.timedelta(seconds=40)).isoformat()
    assert post(operator_client, {**READING, "measured_at": older}).status_code == 201
    response = post(operator_client, {**READING, "p_kw": 3500.0})
    assert response.status_code == 201, response.content
    assert as_json(response)["source"] == "api"

    readings = as_json(client_for(planner).get(URL))
    assert [r["p_kw"] for r in readings] == [3500.0, 3466.0]  # newest first
    fresh = fresh_head("ieee13", interval_s=300.0)
    assert fresh is not None and fresh.reading.p_kw == 3500.0 and fresh.age_s < 5
    # Older than two intervals: not trusted, the DMS solves at the model's own load.
    assert fresh_head("ieee13", interval_s=300.0, now=timezone.now() + dt.timedelta(minutes=11)) is None


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({**READING, "p_kw": "lots"}, "p_kw must be a number of kW"),
        ({**READING, "q_kvar": "NaN"}, "q_kvar must be a finite number"),
        ({**READING, "v_pu": 0.0}, "not a measurement of a feeder in service"),
        ({**READING, "p_kw": 5e9}, "beyond any feeder head; check the meter's units"),
        ({"p_kw": 1.0, "q_kvar": 1.0}, "v_pu must be a number of pu"),
        ({**READING, "measured_at": "yesterday"}, "measured_at must be an ISO 8601 time"),
        ({**READING, "measured_at": "2026-12-04T10:00:00"}, "must say its time zone"),
        ({**READING, "measured_at": "2099-01-01T00:00:00Z"}, "in the future; check the meter's clock"),
    ],
)
def test_it_refuses_a_bad_reading_in_words_and_stores_nothing(
    operator_client: Client, ieee13: Any, body: dict[str, Any], words: str
) -> None:
    response = post(operator_client, body)
    assert response.status_code == 400
    assert words in str(as_json(response)["errors"]["reading"])
    assert not HeadMeasurement.objects.exists()


def test_it_lets_only_operators_and_admins_record(
    planner: User, outsider: User, admin_client: Client, ieee13: Any
) -> None:
    assert post(client_for(planner), READING).status_code == 403
    assert post(client_for(outsider), READING).status_code == 403
    assert post(admin_client, READING, "/api/feeders/nowhere/head/").status_code == 404
    assert not HeadMeasurement.objects.exists()
    assert post(admin_client, READING).status_code == 201


@pytest.mark.django_db(transaction=True)
def test_it_the_dms_writes_the_ems_voltage_set_point_to_the_rtu_and_alarms_when_it_is_not_confirmed() -> None:
    """apps/dms/rtu.py against a real DNP3 outstation on loopback: no RTU there, a comm alarm on
    it; the RTU back, the set point arrives and the alarm clears; a value the RTU refuses is not a
    communication failure."""
    port = ports(1)
    options = MasterOptions(response_timeout_s=1.0, event_poll_s=0.3, retry_min_s=0.1, retry_max_s=0.5)
    pool = MasterPool(options)
    reader = RtuReader("ieee13", record_s=1.0)
    reader.attach(pool, Endpoint("127.0.0.1", port, 10))
    alarm = Alarm.objects.filter(kind="comm_failure", source_type="rtu", source_id="ieee13", cleared_at=None)

    def settle() -> None:
        pool.drain(0.1)
        reader.step(time.time())

    taken: list[float] = []

    def controller(point: Point, v_pu: float) -> float:  # the RTU: its range checked, value kept
        taken.append(check_output(point, v_pu))
        return v_pu

    channel: OutstationChannel | None = None
    try:
        reader.set_voltage(1.02)
        assert until(lambda: reader.writing is None, settle)
        assert alarm.exists() and "did not confirm the voltage set point 1.0200 pu" in alarm.get().message

        channel = OutstationChannel(port)
        channel.add(10, SUBSTATION_RTU, controller)
        assert until(lambda: pool.links[reader.key].operate("v_set_pu", 1.0).result(timeout=10).ok)
        reader.set_voltage(1.02)
        assert until(lambda: reader.writing is None, settle)
        assert taken[-1] == 1.02 and not alarm.exists()

        reader.set_voltage(1.5)  # outside the controller's 0.9–1.1 pu: refused, answered
        assert until(lambda: reader.writing is None, settle)
        assert taken[-1] == 1.02 and not alarm.exists()
    finally:
        pool.close()
        if channel is not None:
            channel.close()
