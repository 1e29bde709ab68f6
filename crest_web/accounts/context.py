from __future__ import annotations

from django.http import HttpRequest

from crest_web.accounts.roles import role_of


def roles(request: HttpRequest) -> dict[str, object]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"role": ""}
    return {"role": role_of(user)}
