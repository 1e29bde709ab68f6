"""The transmission what-if page and API: base case against the what-if, by the case's bus numbers."""

from __future__ import annotations

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
