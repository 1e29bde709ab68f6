"""The Celery app. Tasks live in celery_tasks/ and take ids, never ORM objects."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crest_web.settings")

app = Celery("crest_web")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Every pipeline-stage module of celery_tasks/, imported by workers and beat alike.
app.conf.imports = (
    "celery_tasks.health",
    "celery_tasks.registry",
    "celery_tasks.capability",
    "celery_tasks.dispatch",
    "celery_tasks.ems",
    "celery_tasks.cycle",
    "celery_tasks.training",
    "celery_tasks.alarms",
)
