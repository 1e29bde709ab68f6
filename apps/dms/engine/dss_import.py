"""Read the bus list of an OpenDSS feeder (names, phases, base kV, coordinates).

The full network importer (lines, transformers, loads …) builds on this; the DER registry needs
only buses and their phases to check where a DER may connect.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

# Coordinate files as the IEEE test feeders ship them, looked for beside the master file.
_COORD_PATTERNS = ("BusCoords.dat", "*BusXY.csv", "*buscoords*.csv", "*BusCoords*.csv")


class FeederImportError(ValueError):
    """The OpenDSS model could not be compiled or solved; the message says why."""


@dataclass(frozen=True)
class BusInfo:
    name: str
    phases: tuple[int, ...]
    base_kv: float  # line-to-neutral kV, as OpenDSS reports kVBase
    x: float | None
    y: float | None


def _coordinate_file(master: Path) -> Path | None:
    for pattern in _COORD_PATTERNS:
        found = sorted(master.parent.glob(pattern))
        if found:
            return found[0]
    return None


def read_buses(master: Path) -> list[BusInfo]:
    import opendssdirect as dss

    master = master.resolve()
    if not master.is_file():
        raise FeederImportError(f"No OpenDSS file at {master}.")
    dss.Text.Command("clear")
    cwd = os.getcwd()  # OpenDSS changes the working directory to the model's folder
    try:
        dss.Text.Command(f'compile "{master.resolve()}"')
        coords = _coordinate_file(master)
        if coords is not None:
            dss.Text.Command(f'buscoords "{coords.resolve()}"')
        dss.Solution.Solve()
    except Exception as exc:
        raise FeederImportError(f"OpenDSS could not compile {master.name}: {exc}") from exc
    finally:
        os.chdir(cwd)
    if not dss.Solution.Converged():
        raise FeederImportError(f"The power flow of {master.name} did not converge.")
    buses = []
    for name in dss.Circuit.AllBusNames():
        dss.Circuit.SetActiveBus(name)
        has_xy = bool(dss.Bus.Coorddefined())
        buses.append(
            BusInfo(
                name=name.lower(),
                phases=tuple(sorted(int(n) for n in dss.Bus.Nodes() if n in (1, 2, 3))),
                base_kv=float(dss.Bus.kVBase()),
                x=float(dss.Bus.X()) if has_xy else None,
                y=float(dss.Bus.Y()) if has_xy else None,
            )
        )
    return buses


def buses_to_json(buses: list[BusInfo]) -> str:
    return json.dumps([asdict(b) for b in buses], indent=1)


def buses_from_json(text: str) -> list[BusInfo]:
    return [BusInfo(b["name"], tuple(b["phases"]), b["base_kv"], b["x"], b["y"]) for b in json.loads(text)]
