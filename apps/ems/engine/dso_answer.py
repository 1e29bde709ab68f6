"""What the EMS makes of a DMS's answer beyond achieved Q (docs/protocols/dnp3-ems-dms.md, "The DMS's
view"): whether the DMS counts the feeders the EMS registered, and whether the request was met — in
the words of the alarms an operator sees. Framework-free: no Django here."""

from __future__ import annotations

from dataclasses import dataclass

from apps.ems.engine.dso_exchange import Exchange

# A Q shortfall is alarmed beyond this share of the request the DMS took (the default of the
# CREST_SHORTFALL_ALARM_SHARE setting), or this many kvar when the request is small: five times the
# DMS's own 2 % tolerance (dispatch_report.Q_SHORT), so a miss the DMS calls a shortfall but the
# transmission system barely notices does not alarm every interval.
SHORTFALL_ALARM_SHARE = 0.10
SHORTFALL_ALARM_FLOOR_KVAR = 100.0


@dataclass(frozen=True)
class Findings:
    """Operator messages; "" when there is nothing to say."""

    mismatch: str  # the DMS counts other feeders than the EMS registered or the run used
    shortfall: str  # the request was not met by more than the alarm share
    violations: str  # voltage violations were left after the dispatch


def _feeders(n: int) -> str:
    return f"{n} feeder" if n == 1 else f"{n} feeders"


def mismatch(label: str, dms_count: int | None, registered_count: int, ems_count: int) -> str:
    """Why the two sides disagree about the interface, or "" (also when the DMS did not say)."""
    if dms_count is None or dms_count == registered_count == ems_count:
        return ""
    ran = f"; the OPF run counted {ems_count}" if ems_count != registered_count else ""
    return (  # under the alarm's 300 characters
        f"DSO {label}: the DMS models {_feeders(dms_count)}, the EMS has it registered with "
        f"{registered_count}{ran}, so each side splits the Q totals otherwise. Correct the "
        "registration (EMS › DSO interfaces) or the DMS's --dso-feeder NAME:COUNT."
    )


def shortfall(label: str, ex: Exchange, share: float = SHORTFALL_ALARM_SHARE) -> str:
    """The request not met by more than `share` of it (and the floor), with the cause, or ""."""
    short, received = ex.dms_q_shortfall_kvar or 0.0, abs(ex.dms_q_received_kvar or 0.0)
    if short <= max(share * received, SHORTFALL_ALARM_FLOOR_KVAR):
        return ""
    cause = f" ({ex.dms_shortfall_cause})" if ex.dms_shortfall_cause else ""
    return f"DSO {label}: {short:,.0f} kvar {_which_way(ex)} {received:,.0f} kvar requested{cause}."


def _which_way(ex: Exchange) -> str:
    """Short of the request, past it (a DMS holding voltages can take more than asked) or the other
    way: "511 kvar short of" read wrong when the DMS had delivered 1,259 of the 748 kvar asked."""
    asked, got = ex.dms_q_received_kvar, ex.dms_q_achieved_kvar
    if asked is None or got is None:
        return "short of"
    if got * asked < 0:
        return f"off ({abs(got):,.0f} kvar the other way) the"
    return "short of" if abs(got) <= abs(asked) else f"more ({abs(got):,.0f} kvar) than the"


def violations(label: str, ex: Exchange) -> str:
    """The voltage violations the DMS's dispatch left, or ""."""
    if not ex.dms_violations_left:
        return ""
    return f"DSO {label}: {ex.dms_violations_left} voltage violations left after its dispatch."


def assess(
    ex: Exchange, label: str, *, registered_count: int, ems_count: int, share: float = SHORTFALL_ALARM_SHARE
) -> Findings:
    return Findings(
        mismatch(label, ex.dms_feeder_count, registered_count, ems_count),
        shortfall(label, ex, share),
        violations(label, ex),
    )


def dms_view(
    received_kvar: float | None,
    count: int | None,
    achieved_kvar: float | None,
    short_kvar: float | None,
    cause: str,
    violations_left: int | None,
) -> str:
    """The exchange as the DMS saw it, totals drawn: "received 14,600.0 kvar (1 × 14,600.0), achieved
    1,781.0, short 12,819.0 (capability limit); 106 voltage violations left"; "" before it said."""
    if received_kvar is None or not count:
        return ""
    text = f"received {received_kvar:,.1f} kvar ({count} × {received_kvar / count:,.1f})"
    if achieved_kvar is not None:
        text += f", achieved {achieved_kvar:,.1f}"
    if short_kvar:
        text += f", short {short_kvar:,.1f}" + (f" ({cause})" if cause else "")
    if violations_left:
        text += f"; {violations_left} voltage violations left"
    return text
