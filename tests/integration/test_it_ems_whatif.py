"""The transmission what-if page and API: base case against the what-if, by the case's bus numbers."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tests.conftest import as_json, client_for


def test_it_shows_the_seed_scenario_to_an_operator(operator_client: Client) -> None:
    page = operator_client.get("/ems/whatif/?seed=1")
    assert page.status_code == 200
    doc = page.context["doc"]
    by_bus = {r["bus"]: r for r in doc["buses"]}
    assert by_bus["5"]["after"] < by_bus["5"]["before"]  # line 5-6 out: bus 5 sags
    assert doc["after"]["losses_mw"] > doc["before"]["losses_mw"]
    assert page.context["figure"]["data"]


def test_it_answers_the_api_and_explains_bad_input(planner: User) -> None:
    client = client_for(planner)
    ok = client.post(
        "/api/ems/whatif/",
        {"case": "case9", "injections": ["7:45:0"], "outages": []},
        content_type="application/json",
    )
    assert ok.status_code == 200 and set(as_json(ok)["after"]) == {"buses", "generators", "losses_mw"}
    bad = client.post(
        "/api/ems/whatif/", {"case": "case9", "outages": ["5-7"]}, content_type="application/json"
    )
    assert bad.status_code == 400 and "No line 5-7 in case9" in as_json(bad)["errors"]["request"][0]
    page = client.get("/ems/whatif/?case=case9&injections=42:1:0")
    assert page.status_code == 400 and "Bus 42 does not exist in case9" in page.context["error"]


def test_it_refuses_people_without_a_role(outsider: User) -> None:
    client = client_for(outsider)
    assert client.get("/ems/whatif/?seed=1").status_code == 403
    assert client.post("/api/ems/whatif/", {}, content_type="application/json").status_code == 403


def test_it_adds_the_one_line_diagram_n1_screening_and_opf_to_the_seed_page(operator_client: Client) -> None:
    page = operator_client.get("/ems/whatif/?seed=1")
    assert page.status_code == 200
    doc, opf, n1 = page.context["doc"], page.context["opf"], page.context["n1"]
    names = {t["name"] for t in doc["oneline"]["data"]}
    assert {"bus voltage (pu)", "out of service"} <= names  # line 5-6 drawn as out
    assert {b["branch"]: b["after"] for b in doc["branches"]}["5-6"] == 0.0
    assert [r["outage"] for r in n1] == ["1-4", "2-8", "3-6", "4-5", "4-9", "5-6", "6-7", "7-8", "8-9"]
    by_outage = {r["outage"]: r for r in n1}
    assert not by_outage["1-4"]["solved"] and "island" in by_outage["1-4"]["note"]
    lowest = min(doc["buses"], key=lambda r: r["after"])  # the seed what-if is this same outage
    assert by_outage["5-6"]["min_bus"] == lowest["bus"] and by_outage["5-6"]["min_vm_pu"] < 0.95
    assert [d["bus"] for d in opf["dsos"]] == [5, 7, 9] and min(opf["buses"].values()) >= 0.95
    assert {r["bus"]: r["before"] for r in opf["rows"]} == pytest.approx(
        {r["bus"]: r["after"] for r in doc["buses"]}, abs=1e-6
    )  # the OPF starts from the what-if
    html = page.content.decode()
    assert 'id="ems-opf-dsos"' in html and 'id="ems-n1"' in html and "fig-ems-oneline" in html


def test_it_explains_bad_n1_and_dso_input_on_the_page(operator_client: Client) -> None:
    page = operator_client.get("/ems/whatif/?case=case9&n1=5-7")
    assert page.status_code == 400 and "No line 5-7 in case9" in page.context["error"]
    page = operator_client.get("/ems/whatif/?case=case9&opf=on&dsos=5x3:200:100")
    assert page.status_code == 400 and "q_min (200 kvar) is above its q_max" in page.context["error"]
