"""The substation meter at a feeder head, as SCADA sends it to the DMS (issue #12 items 3–4): an
operator or a SCADA account posts readings; a planner reads them; bad readings are refused in words
and store nothing. The DMS allocates its loads to the newest fresh one before it dispatches."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from apps.dms.head import fresh_head
from apps.dms.models import HeadMeasurement
from tests.conftest import as_json, client_for

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
