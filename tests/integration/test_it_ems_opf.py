"""Volt/var OPF dispatch through the action, the REST API and the CLI: the run and one EMS→DMS message
per DSO stored with the inputs used, audited; bad input stores nothing and says why."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from apps.ems.actions import OpfError, do_run_opf
from apps.ems.engine.dso import DsoInterface, seed_004_dsos
from apps.ems.models import DsoMessage, OpfRun
from crest_web.accounts.models import AuditRecord
from tests.conftest import as_json, client_for, manage_without_database
from tests.engine.test_ems_matpower import CASE9_X10

SEED = [
    {"bus": 5, "count": 22, "q_min_kvar": -700, "q_max_kvar": 700},
    "7x32:-700:700",
    {"bus": 9, "count": 25, "q_min_kvar": -700, "q_max_kvar": 700, "pv_kw": 0, "dr_kw": 0},
]


def test_it_stores_the_run_and_one_message_per_dso_with_its_inputs(operator: User) -> None:
    run = do_run_opf(operator, "test", "case9", seed_004_dsos(), ["5-6"])
    messages = list(run.messages.order_by("bus"))
    assert [(m.bus, m.count) for m in messages] == [(5, 22), (7, 32), (9, 25)]
    assert all(-700 <= m.q_request_kvar <= 700 and m.v_pu >= 0.95 for m in messages)
    assert all(m.interval_start == run.interval_start for m in messages)
    assert run.inputs["outages"] == ["5-6"] and run.inputs["dsos"][0]["q_max_kvar"] == 700
    assert run.result["dsos"][2]["v_pu"] == pytest.approx(messages[2].v_pu, abs=1e-5)
    assert run.losses_mw < run.losses_mw_before and run.iterations >= 1
    audit = AuditRecord.objects.get(action="ems.opf", object_id=str(run.pk))
    assert audit.actor == operator and audit.after is not None and audit.after["dsos"] == 3


@pytest.mark.django_db
def test_it_stores_nothing_when_the_opf_cannot_be_solved() -> None:
    with pytest.raises(OpfError, match="The power flow of case9 \\(base case\\) did not converge"):
        do_run_opf(None, "test", "case9", [DsoInterface(5, 22, -1, 1, 400_000, 0)])
    with pytest.raises(OpfError, match="No operating point of case30 \\(base case\\) meets every limit"):
        do_run_opf(None, "test", "case30", [])
    assert not OpfRun.objects.exists() and not DsoMessage.objects.exists()
    assert not AuditRecord.objects.filter(action="ems.opf").exists()


def test_it_runs_stores_and_reads_back_through_the_api(operator: User, planner: User) -> None:
    client = client_for(operator)
    body = {"case": "case9", "dsos": SEED, "outages": ["5-6"], "interval_start": "2026-11-21T14:00:00Z"}
    made = client.post("/api/ems/opf/", body, content_type="application/json")
    assert made.status_code == 201, made.content
    doc = as_json(made)
    assert doc["interval_start"] == "2026-11-21T14:00:00+00:00" and len(doc["messages"]) == 3
    assert min(doc["result"]["buses"].values()) >= 0.95
    reader = client_for(planner)
    assert as_json(reader.get(f"/api/ems/opf/{doc['id']}/"))["messages"] == doc["messages"]
    assert [r["id"] for r in as_json(reader.get("/api/ems/opf/"))["results"]] == [doc["id"]]
    refused = reader.post("/api/ems/opf/", body, content_type="application/json")
    assert refused.status_code == 403  # planners study; operators dispatch


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"dsos": [{"bus": 42, "count": 3, "q_min_kvar": -1, "q_max_kvar": 1}]},
            "bus 42 does not exist in case9",
        ),
        ({"outages": ["5-7"]}, "No line 5-7 in case9"),
        ({"dsos": ["5x3:200:100"]}, "q_min (200 kvar) is above its q_max (100 kvar)"),
        ({"dsos": [{"bus": 5, "count": 3}]}, "Each DSO needs bus, count, q_min_kvar and q_max_kvar"),
        ({"dsos": [{"bus": 5.5, "count": 3, "q_min_kvar": 0, "q_max_kvar": 1}]}, "must be whole numbers"),
        ({"case": "case99"}, "Unknown case 'case99'"),
        ({"dsos": ["5x22:-1:1:400000:0"]}, "The power flow of case9 (base case) did not converge"),
        ({"interval_start": "tomorrow"}, "Bad interval_start 'tomorrow'"),
    ],
)
def test_it_refuses_bad_api_requests_and_stores_nothing(
    operator: User, body: dict[str, Any], message: str
) -> None:
    bad = client_for(operator).post("/api/ems/opf/", body, content_type="application/json")
    assert bad.status_code == 400 and message in as_json(bad)["errors"]["request"][0]
    assert not OpfRun.objects.exists()


def test_it_refuses_people_without_a_role(outsider: User) -> None:
    client = client_for(outsider)
    assert client.get("/api/ems/opf/").status_code == 403
    assert client.post("/api/ems/opf/", {}, content_type="application/json").status_code == 403


def opf_json(*args: str) -> Any:
    out = io.StringIO()
    call_command("ems_opf", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def test_it_solves_from_the_command_line_without_any_database() -> None:
    done = manage_without_database("ems_opf", "--seed-dsos", "--outage", "5-6", "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert [d["bus"] for d in doc["dsos"]] == [5, 7, 9] and min(doc["buses"].values()) >= 0.95
    assert doc["objective_mw"] < doc["objective_mw_before"] and doc["iterations"] >= 1
    table = io.StringIO()
    call_command("ems_opf", "--dso", "9x25:-700:700", stdout=table)
    assert table.getvalue().startswith("case9 (base case):") and "q_request_kvar" in table.getvalue()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dso", "42x3:-1:1"], "bus 42 does not exist in case9"),
        (["--dso", "5x3:200:100"], "q_min (200 kvar) is above its q_max (100 kvar)"),
        (["--dso", "5x3"], "Bad DSO interface '5x3'"),
        (["--outage", "5-7"], "No line 5-7 in case9"),
        (["--dso", "5x22:-1:1:400000:0"], "The power flow of case9 (base case) did not converge"),
    ],
)
def test_it_reports_bad_cli_input_as_command_errors(args: list[str], message: str) -> None:
    with pytest.raises(CommandError) as err:
        opf_json(*args)
    assert message in str(err.value)


@pytest.mark.django_db
def test_it_stores_from_the_command_line_only_when_asked() -> None:
    doc = opf_json("--seed-dsos", "--outage", "5-6", "--store", "--interval", "2026-11-21T15:00")
    run = OpfRun.objects.get(pk=doc["id"])
    assert run.interval_start.isoformat() == "2026-11-21T15:00:00+00:00" and run.messages.count() == 3
    with pytest.raises(CommandError, match="bus 42 does not exist"):
        opf_json("--dso", "42x3:-1:1", "--store")
    assert OpfRun.objects.count() == 1


def test_it_takes_an_uploaded_matpower_case_through_the_cli_and_the_api(
    tmp_path: Path, operator: User
) -> None:
    path = tmp_path / "case9x10.m"
    path.write_text(CASE9_X10)
    doc = opf_json("--case-file", str(path), "--dso", "50x22:-700:700", "--outage", "50-60")
    assert list(doc["buses"])[:2] == ["10", "20"] and doc["dsos"][0]["bus"] == 50
    with pytest.raises(CommandError, match="Cannot read the case file"):
        opf_json("--case-file", str(tmp_path / "missing.m"))
    path.write_text(CASE9_X10.replace("mpc.gen", "mpc.generators"))
    with pytest.raises(CommandError, match=r"no mpc\.gen matrix"):
        opf_json("--case-file", str(path))
    client = client_for(operator)
    body = {"case_file": CASE9_X10, "dsos": ["50x22:-700:700"], "outages": ["50-60"]}
    made = client.post("/api/ems/opf/", body, content_type="application/json")
    assert made.status_code == 201, made.content
    run = OpfRun.objects.get(pk=as_json(made)["id"])
    assert run.inputs["case_file"] == CASE9_X10 and run.messages.get().bus == 50
    bad = client.post("/api/ems/opf/", {"case_file": "mpc.bus = [];"}, content_type="application/json")
    assert bad.status_code == 400 and "no mpc.baseMVA" in as_json(bad)["errors"]["request"][0]
    assert OpfRun.objects.count() == 1


ABSURD_COUNTS: list[Any] = [1e30, 0, -4, 2.5, "nan", 1e308, 10**12, "22x"]


@pytest.fixture
def no_solve(monkeypatch: pytest.MonkeyPatch) -> None:
    """An absurd input must be refused before the OPF runs: any solve fails the test."""

    def solve(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the OPF ran on input it should have refused")

    monkeypatch.setattr("apps.ems.actions.run_opf", solve)
    monkeypatch.setattr("apps.ems.management.commands.ems_opf.run_opf", solve)


@pytest.mark.parametrize("count", ABSURD_COUNTS)
def test_it_refuses_an_absurd_dso_count_in_the_api_before_solving(
    operator: User, no_solve: None, count: Any
) -> None:
    body = {"case": "case9", "dsos": [{"bus": 5, "count": count, "q_min_kvar": -700, "q_max_kvar": 700}]}
    bad = client_for(operator).post("/api/ems/opf/", body, content_type="application/json")
    assert bad.status_code == 400, bad.content
    assert "feeder count must be a whole number from 1 to" in as_json(bad)["errors"]["request"][0]
    assert not OpfRun.objects.exists() and not DsoMessage.objects.exists()


@pytest.mark.parametrize("count", ["1e30", "0", "99999999999999999999", "2.5"])
def test_it_refuses_an_absurd_dso_count_on_the_page_and_the_cli(
    operator: User, no_solve: None, count: str
) -> None:
    line = f"5x{count}:-700:700"
    page = client_for(operator).post("/ems/runs/", {"case": "case9", "dsos": line, "outages": ""})
    assert page.status_code == 400
    assert "feeder count must be a whole number from 1 to" in page.content.decode()
    for store in ([], ["--store"]):
        with pytest.raises(CommandError, match="feeder count must be a whole number from 1 to"):
            opf_json("--dso", line, *store)
    assert not OpfRun.objects.exists() and not DsoMessage.objects.exists()
