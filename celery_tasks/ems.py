"""The EMS side of the 5-minute cycle on the workers: send an OPF run's messages to the DSOs."""

from __future__ import annotations

import logging

from celery import shared_task
from django.contrib.auth.models import User

from apps.ems.link import send_run
from apps.ems.sending import LinkError, configured_tls_dir, unmark
from crest_web import task_names

log = logging.getLogger(__name__)


@shared_task(name=task_names.EMS_SEND_RUN)
def send_run_task(run_id: int, user_id: int | None = None) -> str:
    """Send the run's unanswered messages (do_request_send queued it) and record the answers, audited
    under the operator who asked. A run with nothing left to send (answered meanwhile) is skipped."""
    actor = User.objects.filter(pk=user_id).first() if user_id is not None else None
    try:
        report = send_run(
            run_id, actor, "task", tls_dir=configured_tls_dir(), tls_hint="set CREST_EMS_TLS_DIR"
        )
    except LinkError as exc:
        log.warning("OPF run %s not sent: %s", run_id, exc)
        return f"not sent: {exc}"
    finally:
        unmark("requested", run_id)
    errors = sum(1 for *_, r in report.sent if r.error)
    return f"{len(report.sent)} sent, {errors} with an error"
