"""Read an OpenDSS feeder into the project's `Network` (`read_network`).

`read_network` checks the master file and everything it reads (`dss_sanitize`), runs it, solves it
with its own controls (regulator taps settle in the control loop), and reads every element into the
project's `Network`. Anything the project cannot model faithfully raises FeederImportError with a
sentence naming the element; nothing is dropped silently except the de-energized part behind an
open switch. The per-kind element readers live in `dss_elements`; this module runs, checks and
assembles.
"""

from __future__ import annotations

import math
import os
from dataclasses import replace
from pathlib import Path

from apps.dms.engine.dss_elements import (
    GENERATOR_CLASSES,
    read_buses,
    read_capacitors,
    read_generators,
    read_lines,
    read_loads,
    read_reactors,
    read_source,
    read_transformers,
)
from apps.dms.engine.dss_sanitize import MAX_SCRIPT_BYTES, ScriptLine, sanitize_script
from apps.dms.engine.dss_thread import on_dss_thread
from apps.dms.engine.dss_three_winding import read_three_winding
from apps.dms.engine.dss_transformers import merge_parallel
from apps.dms.engine.network import FeederImportError, Network, Transformer

__all__ = ["FeederImportError", "read_network"]

# Coordinate files as the IEEE test feeders ship them, looked for beside the master file.
_COORD_PATTERNS = ("BusCoords.dat", "*BusXY.csv", "*buscoords*.csv", "*BusCoords*.csv")
# Classes that only watch or control the circuit; their effect is already in the solved state.
_PASSIVE = {"regcontrol", "capcontrol", "energymeter", "monitor", "swtcontrol", "fuse", "relay", "recloser"}
_MODELLED = {"vsource", "line", "reactor", "transformer", "load", "capacitor", *GENERATOR_CLASSES}


def _coordinate_file(master: Path, upload_root: Path | None) -> Path | None:
    for pattern in _COORD_PATTERNS:
        found = sorted(master.parent.glob(pattern))
        if found:
            path = found[0].resolve()
            inside = upload_root is None or path.is_relative_to(upload_root.resolve())
            return path if inside and path.is_file() else None
    return None


def _compile_and_solve(master: Path, upload_root: Path | None, max_script_bytes: int) -> None:
    """Run the checked script one command at a time (OpenDSS never opens a script itself), then solve."""
    import opendssdirect as dss

    script = sanitize_script(master, upload_root=upload_root, max_bytes=max_script_bytes)
    coords = _coordinate_file(master.resolve(), upload_root)
    if coords is not None:
        script.append(ScriptLine(f'buscoords "{coords}"', coords.name))
    dss.Basic.AllowEditor(False)  # a report must never start a viewer on the server
    dss.Text.Command("clear")
    cwd = os.getcwd()  # kept whatever a command does to the working directory
    where = ""
    try:
        for line in script:
            where = f"{line.where}: "
            dss.Text.Command(line.command)
        where = ""
        dss.Solution.Solve()
    except Exception as exc:
        raise FeederImportError(
            f"OpenDSS could not compile or solve {master.name}: {where}{_opendss_says(exc, upload_root)}"
        ) from exc
    finally:
        os.chdir(cwd)
    if not dss.Solution.Converged():
        raise FeederImportError(f"The power flow of {master.name} did not converge.")


def _opendss_says(exc: Exception, upload_root: Path | None) -> str:
    """OpenDSS's message on one line, upload paths shown relative to the upload."""
    text = " ".join(str(exc).split())
    if upload_root is not None:
        text = text.replace(f"{upload_root.resolve()}/", "")
    return text[:400]


@on_dss_thread
def read_network(
    master: Path, name: str, *, upload_root: Path | None = None, max_script_bytes: int = MAX_SCRIPT_BYTES
) -> Network:
    """Compile and solve `master`, then read the energized radial feeder into a Network.

    The script is checked first (`dss_sanitize`): only commands that define a circuit run. An upload
    passes `upload_root`, the folder it was unpacked into, and may then read only files inside it;
    without it (a local file on the command line) any file its user can read may be named."""
    _compile_and_solve(master, upload_root, max_script_bytes)
    _check_element_classes()
    series_reactors, shunt_reactors = read_reactors()
    buses = read_buses()
    three_winding, stars = read_three_winding({b.name for b in buses})
    by_name = {b.name: b for b in buses}
    net = Network(
        name=name,
        buses=buses + tuple(star.bus(by_name[star.anchor]) for star in stars),
        lines=tuple(read_lines() + series_reactors),
        transformers=tuple(merge_parallel(read_transformers())) + tuple(three_winding),
        loads=tuple(read_loads()),
        capacitors=tuple(read_capacitors()),
        generators=tuple(read_generators()),
        shunt_reactors=tuple(shunt_reactors),
        **read_source(),
    )
    return _rebased(_orient(_energized(net)))


