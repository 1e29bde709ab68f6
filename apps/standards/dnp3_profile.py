"""How the DMS speaks DNP3 to a utility DER, as its DNP3 device profile states it: the point map the
outstation serves and the analog output (group 41) variation it parses for set points. The registry
stores and checks them, the DNP3 stack uses them; here, under both.

Plain words for each problem; the point maps themselves live with the DNP3 stack
(apps/dms/engine/dnp3/der_maps.py, docs/protocols/dnp3-dms-der.md)."""

from __future__ import annotations

# The CReST compact map (indices from 0) and the IEEE 1815.2 map (the MESA-DER profile's indices, as a
# certified inverter serves them); the field simulator and the demo plant serve either.
POINT_MAPS: dict[str, str] = {
    "compact": "CReST compact map (indices from 0)",
    "ieee1815_2": "IEEE 1815.2 (MESA-DER) indices",
}
DEFAULT_POINT_MAP = "compact"

# Level 2 outstations must parse g41v1 and g41v2 (IEEE 1815-2012 subset level 2); the floating-point
# variations only where the device profile says so.
AO_VARIATIONS: dict[str, str] = {
    "g41v1": "g41v1: 32-bit integer",
    "g41v2": "g41v2: 16-bit integer",
    "g41v3": "g41v3: single-precision float",
    "g41v4": "g41v4: double-precision float",
}
DEFAULT_AO_VARIATION = "g41v4"
FLOAT_VARIATIONS = ("g41v3", "g41v4")


def point_map_problem(point_map: str) -> str:
    if point_map not in POINT_MAPS:
        return f"The DNP3 point map must be one of {', '.join(POINT_MAPS)} (got {point_map!r})."
    return ""


def variation_problem(point_map: str, variation: str) -> str:
    """Why this variation cannot carry this map's set points ("" when it can)."""
    if variation not in AO_VARIATIONS:
        return f"The DNP3 set point variation must be one of {', '.join(AO_VARIATIONS)} (got {variation!r})."
    if point_map == "compact" and variation not in FLOAT_VARIATIONS:
        # The compact map's outputs are kW and kvar as such: an integer would drop the decimals.
        return (
            "The CReST compact point map carries set points in kW and kvar with decimals: choose g41v3 "
            "or g41v4, or the IEEE 1815.2 map (set points in W and var) for an integer variation."
        )
    return ""
