"""Capability studies run on a real Celery worker, persist everything needed to reproduce them,
report progress live, can be cancelled, and refuse bad input without storing anything."""

from __future__ import annotations

import io
import time
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from apps.capability import actions
from apps.capability.models import CapabilityStudy
from crest_web.accounts.models import AuditRecord
from tests.conftest import as_json, client_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def feeder_with_pv(ieee13: Any) -> Any:
    call_command("add_pv", "ieee13", "--count", "30", "--seed", "5", stdout=io.StringIO())
    return ieee13


def wait_until_finished(study_id: int, timeout_s: float = 120) -> CapabilityStudy:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        study = CapabilityStudy.objects.get(pk=study_id)
        if study.status in ("done", "failed", "cancelled"):
            return study
        time.sleep(0.3)
    raise AssertionError(f"study {study_id} still {study.status} after {timeout_s} s")


def test_it_runs_a_planners_study_on_a_worker(worker: Any, planner: User, feeder_with_pv: Any) -> None:
    client = client_for(planner)
    started = client.post(
        "/api/capability-studies/",
        {"feeder": "ieee13", "headroom": "0:1:0.25"},
        content_type="application/json",
    )
    assert started.status_code == 202, started.content
    study = wait_until_finished(as_json(started)["id"])
    assert study.status == "done", study.error
    assert [p["headroom"] for p in study.result["points"]] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert len(study.params["pv_units"]) == 30 and study.feeder_version.number == 1
    assert study.validation["q_err_max_pct"] <= 1.0 and study.validation["v_err_max_pct"] <= 0.5
    page = client.get(f"/capability/{study.pk}/")
    assert page.context["figure"]["data"] and len(page.context["rows"]) == 5
    csv_text = client.get(f"/capability/{study.pk}/export.csv").content.decode()
    assert (
        csv_text.splitlines()[0]
        == "series,headroom,q_min_kvar,q_max_kvar,rpfr_min_kvar,rpfr_max_kvar,feasible"
    )


def test_it_cancels_a_queued_study_and_the_worker_leaves_it(
    admin_user: User, feeder_with_pv: Any, worker: Any
) -> None:
    study = actions.do_start_study(admin_user, "web", "ieee13", headroom="0:1:0.01")
    actions.do_cancel_study(admin_user, "web", study.pk)
    time.sleep(3)  # the worker picks the task up and must leave it alone
    study.refresh_from_db()
    assert study.status == "cancelled" and study.result == {}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"feeder": "ieee13", "headroom": "0:2:0.5"}, "outside [0, 1]"),
        ({"feeder": "ieee13", "headroom": "0:1:0"}, "step must be positive"),
        ({"feeder": "ieee13", "v_tm": 0}, "v_tm must be greater than 0"),
        ({"feeder": "ghost"}, "There is no feeder named 'ghost'"),
    ],
)
def test_it_refuses_bad_requests_and_stores_nothing(
    admin_client: Client, feeder_with_pv: Any, body: dict[str, Any], message: str
) -> None:
    response = admin_client.post("/api/capability-studies/", body, content_type="application/json")
    assert response.status_code == 400
    assert message in as_json(response)["errors"]["request"][0]
    assert not CapabilityStudy.objects.exists()


def test_it_refuses_a_feeder_without_ders(admin_client: Client, ieee13: Any) -> None:
    response = admin_client.post(
        "/capability/feeder/ieee13/", {"headroom": "0:1:0.5", "v_tm": "1.0", "sides": "16"}, follow=True
    )
    assert b"has no active DERs" in response.content
    assert not CapabilityStudy.objects.exists()


def test_it_lets_an_operator_look_but_not_start(operator_client: Client, feeder_with_pv: Any) -> None:
    assert operator_client.get("/capability/feeder/ieee13/").status_code == 200
    assert b"study-form" not in operator_client.get("/capability/feeder/ieee13/").content
    refused = operator_client.post(
        "/api/capability-studies/", {"feeder": "ieee13"}, content_type="application/json"
    )
    assert refused.status_code == 403 and not CapabilityStudy.objects.exists()


def test_it_does_not_recompute_a_finished_study(admin_user: User, feeder_with_pv: Any) -> None:
    from celery_tasks.capability import run_study

    study = actions.do_start_study(admin_user, "web", "ieee13", headroom="0:0:1")
    assert run_study(study.pk) == "done"
    finished = CapabilityStudy.objects.get(pk=study.pk)
    assert run_study(study.pk) == "skipped"  # e.g. the broker redelivers the task
    assert CapabilityStudy.objects.get(pk=study.pk).result == finished.result


