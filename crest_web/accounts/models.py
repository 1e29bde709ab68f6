from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models


class AuditRecord(models.Model):
    """One state change: who did what to which object, when, and the values before and after."""

    class Source(models.TextChoices):
        WEB = "web", "Web page"
        API = "api", "REST API"
        CLI = "cli", "Command line"
        TASK = "task", "Background task"
        SYSTEM = "system", "System"

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    # Kept as text so the record still names the person after their account is deleted.
    actor_name = models.CharField(max_length=150)
    source = models.CharField(max_length=10, choices=Source.choices)
    action = models.CharField(max_length=60, db_index=True)
    object_type = models.CharField(max_length=60)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_name} {self.action} {self.object_repr}"

    def changed_fields(self) -> list[tuple[str, Any, Any]]:
        """(field, before, after) for every field whose value differs; empty for creations."""
        before = self.before or {}
        after = self.after or {}
        if not before:
            return []
        keys = sorted(set(before) | set(after))
        return [(k, before.get(k), after.get(k)) for k in keys if before.get(k) != after.get(k)]
