"""The `capability` command: DESIGN §7's document, signs, and clear refusals."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from tests.conftest import FEEDERS

IEEE13 = FEEDERS / "13Bus" / "IEEE13Nodeckt.dss"


def capability(*args: str) -> Any:
    out = io.StringIO()
    call_command("capability", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def test_it_reports_the_curve_of_an_opendss_file_the_designs_way() -> None:
    doc = capability("--dss", str(IEEE13), "--headroom", "0:1:0.5", "--detail")
    assert set(doc) == {"q_base_kvar", "points"}
    assert [p["headroom"] for p in doc["points"]] == [0.0, 0.5, 1.0]
    first = doc["points"][0]
    assert first["feasible"] and first["q_min_kvar"] < doc["q_base_kvar"] < first["q_max_kvar"]
    der = next(iter(first["min"]["ders"].values()))
    assert set(der) == {"bus", "phases", "p_kw", "q_kvar"}
    assert der["q_kvar"] > 0  # maximum capacitive support: DERs inject vars
    assert set(first["min"]["taps"]) <= {"reg1", "reg2", "reg3"}


def test_it_uses_the_registrys_active_ders_for_a_stored_feeder(ieee13: Any) -> None:
    call_command("add_pv", "ieee13", "--count", "30", "--seed", "3", stdout=io.StringIO())
    doc = capability("ieee13", "--headroom", "0:0:1")
    assert len(doc["points"]) == 1 and doc["points"][0]["feasible"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dss", str(IEEE13), "--headroom", "0:1.5:0.5"], "outside [0, 1]"),
        (["--dss", str(IEEE13), "--headroom", "0:1:0"], "step must be positive"),
        (["--dss", str(IEEE13), "--headroom", "a:b:c"], "START:STOP:STEP"),
        (["--dss", str(IEEE13), "--vtm", "0"], "--vtm must be greater than 0"),
        (["ghost"], "There is no feeder named 'ghost'"),
        ([], "either a feeder NAME or --dss"),
    ],
)
def test_it_refuses_bad_input_with_a_reason(args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message.replace("[", r"\[").replace("]", r"\]")):
        capability(*args)


def test_it_refuses_a_feeder_without_ders(ieee13: Any) -> None:
    with pytest.raises(CommandError, match="has no active DERs"):
        capability("ieee13")


def test_it_runs_and_stores_a_study_from_the_command_line(ieee13: Any) -> None:
    from apps.capability.models import CapabilityStudy

    out = io.StringIO()
    call_command(
        "capability_study", "compliance", "ieee13", "--count", "20", "--sides", "8", "--json", stdout=out
    )
    doc = json.loads(out.getvalue())
    assert [s["label"] for s in doc["series"]] == [
        "oversize 1.114, no headroom",
        "10.2% headroom, no oversize",
    ]
    assert CapabilityStudy.objects.get(pk=doc["study"]).status == "done"
    with pytest.raises(CommandError, match="v_tm range"):
        call_command("capability_study", "vtm", "ieee13", "--vtm-range", "1:0:1", stdout=io.StringIO())


@pytest.mark.parametrize(
    ("headroom", "message"),
    [
        ("0:1:5e-324", "gives more than 1001 points"),
        ("0:1:1e-6", "gives more than 1001 points"),
        ("0:1:-0.1", "step must be positive and finite"),
        ("0:1:nan", "step must be positive and finite"),
        ("0:1:inf", "step must be positive and finite"),
    ],
)
def test_it_refuses_an_absurd_headroom_step_like_a_usage_error(headroom: str, message: str) -> None:
    """Exit code 2 and a line on stderr, as argparse does for any bad option, not a traceback."""
    from tests.conftest import manage_without_database

    done = manage_without_database("capability", "--dss", str(IEEE13), "--headroom", headroom, "--json")
    assert done.returncode == 2 and message in done.stderr
    assert "argument --headroom" in done.stderr and "Traceback" not in done.stderr and not done.stdout
