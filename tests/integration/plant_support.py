"""The plant simulator on loopback for the integration tests: feeder `plant13` (IEEE 13) whose PV
answers over DNP3, its layout exported from the registry, and `run_plant` serving it."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

from django.core.management import call_command

from apps.der_registry.models import DER
from tests.integration.dnp3_support import ports
from tests.integration.dso_support import _manage, feeder

PV = 6
IEEE1815_2_DER = PV - 1  # the last DER by name serves the IEEE 1815.2 map; the others the compact one


def plant_layout(tmp_path: Path, *extra: str) -> tuple[Path, int, int]:
    """The layout file, the first DER's port and the RTU's port (`extra`: more export options)."""
    made = feeder("plant13", PV)
    first = ports(PV + 1)
    for i, der in enumerate(DER.objects.filter(feeder=made).order_by("name")):
        DER.objects.filter(pk=der.pk).update(
            comm_path="dnp3_direct",
            dnp3_host="127.0.0.1",
            dnp3_port=first + i,
            dnp3_outstation_address=10,
            dnp3_point_map="ieee1815_2" if i == IEEE1815_2_DER else "compact",
        )
    out = tmp_path / "layout.json"
    args = ["--out", str(out), "--feeder", "plant13", "--tie", "plant13:5"]
    call_command(
        "export_plant_layout", *args, "--rtu-base-port", str(first + PV), *extra, stdout=io.StringIO()
    )
    return out, first, first + PV


def start_plant(layout: Path, tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    """`run_plant` at noon, ten times real time, recording its truth; returns once it serves."""
    args = ["--layout", str(layout), "--ratio", "10", "--start-hour", "11"]
    proc = _manage("run_plant", *args, "--truth", str(tmp_path / "truth.jsonl"), *extra)
    assert proc.stdout is not None
    lines = iter(proc.stdout.readline, "")
    line = next((x for x in lines if "Plant:" in x or "Error" in x), "")  # past library log lines
    assert f"Plant: 1 feeder(s), {PV} DER(s) ({PV} over DNP3, 0 over IEEE 2030.5), 1 RTU(s)" in line, line
    return proc
