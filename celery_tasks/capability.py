"""Capability studies on the workers; the study itself is apps/capability/runner.py, which the
`capability_study` command also runs in its own process."""

from __future__ import annotations

from celery import shared_task

from apps.capability import runner
from crest_web import task_names


@shared_task(name=task_names.CAPABILITY_RUN_STUDY)
def run_study(study_id: int) -> str:
    """Compute a study, reporting progress; stops when cancelled, skips one already finished."""
    return runner.run_study(study_id)
