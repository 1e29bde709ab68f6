"""Transformer banks read from OpenDSS that the radial model holds as one branch.

A substation often runs identical transformers in parallel between the same two buses (EPRI ckt7 has
three). Electrically, units at the same ratio and connection in parallel are one transformer: the
same no-load voltage behind the parallel combination of their leakage impedances, with their
magnetizing branches side by side. `merge_parallel` replaces such a group with that equivalent so
the feeder stays a tree; the equivalent solves exactly like the group (no circulating current flows
between units at equal ratios). Units in parallel at different ratios or connections do circulate
current, which a radial model cannot hold; they are refused, naming them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

from apps.dms.engine.network import FeederImportError, Transformer

__all__ = ["merge_parallel"]


def merge_parallel(transformers: list[Transformer]) -> list[Transformer]:
    """`transformers` with each group in parallel (same two buses and phases) replaced by its
    equivalent, named after its units joined by '+'; order kept (the equivalent takes the first's place)."""
    groups: dict[tuple[str, str, tuple[int, ...]], list[Transformer]] = defaultdict(list)
    for tr in transformers:
        groups[_ends(tr)].append(tr)
    out = []
    for tr in transformers:
        group = groups[_ends(tr)]
        if len(group) == 1:
            out.append(tr)
        elif group[0] is tr:
            out.append(_equivalent(group))
    return out


def _ends(tr: Transformer) -> tuple[str, str, tuple[int, ...]]:
    a, b = sorted((tr.bus_from, tr.bus_to))
    return a, b, tuple(sorted(tr.phases))


def _equivalent(group: list[Transformer]) -> Transformer:
    first = group[0]
    names = " and ".join(f"Transformer.{t.name}" for t in group)
    for other in group[1:]:
        same = (
            (other.bus_from, other.bus_to, other.phases, other.conn_from, other.conn_to, other.lead_lag)
            == (first.bus_from, first.bus_to, first.phases, first.conn_from, first.conn_to, first.lead_lag)
            and abs(other.kv_from - first.kv_from) <= 1e-9 * first.kv_from
            and abs(other.kv_to - first.kv_to) <= 1e-9 * first.kv_to
            and all(abs(a - b) <= 1e-9 for a, b in zip(other.tap, first.tap, strict=True))
        )
        if not same:
            raise FeederImportError(
                f"{names} are in parallel at different ratios, taps or connections; current would "
                "circulate between them, which a radial feeder model cannot represent."
            )
    if any(t.is_regulator for t in group):
        raise FeederImportError(f"{names} are regulators in parallel, which is not supported.")
    kva = sum(t.kva for t in group)
    # Admittances add: each unit's is its kVA over its per-unit impedance on its own rating.
    y = sum(t.kva / complex(t.r_pct, t.x_pct) for t in group)
    z_pct = kva / y
    return replace(
        first,
        name="+".join(t.name for t in group),
        kva=kva,
        r_pct=z_pct.real,
        x_pct=z_pct.imag,
        imag_pct=sum(t.kva * t.imag_pct for t in group) / kva,
        noload_pct=sum(t.kva * t.noload_pct for t in group) / kva,
        ppm_antifloat=sum(t.kva * t.ppm_antifloat for t in group) / kva,
    )
