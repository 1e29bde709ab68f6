"""A signed-in person without a role sees only a page saying so, gets nothing from the API and no
live events, until an admin gives them a role."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from rest_framework.authtoken.models import Token

from tests.conftest import client_for

PAGES = ["/", "/account/token/", "/api/docs/", "/ems/whatif/", "/audit/", "/users/", "/ders/"]
API = ["/api/schema/", "/api/ders/", "/api/ems/opf/", "/api/audit/"]


@pytest.mark.parametrize("url", PAGES)
def test_it_shows_a_person_without_a_role_only_that_they_have_none(outsider: User, url: str) -> None:
    response = client_for(outsider).get(url)
    assert response.status_code == 403
    assert "You have no role yet" in response.content.decode()


@pytest.mark.parametrize("url", API)
def test_it_answers_every_api_call_of_a_person_without_a_role_with_403(outsider: User, url: str) -> None:
    assert client_for(outsider).get(url).status_code == 403
    token = Token.objects.create(user=outsider)
    assert Client().get(url, HTTP_AUTHORIZATION=f"Token {token.key}").status_code == 403


def test_it_lets_a_person_without_a_role_sign_in_and_out(outsider: User, client: Client) -> None:
    signed_in = client.post("/login/", {"username": "nobody", "password": "nobody-Password-123"}, follow=True)
    assert "You have no role yet" in signed_in.content.decode()
    assert client.post("/logout/").status_code == 302
    assert "_auth_user_id" not in client.session


def test_it_opens_the_pages_once_an_admin_gives_a_role(outsider: User) -> None:
    client = client_for(outsider)
    outsider.groups.add(Group.objects.get(name="planner"))
    assert client.get("/").status_code == 200
