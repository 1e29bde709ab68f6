"""CSV import: a dry-run preview first, then an all-or-nothing confirm that re-validates."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.der_registry.actions._common import _name, _user, refuse
from apps.der_registry.actions.enrollment import new_der
from apps.der_registry.adapters import build_context
from apps.der_registry.engine import csv_format
from apps.der_registry.engine.ieee1547 import DERRecord
from apps.der_registry.engine.lifecycle import Status
from apps.der_registry.models import (
    DER,
    CsvImport,
    DERGroup,
    LifecycleEvent,
)
from apps.dms.models import Feeder
from crest_web.accounts import audit
from crest_web.accounts.audit import Actor
from crest_web.accounts.models import AuditRecord
from crest_web.events import publish_on_commit


def _validated_csv(content: str) -> csv_format.ParsedFile:
    parsed = csv_format.parse_csv(content)
    if parsed.problems:
        return parsed
    records = [r.record for r in parsed.rows if r.record is not None]
    return csv_format.validate_file(parsed, build_context(records))


def _report(parsed: csv_format.ParsedFile) -> dict[str, Any]:
    rows = [
        {
            "line": row.line,
            "name": row.record.name if row.record else row.name,
            "errors": [{"field": i.field, "message": i.message} for i in row.issues if i.severity == "error"],
            "warnings": [
                {"field": i.field, "message": i.message} for i in row.issues if i.severity == "warning"
            ],
        }
        for row in parsed.rows
        if row.issues
    ]
    preview = [
        {
            "line": row.line,
            "name": row.record.name,
            "serial_number": row.record.serial_number,
            "feeder": row.record.feeder,
            "bus": row.record.bus,
            "phases": ".".join(str(p) for p in row.record.phases),
            "comm_path": row.record.comm_path,
            "active_power_kw": row.record.nameplate.active_power_kw,
        }
        for row in parsed.rows[:50]
        if row.record is not None
    ]
    return {
        "preview": preview,
        "problems": parsed.problems,
        "rows": rows,
        "total": len(parsed.rows),
        "bad": sum(1 for r in rows if r["errors"]),
    }


@transaction.atomic
def do_preview_csv_import(actor: Actor, source: str, filename: str, content: str) -> CsvImport:
    """Parse and validate a CSV upload; stores the upload for confirmation, writes no DER."""
    parsed = _validated_csv(content)
    report = _report(parsed)
    bad = report["bad"] + (1 if parsed.problems else 0)
    imp = CsvImport.objects.create(
        created_by=_user(actor),
        filename=filename[:200],
        content=content,
        row_count=len(parsed.rows),
        error_count=bad,
        warning_count=sum(1 for r in report["rows"] if r["warnings"]),
        report=report,
        status="previewed" if not bad else "rejected",
    )
    audit.record(
        actor,
        source,
        "der.import_preview",
        imp,
        after={"filename": filename, "rows": imp.row_count, "bad_rows": bad},
    )
    return imp


@transaction.atomic
def do_confirm_csv_import(actor: Actor, source: str, import_id: int) -> list[int]:
    """Create every DER of a previewed, error-free upload, or none of them."""
    imp = CsvImport.objects.select_for_update().get(pk=import_id)
    if imp.status != "previewed":
        raise refuse("import", f"This upload is {imp.status}; upload the file again.")
    parsed = _validated_csv(imp.content)  # the registry may have changed since the preview
    if not parsed.ok:
        imp.report, imp.status = _report(parsed), "rejected"
        imp.save(update_fields=["report", "status"])
        raise refuse(
            "import", "The file no longer validates against the registry; see the refreshed preview."
        )
    rows = [
        (r.record, [i for i in r.issues if i.severity == "warning"])
        for r in parsed.rows
        if r.record is not None
    ]
    feeders = {f.name: f for f in Feeder.objects.filter(name__in={rec.feeder for rec, _ in rows})}
    ders = DER.objects.bulk_create([new_der(rec, w, feeders[rec.feeder]) for rec, w in rows], batch_size=2000)
    _bulk_groups(ders, [rec for rec, _ in rows])
    who, name = _user(actor), _name(actor)
    LifecycleEvent.objects.bulk_create(
        [
            LifecycleEvent(
                der=d, to_status=Status.PENDING, by=who, by_name=name, reason=f"CSV import {imp.filename}"
            )
            for d in ders
        ],
        batch_size=5000,
    )
    AuditRecord.objects.bulk_create(
        [
            AuditRecord(
                actor=who,
                actor_name=name,
                source=source,
                action="der.enroll",
                object_type="der_registry.der",
                object_id=str(d.pk),
                object_repr=d.name,
                after=audit.snapshot(d),
                reason=f"CSV import #{imp.pk}",
            )
            for d in ders
        ],
        batch_size=2000,
    )
    imp.status, imp.committed_at = "committed", timezone.now()
    imp.save(update_fields=["status", "committed_at"])
    publish_on_commit("registry", "der.imported", {"count": len(ders), "import": imp.pk})
    return [d.pk for d in ders]


def _bulk_groups(ders: list[DER], records: list[DERRecord]) -> None:
    groups = {
        g.name: g for g in DERGroup.objects.filter(name__in={r.aggregator for r in records if r.aggregator})
    }
    through = DER.groups.through
    through.objects.bulk_create(
        [
            through(der_id=d.pk, dergroup_id=groups[r.aggregator].pk)
            for d, r in zip(ders, records, strict=True)
            if r.aggregator
        ],
        batch_size=5000,
    )
