"""What a PV unit could produce now: the one rule the dispatch and the live capability curve share."""

from __future__ import annotations

# Irradiance, in pu of the 1000 W/m² a PV rating is given at, taken for a unit that reports no
# available power. Nothing in the system measures irradiance (the registry's IEEE 1547 monitoring
# holds P, Q, V, f and states; no pyranometer or weather feed), so full sun is assumed: a P limit
# planned against it never holds a unit below what the sun gives unless the dispatch means to, a Q
# set point planned inside the kVA disk at full P stays deliverable at any lower irradiance, and
# curtailment is never under-reported. The cost: at lower sun the reported curtailment is an upper
# bound, OpenDSS sees more PV than there is (overvoltage on the safe side) and the live capability
# curve is the full-sun one. Replace this with a measurement when one exists; it is the only
# irradiance the dispatch and the capability curve use (docs/adr/0011).
IRRADIANCE_PU = 1.0


def available_pv_kw(p_rated_kw: float, reported_kw: float | None) -> float:
    """What a PV unit could produce now: the available power it reports (IEEE 2030.5 DERAvailability
    statWAvail), else its rating × `IRRADIANCE_PU`; never above the rating, never below 0. Never its
    present output or its P limit: after a P-limit set point the output is the limit, and taking that
    as available made every repeat of a request curtail below the last, to zero (issue #11)."""
    estimate = p_rated_kw * IRRADIANCE_PU if reported_kw is None else reported_kw
    return min(max(estimate, 0.0), p_rated_kw)