# --- checking the active OpenDSS circuit --------------------------------------------------------------


def _check_element_classes() -> None:
    import opendssdirect as dss

    for full in dss.Circuit.AllElementNames():
        kind, _, name = full.partition(".")
        kind = kind.lower()
        if kind in _PASSIVE:
            continue
        if kind not in _MODELLED:
            raise FeederImportError(
                f"{full} cannot be represented in the feeder model ({kind} elements are not supported)."
            )
        if kind == "vsource" and name.lower() != "source":
            raise FeederImportError(f"{full} is a second voltage source; only one source is supported.")
        if kind == "transformer":
            dss.Circuit.SetActiveElement(full)
            if dss.CktElement.NumTerminals() not in (2, 3):  # three: a center tap, checked when read
                raise FeederImportError(f"{full} has more than three windings, which is not supported.")


# --- energized radial part, oriented from the source --------------------------------------------------


def _energized(net: Network) -> Network:
    """Keep what the source reaches: open switches were not read, so what they de-energize goes."""
    live = set(net.topology().order)
    for bus in net.buses:
        if bus.name in live and bus.base_kv_ln <= 0:
            raise FeederImportError(
                f"Bus {bus.name} has no voltage base; add 'set voltagebases=[…]' and calcv."
            )
    return replace(
        net,
        buses=tuple(b for b in net.buses if b.name in live),
        lines=tuple(x for x in net.lines if x.bus_from in live),
        transformers=tuple(x for x in net.transformers if x.bus_from in live),
        loads=tuple(x for x in net.loads if x.bus in live),
        capacitors=tuple(x for x in net.capacitors if x.bus in live),
        generators=tuple(x for x in net.generators if x.bus in live),
        shunt_reactors=tuple(x for x in net.shunt_reactors if x.bus in live),
    )


def _orient(net: Network) -> Network:
    """Point every line away from the source and mark the feeder-head transformer (usable as OLTC)."""
    topo = net.topology()
    lines = []
    for ln in net.lines:
        if topo.parent.get(ln.bus_from) == ln.bus_to:
            ln = replace(ln, bus_from=ln.bus_to, bus_to=ln.bus_from)
        lines.append(ln)
    for tr in net.transformers:
        if topo.parent.get(tr.bus_from) == tr.bus_to:
            raise FeederImportError(
                f"Transformer.{tr.name} is fed from its second winding, which is not supported."
            )
    under: dict[str, int] = {b: 0 for b in topo.order}
    for ld in net.loads:
        under[ld.bus] += 1
    for bus in reversed(topo.order[1:]):
        under[topo.parent[bus]] += under[bus]
    trunk = [t for t in net.transformers if under[t.bus_to] == len(net.loads)]
    pool = [t for t in trunk if t.is_regulator] or trunk
    head = min(pool, key=lambda t: topo.depth[t.bus_to], default=None)
    transformers = tuple(
        replace(t, is_feeder_head=head is not None and (t.bus_from, t.bus_to) == (head.bus_from, head.bus_to))
        for t in net.transformers
    )
    return replace(net, lines=tuple(lines), transformers=transformers)


def _rebased(net: Network) -> Network:
    """Voltage bases from the transformers' ratings where OpenDSS's are off by more than a quarter.
    calcvoltagebases picks the listed base nearest each bus's no-load voltage, and behind a floating
    delta that voltage can be anything: the IEEE 4-bus open-wye/open-delta secondary got 7.2 kV
    instead of 2.4 kV, and showed at 0.28 pu. A transformer's secondary and everything behind it by
    lines take the winding rating's base instead."""
    topo, units = net.topology(), {f"transformer.{t.name}": t for t in net.transformers}
    base = {b.name: b.base_kv_ln for b in net.buses}
    for bus in topo.order[1:]:
        fed = [units[e] for e in topo.feeders[bus] if e in units]
        if fed:
            rated = _rated_kv_ln(fed[0])
            if abs(base[bus] - rated) > 0.25 * rated:
                base[bus] = rated
        else:
            base[bus] = base[topo.parent[bus]]  # a line carries its bus's base on
    return replace(net, buses=tuple(replace(b, base_kv_ln=base[b.name]) for b in net.buses))


def _rated_kv_ln(tr: Transformer) -> float:
    """The line-to-neutral voltage a transformer's secondary is rated for: a single-phase winding to
    ground (or a center tap's half) at its kV, anything between phases at kV/√3."""
    to_ground = tr.is_center_tap or (tr.conn_to == "wye" and tr.windings == 1 and not tr.phases_to)
    return tr.kv_to if to_ground else tr.kv_to / math.sqrt(3)
