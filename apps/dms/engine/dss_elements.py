"""Read the elements of the active, solved OpenDSS circuit into the project's dataclasses, one reader
per kind (source, buses, lines and reactors, transformers, loads, capacitors, generators/PV/storage)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from apps.dms.engine.network import (
    Bus,
    Capacitor,
    Conn,
    FeederImportError,
    Generator,
    Line,
    Load,
    ShuntReactor,
    Transformer,
    shunt_windings,
)

# OpenDSS load models whose voltage dependence is a power law the solvers can follow (a ZIP load,
# model 8, is the sum of three: it is read as its Z, I and P parts).
_LOAD_MODELS = {1, 2, 3, 4, 5, 6, 7, 8}
GENERATOR_CLASSES = ("pvsystem", "generator", "storage")  # read as `Generator`s at their solved output
ZIP_PARTS = (("z", 2), ("i", 5), ("p", 1))  # suffix, the OpenDSS model of that part
_KM_PER_UNIT = {0: 1.0, 1: 1.609344, 2: 0.3048, 3: 1.0, 4: 0.001, 5: 0.0003048, 6: 0.0000254, 7: 0.00001}


def _yprim() -> NDArray[np.complex128]:
    import opendssdirect as dss

    flat = np.array(dss.CktElement.YPrim(), dtype=float)
    y = flat[0::2] + 1j * flat[1::2]
    n = round(math.sqrt(y.size))
    return y.reshape(n, n)


def _prop(element: str, prop: str) -> str:
    import opendssdirect as dss

    dss.Text.Command(f"? {element}.{prop}")
    return str(dss.Text.Result()).strip()


def _bus_name(spec: str) -> str:
    return spec.split(".")[0].lower()


def _cmatrix(m: NDArray[np.complexfloating[Any, Any]]) -> tuple[tuple[complex, ...], ...]:
    return tuple(tuple(complex(v) for v in row) for row in m)


def read_source() -> dict[str, Any]:
    """The Network fields describing Vsource.source: bus, voltage, angle, impedance matrix."""
    import opendssdirect as dss

    dss.Vsources.First()
    dss.Circuit.SetActiveElement("Vsource.source")
    if dss.CktElement.NumPhases() != 3:
        raise FeederImportError("Vsource.source is not three-phase; only three-phase sources are supported.")
    return dict(
        source_bus=_bus_name(dss.CktElement.BusNames()[0]),
        source_kv_ll=dss.Vsources.BasekV(),
        source_pu=dss.Vsources.PU(),
        source_angle_deg=dss.Vsources.AngleDeg(),
        source_z_ohm=_cmatrix(np.linalg.inv(-_yprim()[:3, 3:])),
        frequency_hz=dss.Vsources.Frequency(),
    )


def read_buses() -> tuple[Bus, ...]:
    import opendssdirect as dss

    out = []
    for name in dss.Circuit.AllBusNames():
        dss.Circuit.SetActiveBus(name)
        has_xy = bool(dss.Bus.Coorddefined())
        out.append(
            Bus(
                name=name.lower(),
                phases=tuple(sorted(int(n) for n in dss.Bus.Nodes() if n in (1, 2, 3))),
                base_kv_ln=float(dss.Bus.kVBase()),
                x=float(dss.Bus.X()) if has_xy else None,
                y=float(dss.Bus.Y()) if has_xy else None,
            )
        )
    return tuple(out)


def read_lines() -> list[Line]:
    """Lines in service; a switch open at either end is left out."""
    import opendssdirect as dss

    lines = []
    for name in dss.Lines.AllNames():
        full = f"Line.{name}"
        dss.Circuit.SetActiveElement(full)
        dss.Lines.Name(name)
        if not dss.CktElement.Enabled():
            continue
        n = dss.CktElement.NumPhases()
        opened = [dss.CktElement.IsOpen(t, p) for t in (1, 2) for p in range(1, n + 1)]
        if all(opened[:n]) or all(opened[n:]):
            continue
        if any(opened):
            raise FeederImportError(f"{full} is open on some phases only, which is not supported.")
        lines.append(_line(full, name.lower(), n))
    return lines


def read_reactors() -> tuple[list[Line], list[ShuntReactor]]:
    """Reactors in service: series ones (bus1 to bus2) as the zero-length lines they are electrically,
    shunt ones (second terminal grounded, or delta) as constant impedances."""
    import opendssdirect as dss

    series, shunts = [], []
    for full in dss.Circuit.AllElementNames():
        if not full.lower().startswith("reactor."):
            continue
        dss.Circuit.SetActiveElement(full)
        if not dss.CktElement.Enabled():
            continue
        n, name = dss.CktElement.NumPhases(), full.partition(".")[2].lower()
        nodes = list(dss.CktElement.NodeOrder())
        if dss.CktElement.NumTerminals() == 1 or all(node == 0 for node in nodes[n:]):
            shunts.append(_shunt_reactor(full, name, n, nodes))
        else:
            series.append(_line(full, name, n, series_only=True))
    return series, shunts


def _shunt_reactor(full: str, name: str, n: int, nodes: list[int]) -> ShuntReactor:
    """Each winding's admittance from the primitive matrix; the power it takes at its bus's base."""
    import opendssdirect as dss

    y = _yprim()[:n, :n]
    conn: Conn = "delta" if dss.CktElement.NumTerminals() == 1 else "wye"
    if conn == "delta" and n != 3:
        raise FeederImportError(f"{full} is a {n}-phase delta connection, which is not supported.")
    phases = tuple(nodes[:n])
    if 0 in phases:
        raise FeederImportError(f"{full} connects a phase conductor to ground.")
    windings = np.diag(y) if conn == "wye" else -np.array([y[k, (k + 1) % 3] for k in range(3)])
    coupled = np.abs(y - np.diag(np.diag(y))).max() > 1e-9 * np.abs(windings).max()
    if (conn == "wye" and coupled) or np.ptp(np.abs(windings)) > 1e-9 * np.abs(windings).max():
        raise FeederImportError(f"{full} is an unbalanced or coupled shunt reactor, which is not supported.")
    bus = _bus_name(dss.CktElement.BusNames()[0])
    dss.Circuit.SetActiveBus(bus)
    kv = float(dss.Bus.kVBase()) * (1.0 if conn == "wye" and n == 1 else math.sqrt(3))
    kv_w = shunt_windings(conn, phases, kv)[1]
    if kv_w <= 0:
        raise FeederImportError(f"Bus {bus} of {full} has no voltage base.")
    s_kva = complex(np.conj(windings).sum()) * kv_w**2 * 1000
    return ShuntReactor(name, bus, phases, conn, s_kva.imag, kv, s_kva.real)


def _line(full: str, name: str, n: int, series_only: bool = False) -> Line:
    """A two-terminal series element from its primitive admittance; `series_only`: not a Line
    (a reactor): no length, never a switch."""
    import opendssdirect as dss

    nodes = list(dss.CktElement.NodeOrder())
    if len(set(nodes[:n])) < n:  # OpenDSS repeats a bus's last node for conductors it was not given
        raise FeederImportError(
            f"{full} has {n} conductors but its buses name fewer nodes ({dss.CktElement.BusNames()[0]}): "
            "OpenDSS puts the rest on the same node, in parallel. Name a node for each phase, or reduce "
            "the neutral (LineGeometry reduce=yes)."
        )
    if dss.CktElement.NumConductors() != n or nodes[:n] != nodes[n:] or 0 in nodes:
        raise FeederImportError(f"{full} has neutral conductors or joins different phases at its two ends.")
    y = _yprim()
    series = -y[:n, n:]
    if abs(np.linalg.det(series)) == 0.0:
        raise FeederImportError(f"{full} has no series impedance that can be inverted.")
    z = np.linalg.inv(series)
    b_us = 2e6 * (y[:n, :n] - series).imag
    order = np.argsort(nodes[:n])
    z, b_us = z[np.ix_(order, order)], b_us[np.ix_(order, order)]
    buses = dss.CktElement.BusNames()
    return Line(
        name=name,
        bus_from=_bus_name(buses[0]),
        bus_to=_bus_name(buses[1]),
        phases=tuple(sorted(nodes[:n])),
        z_ohm=_cmatrix(z),
        b_shunt_us=tuple(tuple(float(v) for v in row) for row in b_us),
        length_km=0.0 if series_only else dss.Lines.Length() * _KM_PER_UNIT.get(dss.Lines.Units(), 1.0),
        is_switch=False if series_only else bool(dss.Lines.IsSwitch()),
    )


def _terminal_phases(full: str, conn: Conn, nphases: int, nodes: list[int]) -> tuple[tuple[int, ...], Conn]:
    """Phase nodes of one terminal; a one-phase wye element with its neutral on a phase is line-to-line.
    A one-phase element between a phase and ground is wye whichever end is written first (`bus.0.1`
    is `bus.1.0` reversed: the same power at the same voltage)."""
    phase_nodes = tuple(nodes[:nphases])
    if nphases == 1 and len(nodes) > 1 and 0 in nodes[:2]:
        live = [n for n in nodes[:2] if n != 0]
        if not live:
            raise FeederImportError(f"{full} connects ground to ground; it carries nothing.")
        return (live[0],), "wye"
    if conn == "delta":
        if nphases == 1:
            return tuple(nodes[:2]), "delta"
        if nphases != 3:
            raise FeederImportError(f"{full} is a {nphases}-phase delta connection, which is not supported.")
        return phase_nodes, "delta"
    neutral = nodes[nphases] if len(nodes) > nphases else 0
    if neutral != 0:
        if nphases == 1:
            return (phase_nodes[0], neutral), "delta"
        raise FeederImportError(f"{full} has an ungrounded wye neutral, which is not supported.")
    if 0 in phase_nodes:
        raise FeederImportError(f"{full} connects a phase conductor to ground.")
    return phase_nodes, "wye"


def read_transformers() -> list[Transformer]:
    import opendssdirect as dss

    regulated = set()
    for _ in _each(dss.RegControls):
        regulated.add(dss.RegControls.Transformer().lower())
    out = []
    for _ in _each(dss.Transformers):
        name = dss.Transformers.Name().lower()
        full = f"Transformer.{name}"
        dss.Circuit.SetActiveElement(full)
        if dss.CktElement.Enabled() and dss.Transformers.NumWindings() == 2:  # three: dss_center_tap
            out.append(_transformer(full, name, name in regulated))
    return out


def _windings(full: str) -> list[dict[str, Any]]:
    """Connection and ratings of both windings of the active transformer (winding 2 left active)."""
    import opendssdirect as dss

    nph, ncond = dss.CktElement.NumPhases(), dss.CktElement.NumConductors()
    nodes = list(dss.CktElement.NodeOrder())
    wdg = []
    for w in (1, 2):
        dss.Transformers.Wdg(w)
        conn: Conn = "delta" if dss.Transformers.IsDelta() else "wye"
        if conn == "wye" and (dss.Transformers.Rneut() > 0 or dss.Transformers.Xneut() > 0):
            raise FeederImportError(f"{full} has a neutral grounding impedance, which is not supported.")
        terminal = nodes[(w - 1) * ncond : w * ncond]
        neutral = terminal[nph] if conn == "wye" and nph == 3 and len(terminal) > nph else 0
        phases, conn = _terminal_phases(full, conn, nph, terminal[:nph] if neutral else terminal)
        t = dss.Transformers
        wdg.append(
            dict(phases=phases, conn=conn, kv=t.kV(), kva=t.kVA(), r=t.R(), tap=t.Tap(), neutral=neutral)
        )
    if wdg[1]["neutral"] or (wdg[0]["neutral"] and wdg[1]["conn"] != "delta"):
        raise FeederImportError(
            f"{full} has an ungrounded wye neutral, which is supported only on a wye–delta unit's primary."
        )
    return wdg


def _transformer(full: str, name: str, is_regulator: bool) -> Transformer:
    import opendssdirect as dss

    wdg = _windings(full)
    single = dss.CktElement.NumPhases() == 1  # one winding each side: they may span different nodes
    if wdg[0]["phases"] != wdg[1]["phases"] and not single:
        raise FeederImportError(
            f"{full} connects different phases on its two windings, which is not supported."
        )
    if not math.isclose(wdg[0]["kva"], wdg[1]["kva"]):
        raise FeederImportError(f"{full} has windings of different kVA ratings, which is not supported.")
    buses = dss.CktElement.BusNames()
    return Transformer(
        name=name,
        bus_from=_bus_name(buses[0]),
        bus_to=_bus_name(buses[1]),
        phases=wdg[0]["phases"],
        conn_from=wdg[0]["conn"],
        conn_to=wdg[1]["conn"],
        kv_from=wdg[0]["kv"],
        kv_to=wdg[1]["kv"],
        kva=wdg[0]["kva"],
        r_pct=wdg[0]["r"] + wdg[1]["r"],
        x_pct=dss.Transformers.Xhl(),
        tap=(wdg[1]["tap"] / wdg[0]["tap"],) * dss.CktElement.NumPhases(),
        tap_min=dss.Transformers.MinTap(),
        tap_max=dss.Transformers.MaxTap(),
        num_taps=dss.Transformers.NumTaps(),
        is_regulator=is_regulator,
        lead_lag="lead" if _prop(full, "leadlag").lower() in ("lead", "euro") else "lag",
        imag_pct=float(_prop(full, "%imag")),
        noload_pct=float(_prop(full, "%noloadloss")),
        ppm_antifloat=float(_prop(full, "ppm_antifloat")),
        phases_to=wdg[1]["phases"] if wdg[1]["phases"] != wdg[0]["phases"] else (),
        neutral_from=wdg[0]["neutral"],
    )


def _each(iface: Any) -> Any:
    """Iterate an OpenDSS class interface, leaving each element active in turn."""
    i = iface.First()
    while i > 0:
        yield i
        i = iface.Next()


def read_loads() -> list[Load]:
    import opendssdirect as dss

    out = []
    for _ in _each(dss.Loads):
        name = dss.Loads.Name().lower()
        full = f"Load.{name}"
        if not dss.CktElement.Enabled():
            continue
        model = dss.Loads.Model()
        if model not in _LOAD_MODELS:
            raise FeederImportError(f"{full} uses OpenDSS load model {model}; supported models are 1 to 8.")
        conn: Conn = "delta" if dss.Loads.IsDelta() else "wye"
        phases, conn = _terminal_phases(
            full, conn, dss.CktElement.NumPhases(), list(dss.CktElement.NodeOrder())
        )
        load = Load(
            name,
            _bus_name(dss.CktElement.BusNames()[0]),
            phases,
            conn,
            dss.Loads.kW(),
            dss.Loads.kvar(),
            model,
            dss.Loads.kV(),
            dss.Loads.Vminpu(),
            dss.Loads.Vmaxpu(),
            dss.Loads.CVRwatts(),
            dss.Loads.CVRvars(),
            float(_prop(full, "vlowpu")),
        )
        out.extend(_zip_parts(full, load, list(dss.Loads.ZipV())) if model == 8 else [load])
    return out


def _zip_parts(full: str, load: Load, zipv: list[float]) -> list[Load]:
    """A ZIP load as three: P = P0 (Zp V² + Ip V + Pp), Q = Q0 (Zq V² + Iq V + Pq), each with the
    drop-out voltage (7th coefficient)."""
    if len(zipv) < 6:
        raise FeederImportError(f"{full} is a ZIP load (model 8) without its ZIPV coefficients.")
    parts = []
    for k, (suffix, model) in enumerate(ZIP_PARTS):
        p_share, q_share = zipv[k], zipv[k + 3]
        p_kw, q_kvar, name = load.p_kw * p_share, load.q_kvar * q_share, f"{load.name}__{suffix}"
        cutoff = zipv[6] if len(zipv) > 6 else 0.0
        parts.append(
            dataclasses.replace(load, name=name, p_kw=p_kw, q_kvar=q_kvar, model=model, zip_cutoff_pu=cutoff)
        )
    return parts


def read_capacitors() -> list[Capacitor]:
    import opendssdirect as dss

    out = []
    for _ in _each(dss.Capacitors):
        name = dss.Capacitors.Name().lower()
        full = f"Capacitor.{name}"
        if not dss.CktElement.Enabled():
            continue
        nph = dss.CktElement.NumPhases()
        nodes = list(dss.CktElement.NodeOrder())
        conn: Conn = "delta" if dss.Capacitors.IsDelta() else "wye"
        if (conn == "delta" and nph == 1) or (conn == "wye" and any(nodes[nph:])):
            raise FeederImportError(f"{full} is not a shunt bank connected to ground or in a 3-phase delta.")
        states = list(dss.Capacitors.States())
        kvar = dss.Capacitors.kvar() * sum(states) / max(len(states), 1)
        out.append(
            Capacitor(
                name,
                _bus_name(dss.CktElement.BusNames()[0]),
                tuple(nodes[:nph]),
                conn,
                kvar,
                dss.Capacitors.kV(),
            )
        )
    return out


def read_generators() -> list[Generator]:
    import opendssdirect as dss

    rating = {"pvsystem": "Pmpp", "generator": "kW", "storage": "kWrated"}  # the rated kW, by class
    out = []
    for full in dss.Circuit.AllElementNames():
        kind = full.partition(".")[0].lower()
        if kind not in GENERATOR_CLASSES:
            continue
        dss.Circuit.SetActiveElement(full)
        if not dss.CktElement.Enabled():
            continue
        nph = dss.CktElement.NumPhases()
        conn: Conn = "delta" if _prop(full, "conn").lower().startswith("d") else "wye"
        phases, conn = _terminal_phases(full, conn, nph, list(dss.CktElement.NodeOrder()))
        powers = np.array(dss.CktElement.Powers(), dtype=float)
        kva = float(_prop(full, "kVA"))
        out.append(
            Generator(
                full.partition(".")[2].lower(),
                _bus_name(dss.CktElement.BusNames()[0]),
                phases,
                -float(powers[0::2].sum()),
                -float(powers[1::2].sum()),
                kva,
                float(_prop(full, "kV")),
                conn,
                kind,
                float(_prop(full, rating[kind])),
            )
        )
    return out