def test_it_runs_a_vtm_study_with_the_decoupling_range(
    worker: Any, planner: User, feeder_with_pv: Any
) -> None:
    client = client_for(planner)
    started = client.post(
        "/api/capability-studies/",
        {"feeder": "ieee13", "kind": "vtm", "headroom": "0:0:1", "v_tm_range": "0.8:1.2:0.2"},
        content_type="application/json",
    )
    assert started.status_code == 202, started.content
    study = wait_until_finished(as_json(started)["id"])
    assert study.status == "done", study.error
    feasible = [s["points"][0]["feasible"] for s in study.result["series"]]
    assert feasible == [False, True, False]
    low, high = study.result["decoupling_range"]
    v0_low, v0_high = study.result["secondary_v0_pu"]  # the tap reaches both from low to high
    assert 0.9 * high == pytest.approx(v0_low, abs=1e-5) and 1.1 * low == pytest.approx(v0_high, abs=1e-5)
    assert 0.864 < low < 1.0 < high < 1.167  # inside the band's ends: the feeder's drop and rise
    page = client.get(f"/capability/{study.pk}/")
    assert f"OLTC decoupling range: v_tm {low:.3f} – {high:.3f} pu" in page.content.decode()
    assert page.context["figure"]["data"] and len(page.context["series"]) == 3
    shaded = page.context["figure"]["layout"]["shapes"]  # the infeasible v_tm values and the OLTC range
    assert sum(sh["fillcolor"].startswith("rgba(248") for sh in shaded) == 2


def test_it_refuses_an_unknown_study_kind_and_a_bad_range(admin_client: Client, feeder_with_pv: Any) -> None:
    for body, message in (
        ({"kind": "astrology"}, "not a valid choice"),
        ({"kind": "vtm", "v_tm_range": "1.2:0.8:0.1"}, "v_tm range"),
    ):
        response = admin_client.post(
            "/api/capability-studies/", {"feeder": "ieee13", **body}, content_type="application/json"
        )
        assert response.status_code == 400 and message in response.content.decode()
    assert not CapabilityStudy.objects.exists()


def test_it_leaves_ders_with_stale_telemetry_out_of_the_live_curve(
    admin_user: User, feeder_with_pv: Any
) -> None:
    """The live curve offers what each unit could give now, not what it happens to give: a unit held
    at half its rating by a P limit still counts at its rating (no irradiance is measured: full sun),
    one that reports its available power (IEEE 2030.5 statWAvail) counts at that. Taking the present
    output made a curtailed unit shrink the curve it was curtailed for (issue #11)."""
    from apps.der_registry.actions import do_record_monitoring, do_record_sep2_der_state
    from apps.der_registry.models import DER

    ders = list(DER.objects.filter(feeder__name="ieee13").order_by("name"))
    for der in ders[1:]:
        do_record_monitoring(None, "system", der.pk, {"p_kw": der.np_active_power_kw / 2})
    quarter_w = 1000 * ders[2].np_active_power_kw / 4
    do_record_sep2_der_state(None, "test", ders[2].pk, "dera", {"statWAvail": quarter_w})
    study = actions.do_start_study(admin_user, "web", "ieee13", kind="live", headroom="0:0:1")
    assert study.params["excluded_stale"] == [ders[0].name]
    used = {u["name"]: u["p_avail_kw"] for u in study.params["pv_units"]}
    assert ders[0].name not in used
    assert used[ders[1].name] == pytest.approx(ders[1].np_active_power_kw)
    assert used[ders[2].name] == pytest.approx(ders[2].np_active_power_kw / 4)
    assert all(used[d.name] == pytest.approx(d.np_active_power_kw) for d in ders[3:])


def _finished(user: User, **kwargs: Any) -> CapabilityStudy:
    from celery_tasks.capability import run_study

    study = actions.do_start_study(user, "web", "ieee13", **kwargs)
    assert run_study(study.pk) == "done"
    return CapabilityStudy.objects.get(pk=study.pk)


def test_it_compares_two_studies_side_by_side(planner: User, feeder_with_pv: Any) -> None:
    a = _finished(planner, headroom="0:1:0.5", sides=8)
    b = _finished(planner, headroom="0:1:0.5", sides=32)
    page = client_for(planner).get(f"/capability/compare/?id={a.pk}&id={b.pk}")
    assert page.status_code == 200 and len(page.context["panels"]) == 2
    diffs = page.context["differences"]
    assert [d["headroom"] for d in diffs] == [0.0, 0.5, 1.0]
    assert diffs[1]["d_min"] <= 0.5  # a finer polygon never gives less capacitive support
    refused = client_for(planner).get(f"/capability/compare/?id={a.pk}", follow=True)
    assert b"Tick exactly two finished studies" in refused.content


