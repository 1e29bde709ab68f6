"""DER lifecycle: pending → approved → active ⇄ suspended → decommissioned."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    DECOMMISSIONED = "decommissioned"


# (from, to) → the verb an admin clicks.
TRANSITIONS: dict[tuple[Status, Status], str] = {
    (Status.PENDING, Status.APPROVED): "approve",
    (Status.PENDING, Status.DECOMMISSIONED): "reject",
    (Status.APPROVED, Status.ACTIVE): "activate",
    (Status.APPROVED, Status.DECOMMISSIONED): "decommission",
    (Status.ACTIVE, Status.SUSPENDED): "suspend",
    (Status.ACTIVE, Status.DECOMMISSIONED): "decommission",
    (Status.SUSPENDED, Status.ACTIVE): "resume",
    (Status.SUSPENDED, Status.DECOMMISSIONED): "decommission",
}

# Only DERs in these states take part in dispatch and in the capability the DSO reports.
DISPATCHABLE = frozenset({Status.ACTIVE})


def allowed_targets(current: str) -> dict[Status, str]:
    """The states reachable from `current`, each with its verb; empty for a final state."""
    return {to: verb for (frm, to), verb in TRANSITIONS.items() if frm == current}


# Taking a DER out of service must say why: the next shift reads it in the history.
REASON_REQUIRED = frozenset({Status.SUSPENDED, Status.DECOMMISSIONED})


def transition_problem(current: str, target: str, reason: str = "") -> str:
    """Why current → target (with this reason) is not allowed, or '' when it is."""
    valid = {s.value for s in Status}
    if target not in valid:
        return f"{target!r} is not a lifecycle state ({', '.join(sorted(valid))})."
    if (Status(current), Status(target)) in TRANSITIONS:
        if Status(target) in REASON_REQUIRED and not reason.strip():
            return f"Give a reason for making this DER {target}."
        return ""
    options = ", ".join(f"{verb} ({to})" for to, verb in allowed_targets(current).items())
    article = "An" if current[:1] in "aeiou" else "A"
    return f"{article} {current} DER cannot become {target}. " + (
        f"Allowed: {options}." if options else "It is final."
    )
