"""The EMS runs pages: stored OPF runs with their DSO messages and exchange, a new OPF run from a form,
"Send to DSOs" queued on a real Celery worker to a DMS outstation on loopback and its answer shown on
the run's page; refusals say why and change nothing; roles decide who reads and who acts."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from apps.alarms.models import Alarm
from apps.dms.engine.dnp3.dms_outstation import DmsAnswer, DmsOutstation
from apps.dms.engine.dnp3.ems_dms_frame import ems_q_injected_kvar, ems_q_range_kvar
from apps.ems.actions import do_record_dso_exchange, do_run_opf, do_save_dso_endpoint
from apps.ems.engine.dso import DsoInterface
from apps.ems.engine.dso_exchange import Exchange
from apps.ems.models import DsoEndpoint, DsoMessage, OpfRun
from apps.ems.run_views import exchange_summary
from apps.ems.sending import marked
from crest_web.accounts.models import AuditRecord
from tests.conftest import as_json, client_for
from tests.integration.dnp3_support import ports, until

T0 = 1_795_000_000.0  # epoch seconds of the recorded exchange


def two_dso_run() -> OpfRun:
    dsos = [DsoInterface(5, 22, -700.0, 700.0), DsoInterface(9, 25, -300.0, 300.0, pv_kw=50.0)]
    return do_run_opf(None, "test", "case9", dsos)


def text(response: Any) -> str:
    return str(response.content.decode())


def test_it_lists_and_shows_a_run_with_its_messages_and_exchange(operator_client: Client) -> None:
    run = two_dso_run()
    five, nine = run.messages.get(bus=5), run.messages.get(bus=9)
    answer = Exchange("dso-5", T0, "", T0 + 4, -123.44, -650.0, 480.5, True, False)
    do_record_dso_exchange(None, "test", five.pk, answer)
    do_record_dso_exchange(None, "test", nine.pk, Exchange("dso-9", error="no connection to the DSO's DMS"))

    listing = text(operator_client.get("/ems/runs/"))
    assert f'href="/ems/runs/{run.pk}/"' in listing
    assert f"{run.losses_mw_before:.3f} → {run.losses_mw:.3f}" in listing
    assert "1 sent, 1 answered, 1 error" in listing and 'id="opf-form"' in listing

    page = operator_client.get(f"/ems/runs/{run.pk}/")
    assert page.status_code == 200
    html = text(page)
    assert "+ = injected into the transmission bus" in html
    assert f"{five.q_request_kvar:.1f}" in html and f"{five.v_pu:.4f}" in html
    assert "[-300.0, 300.0]" in html and f"{nine.q_base_kvar:.1f}" in html
    assert "-123.4" in html and "[-650.0, 480.5]" in html and "healthy" in html
    assert "no connection to the DSO&#x27;s DMS" in html
    assert 'id="ems-send-form"' in html and f'data-ems-run="{run.pk}"' in html

    doc = as_json(operator_client.get(f"/api/ems/opf/{run.pk}/"))
    by_bus = {m["bus"]: m for m in doc["messages"]}
    assert by_bus[5]["q_base_kvar"] == pytest.approx(five.q_base_kvar)
    assert (by_bus[5]["q_achieved_kvar"], by_bus[5]["q_min_next_kvar"], by_bus[5]["q_max_next_kvar"]) == (
        -123.44,
        -650.0,
        480.5,
    )
    assert by_bus[5]["dms_healthy"] is True and by_bus[5]["fallback_active"] is False
    assert by_bus[5]["sent_at"].startswith("2026-") and by_bus[5]["answered_at"] is not None
    assert by_bus[9]["sent_at"] is None and by_bus[9]["send_error"] == "no connection to the DSO's DMS"
    assert operator_client.get("/api/schema/").status_code == 200


def test_it_summarises_the_exchange_in_words() -> None:
    assert exchange_summary(3, 0, 0, 0) == "not sent"
    assert exchange_summary(3, 3, 2, 1) == "3 sent, 2 answered, 1 error"
    assert exchange_summary(3, 1, 1, 0) == "1 sent, 1 answered, 2 not sent"
    assert exchange_summary(2, 0, 0, 2) == "0 sent, 0 answered, 2 errors"


def test_it_refuses_to_send_with_the_reason_and_queues_nothing(
    operator_client: Client, settings: Any
) -> None:
    settings.CREST_EMS_TLS_DIR = ""  # the workers have no master certificate
    run = two_dso_run()
    refused = operator_client.post(f"/ems/runs/{run.pk}/send/")
    assert refused.status_code == 400
    assert f"No DSO of OPF run {run.pk} has an endpoint (buses 5, 9)" in text(refused)
    assert "Nothing was sent." in text(refused)

    do_save_dso_endpoint(None, "test", bus=5, name="dso-5", host="127.0.0.1", port=20500, feeder_count=22)
    for m in run.messages.all():
        do_record_dso_exchange(None, "test", m.pk, Exchange("x", T0, "", T0, 0.0, -1.0, 1.0, True, False))
    refused = operator_client.post(f"/ems/runs/{run.pk}/send/")
    assert refused.status_code == 400 and "Every DSO already answered OPF run" in text(refused)
    other = two_dso_run()
    do_save_dso_endpoint(
        None, "test", bus=9, name="dso-9", host="127.0.0.1", port=20501, tls=True, feeder_count=25
    )
    refused = operator_client.post(f"/ems/runs/{other.pk}/send/")
    assert refused.status_code == 400
    assert "A DSO is marked DNP3 over TLS: set CREST_EMS_TLS_DIR on the workers" in text(refused)
    assert not AuditRecord.objects.filter(action="ems.send_request").exists()
    assert not marked("requested", other.pk)
    assert not marked("requested", run.pk)
    assert operator_client.post("/ems/runs/999999/send/").status_code == 404


@pytest.mark.parametrize(
    ("dsos", "outages", "words"),
    [
        ("99x2:-100:100", "", "bus 99 does not exist in case9"),
        ("5x2:100:-100", "", "q_min (100 kvar) is above its q_max (-100 kvar)"),
        ("5x2:nan:100", "", "Bad DSO interface &#x27;5x2:nan:100&#x27;"),
        ("5x2:-100:100:1e999:0", "", "every value must be a finite number"),
        ("", "", "Give at least one DSO interface"),
        ("5x2:-100:100", "5-99", "No line 5-99 in case9: bus 99 does not exist"),
    ],
)
def test_it_refuses_a_bad_opf_form_and_stores_nothing(
    operator_client: Client, dsos: str, outages: str, words: str
) -> None:
    page = operator_client.post("/ems/runs/", {"case": "case9", "dsos": dsos, "outages": outages})
    assert page.status_code == 400
    assert words in text(page)
    assert not OpfRun.objects.exists() and not DsoMessage.objects.exists()
    assert not AuditRecord.objects.filter(action="ems.opf").exists()


def test_it_runs_an_opf_from_the_form(operator_client: Client, operator: User) -> None:
    form = {"case": "case9", "dsos": "5x22:-700:700\n9x25:-700:700", "outages": "5-6"}
    made = operator_client.post("/ems/runs/", form)
    run = OpfRun.objects.get()
    assert made.status_code == 302 and made["Location"] == f"/ems/runs/{run.pk}/"
    assert run.created_by == operator and run.inputs["outages"] == ["5-6"]
    assert sorted(run.messages.values_list("bus", flat=True)) == [5, 9]
    assert AuditRecord.objects.get(action="ems.opf").source == "web"


def test_it_lets_planners_read_only_and_outsiders_nothing(
    planner: User, outsider: User, admin_client: Client
) -> None:
    run = two_dso_run()
    reader = client_for(planner)
    listing = text(reader.get("/ems/runs/"))
    assert 'id="opf-readonly"' in listing and 'id="opf-form"' not in listing
    detail = text(reader.get(f"/ems/runs/{run.pk}/"))
    assert 'id="ems-send-readonly"' in detail and 'id="ems-send-form"' not in detail
    assert reader.post("/ems/runs/", {"case": "case9", "dsos": "5x2:-100:100"}).status_code == 403
    assert reader.post(f"/ems/runs/{run.pk}/send/").status_code == 403
    assert OpfRun.objects.count() == 1
    stranger = client_for(outsider)
    assert stranger.get("/ems/runs/").status_code == 403
    assert stranger.get(f"/ems/runs/{run.pk}/").status_code == 403
    assert stranger.post(f"/ems/runs/{run.pk}/send/").status_code == 403
    assert 'href="/ems/runs/"' not in text(stranger.get("/"))
    admin_page = text(admin_client.get("/ems/runs/"))
    assert 'id="opf-form"' in admin_page and 'href="/ems/runs/"' in admin_page


@pytest.fixture
def dms() -> Iterator[tuple[DmsOutstation, int]]:
    port = ports(2)  # port + 1: an endpoint nobody listens on
    station = DmsOutstation(port, feeder_count=22)
    yield station, port
    station.close()


@pytest.mark.django_db(transaction=True)
def test_it_sends_from_the_page_on_the_worker_and_shows_the_answer(
    worker: Any, dms: tuple[DmsOutstation, int], operator: User
) -> None:
    station, port = dms
    run = two_dso_run()
    five = run.messages.get(bus=5)
    do_save_dso_endpoint(None, "test", bus=5, name="dso-5", host="127.0.0.1", port=port, feeder_count=22)
    do_save_dso_endpoint(None, "test", bus=9, name="dso-9", host="127.0.0.1", port=port + 1, feeder_count=25)
    client = client_for(operator)

    queued = client.post(f"/ems/runs/{run.pk}/send/")
    assert queued.status_code == 302 and queued["Location"] == f"/ems/runs/{run.pk}/"
    record = AuditRecord.objects.get(action="ems.send_request")
    assert record.actor == operator
    assert record.after == {"buses": [5, 9], "no_endpoint": [], "count_mismatch": []}
    again = client.post(f"/ems/runs/{run.pk}/send/")  # queued already: refused, not sent twice
    assert again.status_code == 400 and "being sent to its DSOs already" in text(again)
    assert 'id="ems-sending"' in text(client.get(f"/ems/runs/{run.pk}/"))

    # The DMS answers the request it got, in the wire's frame (totals drawn), for that interval.
    assert until(lambda: station.latest() is not None, limit_s=90)
    request = station.latest()
    assert request is not None and request.interval_id == five.pk
    answer = DmsAnswer(q_achieved_kvar=-2500.0, q_min_kvar=-9000.0, q_max_kvar=4000.0, interval_id=five.pk)
    threading.Thread(target=station.answer, args=(answer,)).start()
    assert until(lambda: not marked("requested", run.pk), limit_s=90)

    five.refresh_from_db()
    assert five.q_base_kvar is not None
    achieved = ems_q_injected_kvar(-2500.0, five.q_base_kvar, 22)
    low, high = ems_q_range_kvar(-9000.0, 4000.0, five.q_base_kvar, 22)
    assert five.q_achieved_kvar == pytest.approx(achieved, abs=0.1)
    assert (five.q_min_next_kvar, five.q_max_next_kvar) == (
        pytest.approx(low, abs=0.1),
        pytest.approx(high, abs=0.1),
    )
    assert five.dms_healthy is True and five.answered_at is not None
    html = text(client.get(f"/ems/runs/{run.pk}/"))
    assert f"{five.q_achieved_kvar:.1f}" in html and 'id="ems-sending"' not in html
    assert "no connection to the DSO&#x27;s DMS" in html
    assert "1 sent, 1 answered, 1 error" in text(client.get("/ems/runs/"))
    exchanges = AuditRecord.objects.filter(action="ems.dso_exchange", source="task")
    assert exchanges.count() == 2 and all(r.actor == operator for r in exchanges)


def ieee123_endpoint(**changes: Any) -> Any:
    fields: dict[str, Any] = {
        "bus": 5,
        "name": "ieee123",
        "host": "127.0.0.1",
        "port": 20500,
        "feeder_count": 1,
        "p_base_kw": 3615.3,
        "q_base_kvar": 1311.5,
        **changes,
    }
    return do_save_dso_endpoint(None, "test", **fields)


def test_it_says_the_truth_about_endpoints_when_one_dso_answered(operator_client: Client) -> None:
    ieee123_endpoint()
    run = do_run_opf(
        None,
        "test",
        "case9",
        [DsoInterface(5, 1, 0, 0), DsoInterface(7, 32, -700, 700), DsoInterface(9, 25, -700, 700)],
    )
    five = run.messages.get(bus=5)
    do_record_dso_exchange(
        None, "test", five.pk, Exchange("ieee123", T0, "", T0, 0.0, -1.0, 1.0, True, False)
    )

    html = text(operator_client.get(f"/ems/runs/{run.pk}/"))
    assert "has an endpoint" not in html
    assert "bus 5 (ieee123) answered already" in html and "buses 7, 9 have no DSO endpoint" in html
    refused = operator_client.post(f"/ems/runs/{run.pk}/send/")
    assert refused.status_code == 400 and "buses 7, 9 have no DSO endpoint" in text(refused)


def test_it_defaults_the_opf_form_from_the_registered_interfaces(operator_client: Client) -> None:
    ieee123_endpoint()
    do_save_dso_endpoint(None, "test", bus=9, name="dso-9", host="127.0.0.1", port=20501, feeder_count=25)
    run = do_run_opf(None, "test", "case9", [DsoInterface(5, 1, 0, 0)])
    five = run.messages.get()
    assert five.q_base_kvar == pytest.approx(1311.5)  # the registered base, not a share of the case
    answer = Exchange("ieee123", T0, "", T0, 12.0, -420.0, 380.0, True, False, dms_feeder_count=1)
    do_record_dso_exchange(None, "test", five.pk, answer)

    html = text(operator_client.get("/ems/runs/"))
    assert "5x1:-420:380:3615.3:1311.5\n9x25:0:0</textarea>" in html
    (five_again, nine) = doc_dsos(operator_client)
    assert five_again == pytest.approx((5, 1, -420.0, 380.0, 1311.5)) and nine[:4] == (9, 25, 0.0, 0.0)


def doc_dsos(client: Client) -> list[tuple[int, int, float, float, float | None]]:
    """The DSO messages of an OPF run stored through the API without any DSO line."""
    made = client.post("/api/ems/opf/", {"case": "case9"}, content_type="application/json")
    assert made.status_code == 201, made.content
    run = OpfRun.objects.get(pk=as_json(made)["id"])
    return [(m.bus, m.count, m.q_min_kvar, m.q_max_kvar, m.q_base_kvar) for m in run.messages.all()]


def test_it_refuses_a_dso_line_that_disagrees_with_the_registration(operator_client: Client) -> None:
    ieee123_endpoint()
    page = operator_client.post("/ems/runs/", {"case": "case9", "dsos": "5x22:-700:700", "outages": ""})
    assert page.status_code == 400
    assert "22 feeders" in text(page) and "registered with 1 feeder" in text(page)
    api = operator_client.post("/api/ems/opf/", {"dsos": ["5x22:-700:700"]}, content_type="application/json")
    assert api.status_code == 400 and "registered with 1 feeder" in as_json(api)["errors"]["request"][0]
    assert not OpfRun.objects.exists() and not AuditRecord.objects.filter(action="ems.opf").exists()


def test_it_shows_the_dms_view_and_alarms_a_short_answer_until_a_good_one(operator_client: Client) -> None:
    ieee123_endpoint(feeder_count=22)  # registered as the issue's form assumed; the DMS has one
    run = do_run_opf(None, "test", "case9", [DsoInterface(5, 22, -700, 700)])
    five = run.messages.get()
    issue = Exchange(
        "ieee123",
        T0,
        "",
        T0,
        1282.7,
        -700.0,
        700.0,
        True,
        False,
        dms_feeder_count=1,
        dms_q_received_kvar=14600.0,
        dms_q_received_per_feeder_kvar=14600.0,
        dms_q_achieved_kvar=1781.0,
        dms_q_shortfall_kvar=12819.0,
        dms_shortfall_cause="capability limit",
        dms_violations_left=106,
    )
    do_record_dso_exchange(None, "test", five.pk, issue)

    html = text(operator_client.get(f"/ems/runs/{run.pk}/"))
    assert (
        "DMS received 14,600.0 kvar (1 × 14,600.0), achieved 1,781.0, short 12,819.0 (capability limit)"
        in html
    )
    assert "106 voltage violations left" in html and "the DMS models 1 feeder" in html
    assert "1 short, 1 count mismatch" in text(operator_client.get("/ems/runs/"))
    alarms = Alarm.objects.filter(source_type="dso", source_id="5", cleared_at__isnull=True)
    assert set(alarms.values_list("kind", flat=True)) == {"dso_mismatch", "dso_shortfall", "violation"}
    assert "12,819 kvar short of 14,600" in alarms.get(kind="dso_shortfall").message
    ieee = DsoEndpoint.objects.get(bus=5)
    assert ieee.q_min_kvar is None  # a range counted over other feeders is not taken as the DSO's

    do_save_dso_endpoint(None, "test", bus=5, name="ieee123", host="127.0.0.1", port=20500, feeder_count=1)
    again = do_run_opf(None, "test", "case9", [DsoInterface(5, 1, 0, 0)])
    good = Exchange(
        "ieee123",
        T0,
        "",
        T0,
        0.0,
        -400.0,
        400.0,
        True,
        False,
        dms_feeder_count=1,
        dms_q_received_kvar=1311.5,
        dms_q_achieved_kvar=1311.0,
        dms_q_shortfall_kvar=0.0,
        dms_violations_left=0,
    )
    do_record_dso_exchange(None, "test", again.messages.get().pk, good)
    assert not Alarm.objects.filter(source_type="dso", cleared_at__isnull=True).exists()