def test_it_runs_a_day_ahead_study_from_an_uploaded_forecast(planner: User, feeder_with_pv: Any) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    rows = "hour,load,pv\n" + "".join(
        f"{h},{0.5 + h / 48:.3f},{0.5 if 8 <= h <= 16 else 0}\n" for h in range(24)
    )
    client = client_for(planner)
    page = client.post(
        "/capability/feeder/ieee13/",
        {
            "kind": "day_ahead",
            "headroom": "0:0:1",
            "v_tm": "1.0",
            "sides": "8",
            "forecast": SimpleUploadedFile("forecast.csv", rows.encode()),
        },
    )
    assert page.status_code == 302, page.content[:300]
    study = CapabilityStudy.objects.get()
    assert study.params["pv_shape"][12] == 0.5 and study.params["load_shape"][0] == 0.5
    bad = client.post(
        "/capability/feeder/ieee13/",
        {
            "kind": "day_ahead",
            "headroom": "0:0:1",
            "v_tm": "1.0",
            "sides": "8",
            "forecast": SimpleUploadedFile("forecast.csv", b"hour,load,pv\n0,1,0\n"),
        },
    )
    assert bad.status_code == 400 and b"exactly the hours 0 to 23" in bad.content
    assert CapabilityStudy.objects.count() == 1


def test_it_keeps_the_day_ahead_shapes_as_the_feeders_profile(planner: User, feeder_with_pv: Any) -> None:
    shape = " ".join(["0.7"] * 24)
    actions.do_start_study(
        planner,
        "web",
        "ieee13",
        kind="day_ahead",
        headroom="0:0:1",
        extra={"load_shape": shape},
        enqueue=False,
    )
    page = client_for(planner).get("/capability/feeder/ieee13/")
    assert page.context["form"]["load_shape"] == shape  # offered again next time
    second = actions.do_start_study(
        planner, "web", "ieee13", kind="day_ahead", headroom="0:0:1", enqueue=False
    )
    assert second.params["load_shape"] == [0.7] * 24
    assert len(AuditRecord.objects.filter(action="capability.profile")) == 2


def test_it_offers_no_more_q_than_the_ders_reactive_ratings(admin_user: User, feeder_with_pv: Any) -> None:
    """A curve built on the kVA disk would promise vars a set point may not ask for (IEEE 1547 §5.2)."""
    from django.db.models import F

    from apps.der_registry.models import DER
    from celery_tasks.capability import run_study

    def width_kvar() -> float:
        study = actions.do_start_study(admin_user, "web", "ieee13", headroom="0:0:1")
        assert run_study(study.pk) == "done"
        point = CapabilityStudy.objects.get(pk=study.pk).result["points"][0]
        return float(point["q_max_kvar"] - point["q_min_kvar"])

    def rate(share: float) -> None:
        DER.objects.update(
            np_reactive_injected_kvar=F("np_apparent_power_kva") * share,
            np_reactive_absorbed_kvar=F("np_apparent_power_kva") * share,
        )

    full = width_kvar()
    rate(0.0)
    taps_only = width_kvar()  # what the OLTC alone swings through voltage-dependent loads
    rate(0.1)
    limited = width_kvar()
    total_kva = sum(DER.objects.values_list("np_apparent_power_kva", flat=True))
    assert taps_only < limited < full
    # Both directions at 10 % of the kVA, plus what the feeder's losses swing with them (≤ 10 %).
    assert limited - taps_only <= 2 * 0.1 * total_kva * 1.1


# A step of 5e-324 used to overflow the point count (HTTP 500); each of these gets a reason instead.
ABSURD_HEADROOMS = ("0:1:5e-324", "0:1:1e-6", "0:1:-0.1", "0:1:nan", "0:1:inf", "nan:1:0.1", "0:inf:0.1")


@pytest.mark.parametrize("headroom", ABSURD_HEADROOMS)
def test_it_refuses_an_absurd_headroom_sweep_on_the_form_and_the_api(
    admin_client: Client, feeder_with_pv: Any, headroom: str
) -> None:
    page = admin_client.post(
        "/capability/feeder/ieee13/", {"headroom": headroom, "v_tm": "1.0", "sides": "16"}
    )
    assert page.status_code == 400 and "Nothing was started: Headroom" in page.content.decode()
    api = admin_client.post(
        "/api/capability-studies/",
        {"feeder": "ieee13", "headroom": headroom},
        content_type="application/json",
    )
    assert api.status_code == 400 and "Headroom" in as_json(api)["errors"]["request"][0]
    assert not CapabilityStudy.objects.exists()


