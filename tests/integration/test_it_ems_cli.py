"""EMS what-if power flow from the command line: DESIGN §7's JSON, clear errors, no database."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from tests.conftest import manage_without_database


def run_json(*args: str) -> Any:
    out = io.StringIO()
    call_command("ems_powerflow", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def test_it_prints_buses_generators_and_losses_of_the_seed_contingency() -> None:
    doc = run_json("--case", "case9", "--injection", "7:45:22", "--outage", "5-6")
    assert doc.keys() == {"buses", "generators", "losses_mw"}
    assert list(doc["buses"]) == [str(n) for n in range(1, 10)]
    assert all(isinstance(v, float) for v in doc["buses"].values())
    assert doc["generators"] == pytest.approx(
        {"1": 82.30, "2": 33.37, "3": -0.31}, abs=0.01
    )  # seed 004 Table VII
    assert 0 < doc["losses_mw"] < 50


def test_it_defaults_to_case9_and_takes_repeated_options() -> None:
    base = run_json()
    both = run_json("--injection", "7:45:0", "--injection", "9:10:5", "--outage", "5-6")
    assert base.keys() == both.keys() and base["buses"].keys() == both["buses"].keys()
    assert both["buses"]["9"] != base["buses"]["9"]
    two_out = run_json("--case", "case14", "--outage", "2-3", "--outage", "4-7")
    assert len(two_out["buses"]) == 14 and set(two_out["generators"]) == {"1", "2", "3", "6", "8"}


def test_it_prints_a_readable_table_without_json() -> None:
    out = io.StringIO()
    call_command("ems_powerflow", "--case", "case14", "--outage", "4-7", stdout=out)
    assert out.getvalue().startswith("case14 with outage 4-7: losses")
    assert "generator bus" in out.getvalue()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--injection", "42:1:0"], "Bus 42 does not exist in case9 (buses 1–9)"),
        (["--outage", "5-7"], "No line 5-7 in case9; lines: 1-4"),
        (["--injection", "7:45"], "Bad injection '7:45'"),
        (["--case", "case99"], "Unknown case 'case99'"),
        (["--injection", "7:5000:0"], "The power flow of case9 with injection 7:5000:0 did not converge"),
    ],
)
def test_it_reports_bad_studies_as_command_errors(args: list[str], message: str) -> None:
    with pytest.raises(CommandError) as err:
        run_json(*args)
    assert message in str(err.value)


def test_it_runs_ems_powerflow_without_any_database() -> None:
    done = manage_without_database("ems_powerflow", "--injection", "7:45:0", "--outage", "5-6", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["generators"] == pytest.approx(
        {"1": 85.62, "2": 45.36, "3": 10.21}, abs=0.01
    )
