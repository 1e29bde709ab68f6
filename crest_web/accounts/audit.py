"""Writing audit records. Only do_* actions call this, inside their transaction."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db import models

from crest_web.accounts.models import AuditRecord

Actor = User | AnonymousUser | None


def jsonable(value: Any) -> Any:
    """Plain JSON for an audit snapshot: dates as ISO text, decimals as floats."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def snapshot(obj: models.Model, fields: list[str] | None = None) -> dict[str, Any]:
    """The concrete field values of a model instance (foreign keys as their ids)."""
    out: dict[str, Any] = {}
    for field in obj._meta.concrete_fields:
        if fields is not None and field.name not in fields:
            continue
        out[field.name] = jsonable(getattr(obj, field.attname))
    return out


def record(
    actor: Actor,
    source: str,
    action: str,
    obj: models.Model | None = None,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str = "",
    object_type: str = "",
    object_id: str = "",
) -> AuditRecord:
    user = actor if actor is not None and actor.is_authenticated else None
    return AuditRecord.objects.create(
        actor=user,
        actor_name=user.get_username() if user is not None else "system",
        source=source,
        action=action,
        object_type=object_type or (obj._meta.label_lower if obj is not None else ""),
        object_id=object_id or (str(obj.pk) if obj is not None else ""),
        object_repr=str(obj)[:200] if obj is not None else "",
        before=jsonable(before) if before is not None else None,
        after=jsonable(after) if after is not None else None,
        reason=reason,
    )
