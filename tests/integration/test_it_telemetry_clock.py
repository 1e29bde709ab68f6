"""A device whose clock is far off shows a clock problem, not telemetry years old or from the future."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from apps.der_registry.actions import do_record_monitoring
from tests.conftest import as_json

DAY_S = 86_400


def report(der: Any, *, device_clock_off_s: float, p_kw: float = 5.0) -> None:
    """The device reports now, stamping the sample with its own clock."""
    t = timezone.now() + dt.timedelta(seconds=device_clock_off_s)
    do_record_monitoring(None, "api", der.pk, {"t": t, "p_kw": p_kw})


def test_it_shows_a_device_clock_years_behind_as_a_clock_problem(
    admin_client: Client, enrolled: Callable[..., Any]
) -> None:
    der = enrolled("active")
    report(der, device_clock_off_s=-3257 * DAY_S - 600)
    detail = admin_client.get(f"/ders/{der.pk}/").content.decode()
    assert "device clock off by 3257 d (behind)" in detail and " ago" not in detail
    listing = admin_client.get("/ders/").content.decode()
    assert "device clock off by 3257 d (behind)" in listing and "years" not in listing
    monitoring = as_json(admin_client.get(f"/api/ders/{der.pk}/"))["monitoring"]
    assert monitoring["clock_problem"] == "device clock off by 3257 d (behind)"
    assert monitoring["clock_offset_s"] == pytest.approx(-3257 * DAY_S - 600, abs=60)


def test_it_notices_a_clock_gone_wrong_after_good_samples(
    admin_client: Client, enrolled: Callable[..., Any]
) -> None:
    """The newest value stays the good one (it moves only forward), but the operator learns why
    nothing newer arrives."""
    der = enrolled("active")
    report(der, device_clock_off_s=-2, p_kw=4.0)
    report(der, device_clock_off_s=-9 * 365 * DAY_S, p_kw=6.0)
    monitoring = as_json(admin_client.get(f"/api/ders/{der.pk}/"))["monitoring"]
    assert monitoring["p_kw"] == 4.0 and monitoring["clock_problem"] == "device clock off by 3285 d (behind)"
    report(der, device_clock_off_s=-1, p_kw=7.0)  # the clock is set right again
    monitoring = as_json(admin_client.get(f"/api/ders/{der.pk}/"))["monitoring"]
    assert monitoring["p_kw"] == 7.0 and monitoring["clock_problem"] == "" and not monitoring["stale"]


def test_it_calls_a_late_sample_old_telemetry_not_a_clock_problem(
    admin_client: Client, enrolled: Callable[..., Any]
) -> None:
    der = enrolled("active")
    report(der, device_clock_off_s=-3 * 3600)  # delivered late, within a day: plausibly just late
    monitoring = as_json(admin_client.get(f"/api/ders/{der.pk}/"))["monitoring"]
    assert monitoring["stale"] and monitoring["clock_problem"] == "" and monitoring["clock_offset_s"] is None
    assert "STALE" in admin_client.get(f"/ders/{der.pk}/").content.decode()


@pytest.mark.django_db(transaction=True)
def test_it_names_the_clock_when_a_dispatch_leaves_such_a_unit_out(operator: Any) -> None:
    """The dispatch can't tell how old the values of a unit with a wrong clock are, so the unit sits
    it out; the run says why in the same words as the registry, not "telemetry 3257 d old"."""
    from apps.der_registry.models import DER
    from apps.dms import actions
    from celery_tasks.dispatch import run_dispatch
    from tests.conftest import client_for
    from tests.integration.test_it_dispatch import with_pv

    feeder = with_pv("feedera", seed=3)
    skewed = DER.objects.filter(feeder=feeder).order_by("name").first()
    assert skewed is not None
    report(skewed, device_clock_off_s=-3257 * DAY_S - 600)
    run = actions.do_request_dispatch(operator, "web", feeder.name, q_kvar=300.0, v_sub_pu=1.0, enqueue=False)
    run_dispatch.apply(args=(run.pk,))
    run.refresh_from_db()
    assert run.status == "done", run.error
    (excluded,) = run.result["excluded"]
    assert excluded["name"] == skewed.name and excluded["cause"] == "DER unavailable"
    assert excluded["reason"].startswith("device clock off by 3257 d (behind)")
    page = client_for(operator).get(f"/feeders/{feeder.name}/dispatch/{run.pk}/").content.decode()
    assert "device clock off by 3257 d (behind)" in page and "3257 d old" not in page
