"""Three-winding transformers read from OpenDSS (issue #15): center taps (dss_center_tap.py), and
single-phase units whose secondary and tertiary feed different buses or a delta — the IEEE 4-bus
YYD bank, three units `buses=[B2.k.0 B3.k.0 B5.k.k+1]` with a loaded delta tertiary.

Without its magnetizing branch a three-winding unit is exactly its star (T) equivalent: three
legs from an internal node, X_H = (XHL + XHT − XLT)/2 and the others alike, each winding's %R on its
own leg. So a unit becomes three two-winding pieces the model already solves — primary → star node
at the primary's voltage, star → secondary, star → tertiary — and the network stays radial, with one
internal bus per bank (`<first unit>_star`, at the primary bus's place). A leg may come out
negative (the YYD's low-voltage leg is −0.25 %), as it does in any textbook equivalent; the series
impedances between each pair of windings are what they were. OpenDSS gives XHL, XHT, XLT and every
winding's %R on winding 1's kVA, the pieces' common base."""

from __future__ import annotations

from dataclasses import dataclass

from apps.dms.engine.dss_center_tap import center_tap
from apps.dms.engine.dss_elements import _bus_name, _prop, _terminal_phases
from apps.dms.engine.network import Bus, Conn, FeederImportError, Transformer


@dataclass(frozen=True)
class StarBus:
    """The internal node of a bank's star equivalent: placed at `anchor` (its primary bus)."""

    name: str
    phases: tuple[int, ...]
    base_kv_ln: float
    anchor: str

    def bus(self, anchor: Bus) -> Bus:
        return Bus(self.name, self.phases, self.base_kv_ln, anchor.x, anchor.y)


@dataclass(frozen=True)
class _Winding:
    bus: str
    phases: tuple[int, ...]
    conn: Conn
    kv: float
    kva: float
    r_pct: float
    tap: float


def read_three_winding(bus_names: set[str]) -> tuple[list[Transformer], list[StarBus]]:
    """Every enabled three-winding transformer: a center tap, or the pieces of its star equivalent
    and the banks' internal buses (named clear of `bus_names`)."""
    import opendssdirect as dss

    out: list[Transformer] = []
    stars: dict[tuple[str, str, str], StarBus] = {}
    i = dss.Transformers.First()
    while i > 0:
        name = dss.Transformers.Name().lower()
        full = f"Transformer.{name}"
        dss.Circuit.SetActiveElement(full)
        if dss.CktElement.Enabled() and dss.Transformers.NumWindings() == 3:
            if _is_star_unit():
                out.extend(_star_pieces(full, name, stars, bus_names))
            else:
                out.append(center_tap(full, name))
        i = dss.Transformers.Next()
    return out, list(stars.values())


def _is_star_unit() -> bool:
    """Not a center tap: a single-phase unit whose second and third windings feed different buses
    or either of them is delta-connected (a center tap's halves share one bus and are wye)."""
    import opendssdirect as dss

    if dss.CktElement.NumPhases() != 1:
        return False
    buses = dss.CktElement.BusNames()
    deltas = []
    for w in (2, 3):
        dss.Transformers.Wdg(w)
        deltas.append(dss.Transformers.IsDelta())
    return _bus_name(buses[1]) != _bus_name(buses[2]) or any(deltas)


def _windings(full: str) -> list[_Winding]:
    import opendssdirect as dss

    nodes, buses = list(dss.CktElement.NodeOrder()), dss.CktElement.BusNames()
    out = []
    for w in (1, 2, 3):
        dss.Transformers.Wdg(w)
        conn: Conn = "delta" if dss.Transformers.IsDelta() else "wye"
        if conn == "wye" and (dss.Transformers.Rneut() > 0 or dss.Transformers.Xneut() > 0):
            raise FeederImportError(f"{full} has a neutral grounding impedance, which is not supported.")
        phases, conn = _terminal_phases(full, conn, 1, nodes[2 * (w - 1) : 2 * w])
        t = dss.Transformers
        out.append(_Winding(_bus_name(buses[w - 1]), phases, conn, t.kV(), t.kVA(), t.R(), t.Tap()))
    return out


def _star_pieces(
    full: str, name: str, stars: dict[tuple[str, str, str], StarBus], bus_names: set[str]
) -> list[Transformer]:
    import opendssdirect as dss

    h, low, t = _windings(full)
    if h.conn != "wye":
        raise FeederImportError(
            f"{full}: a three-winding unit is modelled with its primary from a phase to ground; this "
            f"one's primary spans nodes {list(h.phases)}, which is not supported."
        )
    key = (h.bus, low.bus, t.bus)
    star = stars.get(key)
    node = h.phases[0]
    if star is not None and node in star.phases:
        raise FeederImportError(
            f"{full} is a second three-winding unit on phase {node} of bus {h.bus} feeding {low.bus} and "
            f"{t.bus}; units in parallel with three windings are not supported."
        )
    if star is None:
        star_name = f"{name}_star"
        while star_name in bus_names:
            star_name += "_"
        star = StarBus(star_name, (), h.kv, h.bus)
    stars[key] = StarBus(star.name, tuple(sorted((*star.phases, node))), star.base_kv_ln, star.anchor)
    if float(_prop(full, "%imag")) or float(_prop(full, "%noloadloss")):
        raise FeederImportError(
            f"{full} has a magnetizing branch (%imag or %noloadloss), which is not supported on a "
            "three-winding unit other than a center tap."
        )
    xhl, xht, xlt = dss.Transformers.Xhl(), dss.Transformers.Xht(), dss.Transformers.Xlt()
    ppm = float(_prop(full, "ppm_antifloat"))
    legs = (
        (f"{name}_h", h.bus, star.name, h, (xhl + xht - xlt) / 2),
        (f"{name}_l", star.name, low.bus, low, (xhl + xlt - xht) / 2),
        (f"{name}_t", star.name, t.bus, t, (xht + xlt - xhl) / 2),
    )
    return [
        Transformer(
            leg, bus_from, bus_to, (node,), "wye", w.conn, h.kv, w.kv, h.kva,
            r_pct=w.r_pct, x_pct=x_pct, tap=(w.tap / h.tap,) if w is not h else (1.0,),
            ppm_antifloat=ppm, phases_to=w.phases if w.phases != (node,) else (),
        )
        for leg, bus_from, bus_to, w, x_pct in legs
    ]  # fmt: skip
