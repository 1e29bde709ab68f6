"""State changes of people and access. Each do_* owns its transaction and audit record."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction
from rest_framework.authtoken.models import Token

from crest_web.accounts import audit


@transaction.atomic
def do_rotate_token(user: User, source: str) -> Token:
    """Replace the user's API token; the old one stops working at once."""
    had = Token.objects.filter(user=user).delete()[0] > 0
    token = Token.objects.create(user=user)
    audit.record(
        user,
        source,
        "token.rotate" if had else "token.create",
        object_type="authtoken.token",
        object_id=str(user.pk),
        after={"user": user.get_username()},
    )
    return token
