"""What every registry action shares: the refusal it raises, the live event it publishes, the actor's name."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from apps.der_registry.engine.ieee1547 import Issue
from apps.der_registry.engine.setpoint_params import ReactiveRoom
from apps.der_registry.models import (
    DER,
)
from crest_web.accounts.audit import Actor
from crest_web.events import publish_on_commit


class RegistryError(ValueError):
    """A request the registry refuses; `issues` says why, field by field."""

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = issues
        super().__init__("; ".join(f"{i.field}: {i.message}" for i in issues))

    def by_field(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = defaultdict(list)
        for issue in self.issues:
            out[issue.field].append(issue.message)
        return dict(out)


def effective_room(der: DER) -> ReactiveRoom:
    """What a DER's effective ratings allow a power factor or a Q setting (at its active power rating)."""
    return ReactiveRoom.of({k: v.value for k, v in der.effective().items()})


def refuse(field: str, message: str) -> RegistryError:
    return RegistryError([Issue(field, message)])


def _publish(der: DER, event: str) -> None:
    publish_on_commit("registry", event, {"id": der.pk, "name": der.name, "status": der.status})


def _user(actor: Actor) -> Any:
    return actor if actor is not None and actor.is_authenticated else None


def _name(actor: Actor) -> str:
    user = _user(actor)
    return user.get_username() if user is not None else "system"
