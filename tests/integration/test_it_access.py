"""Sign-in on every page and endpoint, roles, API tokens, login throttling, security headers."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.authtoken.models import Token

from crest_web.accounts.models import AuditRecord
from crest_web.accounts.roles import PERMISSIONS
from tests.conftest import client_for

PAGES = [
    "/",
    "/ders/",
    "/ders/enroll/",
    "/ders/import/",
    "/ders/export.csv",
    "/audit/",
    "/account/token/",
    "/api/docs/",
]
API = ["/api/ders/", "/api/feeders/", "/api/der-groups/", "/api/audit/", "/api/schema/"]


@pytest.mark.django_db
@pytest.mark.parametrize("url", PAGES)
def test_it_sends_anonymous_visitors_to_the_login_page(client: Client, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


@pytest.mark.django_db
@pytest.mark.parametrize("url", API)
def test_it_answers_anonymous_api_calls_with_401(client: Client, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_it_gives_an_outsider_without_a_role_nothing(outsider: User) -> None:
    client = client_for(outsider)
    assert client.get("/ders/").status_code == 403
    assert client.get("/api/ders/").status_code == 403


def test_it_lets_an_operator_read_but_not_enroll(operator_client: Client) -> None:
    assert operator_client.get("/ders/").status_code == 200
    assert b"Enroll DER" not in operator_client.get("/ders/").content
    assert operator_client.get("/ders/enroll/").status_code == 403
    assert operator_client.post("/api/ders/", {}, content_type="application/json").status_code == 403
    assert operator_client.get("/audit/").status_code == 403


def test_it_lets_a_planner_read_the_registry_only(planner: User) -> None:
    client = client_for(planner)
    assert client.get("/api/ders/").status_code == 200
    assert client.get("/ders/import/").status_code == 403


def test_it_matches_the_documented_permission_matrix() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "permissions.md").read_text()
    for role, perms in PERMISSIONS.items():
        for perm in perms:
            assert f"`{perm}`" in doc, f"{perm} of {role} is not in docs/permissions.md"


def test_it_authenticates_scripts_with_a_token(admin_client: Client, admin_user: User) -> None:
    page = admin_client.post("/account/token/", follow=True)
    key = Token.objects.get(user=admin_user).key
    assert key.encode() in page.content
    assert key.encode() not in admin_client.get("/account/token/").content  # shown once
    script = Client()
    assert script.get("/api/ders/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200
    assert script.get("/api/ders/", HTTP_AUTHORIZATION="Token wrong").status_code == 401
    assert AuditRecord.objects.filter(action="token.create", actor=admin_user).exists()


def test_it_revokes_the_old_token_when_a_new_one_is_issued(admin_client: Client, admin_user: User) -> None:
    admin_client.post("/account/token/")
    old = Token.objects.get(user=admin_user).key
    admin_client.post("/account/token/")
    assert Client().get("/api/ders/", HTTP_AUTHORIZATION=f"Token {old}").status_code == 401


def test_it_locks_a_user_name_out_after_repeated_failures(
    operator: User, client: Client, settings: object
) -> None:
    for _ in range(5):
        response = client.post("/login/", {"username": "op1", "password": "wrong"})
        assert response.status_code == 200
    # The right password no longer works during the lock-out, and the page says why.
    response = client.post("/login/", {"username": "op1", "password": "op1-Password-123"})
    assert b"Too many failed sign-in attempts" in response.content
    assert "_auth_user_id" not in client.session


def test_it_signs_in_with_the_right_password(operator: User, client: Client) -> None:
    response = client.post("/login/", {"username": "op1", "password": "op1-Password-123"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200


def test_it_sends_security_headers_on_pages(operator_client: Client) -> None:
    response = operator_client.get("/ders/")
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert response["Referrer-Policy"] == "same-origin"
    assert response.cookies == {} or all(c["httponly"] for c in response.cookies.values())


def test_it_explains_a_refusal_in_the_apps_own_page(operator_client: Client) -> None:
    page = operator_client.get("/ders/enroll/")
    assert page.status_code == 403
    assert b"You are signed in as <strong>op1</strong> (operator)" in page.content


def test_it_renders_the_browsable_api_for_an_admin(admin_client: Client, enrolled: object) -> None:
    der = enrolled()  # type: ignore[operator]
    page = admin_client.get(f"/api/ders/{der.pk}/", HTTP_ACCEPT="text/html")
    assert page.status_code == 200 and b"pv-675-a" in page.content
