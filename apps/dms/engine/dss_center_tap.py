"""Center-tapped single-phase service transformers read from OpenDSS (issue #15).

The North American service transformer: one primary winding (phase to ground, or between two phases)
and two secondary half-windings in series, their midpoint grounded, written in OpenDSS as a
three-winding unit with `buses=[p.1 s.1.0 s.0.2]`: winding 2 from node 1 to ground, winding 3 from
ground to node 2, so nodes 1 and 2 sit 180° apart at 120 V each and 240 V between them. Loads and
triplex lines then hang on `s.1`, `s.2` or `s.1.2`. A single-phase unit whose other windings feed
different buses or a delta is a star equivalent (dss_three_winding.py, which calls this for the rest);
any other three-winding arrangement is refused, naming the transformer.
"""

from __future__ import annotations

import math

from apps.dms.engine.dss_elements import _bus_name, _prop, _terminal_phases
from apps.dms.engine.network import Conn, FeederImportError, Transformer


def center_tap(full: str, name: str) -> Transformer:
    """The active three-winding transformer as a center tap, or refused in words."""
    import opendssdirect as dss

    not_ct = f"{full} has three windings but is not a center-tapped single-phase transformer"
    if dss.CktElement.NumPhases() != 1:
        raise FeederImportError(f"{not_ct} ({dss.CktElement.NumPhases()} phases); it is not supported.")
    nodes = list(dss.CktElement.NodeOrder())  # two conductors per winding
    primary, conn = _primary(full)
    first, second = nodes[2:4], nodes[4:6]
    if first[1] != 0 or second[0] != 0 or 0 in (first[0], second[1]) or first[0] == second[1]:
        raise FeederImportError(
            f"{not_ct}: its secondary windings must run from one node to ground and from ground to "
            f"another (buses=[… s.1.0 s.0.2]), not {first} and {second}."
        )
    winding = []
    for w in (1, 2, 3):
        dss.Transformers.Wdg(w)
        winding.append(
            (dss.Transformers.kV(), dss.Transformers.kVA(), dss.Transformers.R(), dss.Transformers.Tap())
        )
    (kv1, kva, r1, tap1), (kv2, kva2, r2, tap2), (kv3, kva3, r3, tap3) = winding
    if not (math.isclose(kva, kva2) and math.isclose(kva, kva3) and math.isclose(kv2, kv3)):
        raise FeederImportError(
            f"{full}: its half-windings differ from each other or from the primary's kVA."
        )
    if not math.isclose(tap2, tap3):
        raise FeederImportError(f"{full}: its two half-windings are on different taps.")
    xhl, xht, xlt = dss.Transformers.Xhl(), dss.Transformers.Xht(), dss.Transformers.Xlt()
    buses = dss.CktElement.BusNames()
    return Transformer(
        name=name,
        bus_from=_bus_name(buses[0]),
        bus_to=_bus_name(buses[1]),
        phases=primary,
        conn_from=conn,
        conn_to="wye",
        kv_from=kv1,
        kv_to=kv2,
        kva=kva,
        r_pct=r1 + r2,
        x_pct=xhl,
        tap=(tap2 / tap1,),
        tap_min=dss.Transformers.MinTap(),
        tap_max=dss.Transformers.MaxTap(),
        num_taps=dss.Transformers.NumTaps(),
        imag_pct=float(_prop(full, "%imag")),
        noload_pct=float(_prop(full, "%noloadloss")),
        ppm_antifloat=float(_prop(full, "ppm_antifloat")),
        phases_to=(first[0], second[1]),
        center_tap_pct=(r1, r2, r3, xhl, xht, xlt),
    )


def _primary(full: str) -> tuple[tuple[int, ...], Conn]:
    """The primary's phase node (to ground) or nodes (between two phases)."""
    import opendssdirect as dss

    dss.Transformers.Wdg(1)
    conn: Conn = "delta" if dss.Transformers.IsDelta() else "wye"
    return _terminal_phases(full, conn, 1, list(dss.CktElement.NodeOrder())[0:2])