@pytest.mark.parametrize("v_tm", ["inf", "1e309", "nan", "-inf", "one"])
def test_it_refuses_a_transmission_voltage_that_is_no_number_on_the_form(
    admin_client: Client, feeder_with_pv: Any, v_tm: str
) -> None:
    page = admin_client.post(
        "/capability/feeder/ieee13/", {"headroom": "0:1:0.5", "v_tm": v_tm, "sides": "16"}
    )
    assert page.status_code == 400
    assert "Nothing was started: The transmission-side voltage v_tm must be" in page.content.decode()
    assert not CapabilityStudy.objects.exists()


@pytest.mark.parametrize("body", ['"inf"', '"nan"', "1e309", "-1e309"])
def test_it_refuses_a_transmission_voltage_that_is_no_number_on_the_api(
    admin_client: Client, feeder_with_pv: Any, body: str
) -> None:
    response = admin_client.post(
        "/api/capability-studies/", f'{{"feeder": "ieee13", "v_tm": {body}}}', content_type="application/json"
    )
    assert response.status_code == 400 and "v_tm" in as_json(response)["errors"]
    assert not CapabilityStudy.objects.exists()


def test_it_refuses_an_absurd_v_tm_range_step(admin_client: Client, feeder_with_pv: Any) -> None:
    response = admin_client.post(
        "/api/capability-studies/",
        {"feeder": "ieee13", "kind": "vtm", "v_tm_range": "0.85:1.2:5e-324"},
        content_type="application/json",
    )
    assert response.status_code == 400 and "at most 200 values" in response.content.decode()
    assert not CapabilityStudy.objects.exists()


def test_it_keeps_the_planner_on_the_studies_page_unless_two_studies_are_ticked(
    planner: User, feeder_with_pv: Any
) -> None:
    ticked = [_finished(planner, headroom="0:0:1", sides=8).pk for _ in range(3)]
    client = client_for(planner)
    form = client.get("/capability/feeder/ieee13/").content.decode()
    assert '<input type="hidden" name="feeder" value="ieee13">' in form  # sent with the ticked ids
    for ids in ([], ticked[:1], ticked):
        query = "".join(f"&id={pk}" for pk in ids)
        page = client.get(f"/capability/compare/?feeder=ieee13{query}", follow=True)
        assert page.redirect_chain[-1][0] == "/capability/feeder/ieee13/", ids
        assert "Tick exactly two finished studies" in page.content.decode()
    gone = client.get(f"/capability/compare/?feeder=ieee13&id={ticked[0]}&id=999999", follow=True)
    assert gone.redirect_chain[-1][0] == "/capability/feeder/ieee13/"
    assert "Both studies must exist and be finished" in gone.content.decode()


def test_it_reports_the_compliance_options_with_their_own_units_and_headroom(
    planner: User, feeder_with_pv: Any
) -> None:
    """The study places 20 units itself: the registry's 30 DERs are not what it computed with."""
    study = _finished(planner, kind="compliance", headroom="0:0:1", sides=8, extra={"count": 20})
    assert [s["der_count"] for s in study.result["series"]] == [20, 20]
    assert [s["headroom"] for s in study.result["series"]] == [0.0, 0.102]
    page = client_for(planner).get(f"/capability/{study.pk}/").content.decode()
    assert "· 20 PV units placed the paper's way ·" in page and "30 DERs" not in page
    rows = page.split('id="series"')[1].split("</table>")[0].split("<tr>")[2:]
    assert "10.2% headroom, no oversize" in rows[1] and '<td class="num">10.2</td>' in rows[1]
    assert "oversize 1.114, no headroom" in rows[0] and '<td class="num">0.0</td>' in rows[0]


def test_it_exports_text_cells_so_spreadsheets_do_not_run_them(admin_client: Client, ieee13: Any) -> None:
    from apps.dms.feeders import current_version

    series = {"label": "=1+2", "q_base_kvar": 0.0}
    point = {"headroom": 0.0, "q_min_kvar": -5.2, "q_max_kvar": 3.0, "feasible": True}
    study = CapabilityStudy.objects.create(
        kind="unbalance",
        feeder=ieee13,
        feeder_version=current_version("ieee13"),
        status="done",
        result={"series": [{**series, "points": [point]}]},
    )
    rows = admin_client.get(f"/capability/{study.pk}/export.csv").content.decode().splitlines()
    assert rows[1] == "'=1+2,0.0,-5.2,3.0,-5.2,3.0,True"  # the label escaped, the numbers left alone
