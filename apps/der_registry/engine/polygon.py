"""The inverter's reactive capability as the LPs see it: the disk p² + q² ≤ S̄² replaced by an
inscribed regular polygon (seed 004 §III-B), so every constraint stays linear. Shared by the DMS
dispatch and the capability engine."""

from __future__ import annotations

import math


def edge_normals(sides: int) -> list[tuple[float, float]]:
    """(outward normal angle, smallest p in pu of S̄) of the inscribed `sides`-gon's edges (vertices at
    2πk/sides) that touch the half-plane p > 0; with p ≥ 0 the others are implied."""
    out = []
    for k in range(sides):
        p_ends = math.cos(2 * math.pi * k / sides), math.cos(2 * math.pi * (k + 1) / sides)
        if max(p_ends) > 1e-12:
            out.append(((2 * k + 1) * math.pi / sides, max(min(p_ends), 0.0)))
    return out


def polygon_radius_loss(sides: int) -> float:
    """Largest fraction of the disk radius the inscribed polygon loses: 1 − cos(π/sides)."""
    return 1.0 - math.cos(math.pi / sides)
