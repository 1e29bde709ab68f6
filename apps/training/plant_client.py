"""The control room's side of the plant simulator's instructor API (apps/plant/engine/control.py),
at `CREST_PLANT_URL` with `CREST_PLANT_TOKEN`: plain HTTP on loopback, JSON both ways."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from django.conf import settings

TIMEOUT_S = 5.0


def call(method: str, path: str, doc: dict[str, Any] | None = None) -> tuple[int, Any, str]:
    """(HTTP status, the JSON answer, the plant's words on failure); status 0 when not reached."""
    base = settings.CREST_PLANT_URL.rstrip("/")
    if not base:
        return 0, None, "no plant simulator is configured (CREST_PLANT_URL)"
    data = json.dumps(doc or {}).encode() if method == "POST" else None
    request = urllib.request.Request(f"{base}{path}", data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if settings.CREST_PLANT_TOKEN:
        request.add_header("Authorization", f"Bearer {settings.CREST_PLANT_TOKEN}")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:
            return answer.status, json.loads(answer.read() or b"null"), ""
    except urllib.error.HTTPError as exc:
        try:
            words = str(json.loads(exc.read() or b"{}").get("error", ""))
        except (ValueError, AttributeError):
            words = ""
        return exc.code, None, words or f"the plant answered {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return 0, None, f"the plant simulator at {base} did not answer: {getattr(exc, 'reason', exc)}"
