"""Commands that promise no database (DESIGN §7) run with neither DATABASE_URL nor REDIS_URL set;
commands that do need the database say so in words instead of starting."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import FEEDERS, ROOT, manage_without_database

IEEE13 = FEEDERS / "13Bus" / "IEEE13Nodeckt.dss"


def test_it_runs_powerflow_on_an_opendss_file_without_services() -> None:
    done = manage_without_database("powerflow", "--dss", str(IEEE13), "--engine", "opendss", "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert "671.1" in doc["voltages"] and doc["substation"]["p_kw"] > 3000


def test_it_runs_capability_on_an_opendss_file_without_services() -> None:
    done = manage_without_database(
        "capability",
        "--dss",
        str(IEEE13),
        "--pv-count",
        "10",
        "--headroom",
        "0:0:1",
        "--sides",
        "8",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert len(doc["points"]) == 1 and doc["points"][0]["feasible"]


def test_it_converts_a_feeder_without_services(tmp_path: Path) -> None:
    output = tmp_path / "ieee13.json"
    done = manage_without_database("convert_feeder", str(IEEE13), "--name", "ieee13", "--output", str(output))
    assert done.returncode == 0, done.stderr
    assert json.loads(output.read_text())["source_bus"] == "sourcebus"


def test_it_runs_the_ems_studies_without_services() -> None:
    flow = manage_without_database("ems_powerflow", "--outage", "5-6", "--json")
    assert flow.returncode == 0, flow.stderr
    assert set(json.loads(flow.stdout)["generators"]) == {"1", "2", "3"}
    opf = manage_without_database("ems_opf", "--seed-dsos", "--json")
    assert opf.returncode == 0, opf.stderr
    assert [d["bus"] for d in json.loads(opf.stdout)["dsos"]] == [5, 7, 9]


def test_it_says_a_command_needs_the_database_when_it_does() -> None:
    for args in (["powerflow", "ieee13", "--json"], ["ems_opf", "--seed-dsos", "--store", "--json"]):
        done = manage_without_database(*args)
        assert done.returncode != 0
        assert "needs the database" in done.stderr and "DATABASE_URL is not set" in done.stderr
        assert "Traceback" not in done.stderr


def test_the_web_server_still_refuses_to_start_without_its_services() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    done = subprocess.run(
        [sys.executable, "-c", "import crest_web.asgi"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode != 0 and "ConfigError: DATABASE_URL is not set" in done.stderr
