from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

from crest_web.accounts.roles import role_of


def roles(request: HttpRequest) -> dict[str, object]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"role": "", "TIME_ZONE": settings.TIME_ZONE}
    return {"role": role_of(user), "TIME_ZONE": settings.TIME_ZONE}
