"""Sign-in lock-out: one count for every sign-in path, by user name and by the client's real
address; X-Forwarded-For is believed only from the proxies named in CREST_TRUSTED_PROXIES."""

from __future__ import annotations

import http.cookiejar
import os
import re
import shlex
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client

from crest_web.env import database_url_with_name
from crest_web.launcher import free_port, stop_process, wait_for_port
from tests.conftest import ROOT

PASSWORD = "op1-Password-123"
LOCKED = "Too many failed sign-in attempts"


def sign_in(client: Client, path: str = "/login/", password: str = "wrong", forwarded_for: str = "") -> str:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else None
    response = client.post(path, {"username": "op1", "password": password}, headers=headers)
    return response.content.decode() if response.status_code == 200 else f"redirect {response.status_code}"


def test_it_counts_failures_at_the_admin_sign_in_towards_the_same_lock_out(
    operator: User, client: Client
) -> None:
    for _ in range(5):
        assert LOCKED not in sign_in(client, "/admin/login/")
    assert LOCKED in sign_in(client, "/admin/login/", PASSWORD)
    assert LOCKED in sign_in(client, "/login/", PASSWORD)
    assert "_auth_user_id" not in client.session


def test_it_locks_the_account_when_failures_come_from_ever_new_real_addresses(
    operator: User, client: Client, settings: object
) -> None:
    settings.CREST_TRUSTED_PROXIES = ["127.0.0.1"]  # type: ignore[attr-defined]
    for n in range(30):
        sign_in(client, forwarded_for=f"198.51.100.{n + 1}")
    page = sign_in(client, password=PASSWORD, forwarded_for="192.0.2.200")
    assert LOCKED in page
    assert "_auth_user_id" not in client.session


def test_it_uses_the_forwarded_address_behind_a_trusted_proxy(
    operator: User, client: Client, settings: object
) -> None:
    settings.CREST_TRUSTED_PROXIES = ["127.0.0.0/8"]  # type: ignore[attr-defined]
    for _ in range(5):
        sign_in(client, forwarded_for="198.51.100.7")
    assert LOCKED in sign_in(client, password=PASSWORD, forwarded_for="198.51.100.7")
    # The same person at another desk is still let in: the lock is on that address.
    assert sign_in(client, password=PASSWORD, forwarded_for="198.51.100.8") == "redirect 302"


def test_it_ignores_forwarded_addresses_from_a_peer_that_is_no_trusted_proxy(
    operator: User, client: Client, settings: object
) -> None:
    settings.CREST_TRUSTED_PROXIES = ["10.9.9.9"]  # type: ignore[attr-defined]
    for n in range(5):
        sign_in(client, forwarded_for=f"198.51.100.{n + 1}")
    assert LOCKED in sign_in(client, password=PASSWORD, forwarded_for="198.51.100.99")


def test_it_lets_an_admin_unlock_an_account_by_resetting_its_password(
    operator: User, admin_user: User, client: Client
) -> None:
    from crest_web.accounts.actions import do_reset_password

    for _ in range(5):
        sign_in(client)
    do_reset_password(admin_user, "web", operator, "A-new-Password-456")
    assert sign_in(client, password="A-new-Password-456") == "redirect 302"


# --- The real server, started exactly as the Procfile starts it -------------------------------


class Visitor:
    """A browser-like HTTP client (cookies, CSRF token, no redirects followed) for a live server."""

    def __init__(self, base: str) -> None:
        self.base = base
        jar = http.cookiejar.CookieJar()

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args: object, **kwargs: object) -> None:
                return None

        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)

    def sign_in(self, password: str = "wrong", forwarded_for: str = "") -> str:
        with self.opener.open(self.base + "/login/", timeout=30) as page:
            html = page.read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
        assert token is not None
        data = {"username": "op1", "password": password, "csrfmiddlewaretoken": token.group(1)}
        request = urllib.request.Request(self.base + "/login/", urllib.parse.urlencode(data).encode())
        if forwarded_for:
            request.add_header("X-Forwarded-For", forwarded_for)
        try:
            with self.opener.open(request, timeout=30) as answer:
                return str(answer.read().decode())
        except urllib.error.HTTPError as redirect:
            return f"redirect {redirect.code}"


def procfile_web_command(port: int) -> list[str]:
    line = next(ln for ln in (ROOT / "Procfile").read_text().splitlines() if ln.startswith("web:"))
    args = shlex.split(line.removeprefix("web:"))
    args[0] = str(ROOT / args[0])
    args[args.index("--port") + 1] = str(port)
    return args


@pytest.fixture
def deployed_server(tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """Starts daphne with the Procfile's flags against the test database, with the given
    CREST_TRUSTED_PROXIES; answers its base URL."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(trusted_proxies: str = "") -> str:
        port = free_port()
        db_name = connection.settings_dict["NAME"]
        env = {
            **os.environ,
            "DATABASE_URL": database_url_with_name(os.environ["DATABASE_URL"], db_name),
            "CREST_TRUSTED_PROXIES": trusted_proxies,
        }
        log = tmp_path / f"daphne-{port}.log"
        with log.open("wb") as out:
            procs.append(
                subprocess.Popen(procfile_web_command(port), cwd=ROOT, env=env, stdout=out, stderr=out)
            )
        wait_for_port(port, procs[-1], "daphne", log, timeout_s=60)
        return f"http://127.0.0.1:{port}"

    yield start
    for proc in procs:
        stop_process(proc)


@pytest.mark.django_db(transaction=True)
def test_it_locks_out_thirty_failures_that_each_forge_a_new_forwarded_address(
    operator: User, deployed_server: Callable[[str], str]
) -> None:
    visitor = Visitor(deployed_server(""))
    for n in range(30):
        visitor.sign_in(forwarded_for=f"203.0.113.{n + 1}")
    assert LOCKED in visitor.sign_in(PASSWORD, forwarded_for="203.0.113.250")


@pytest.mark.django_db(transaction=True)
def test_it_does_not_lock_a_real_users_address_named_in_forged_failures(
    operator: User, deployed_server: Callable[[str], str]
) -> None:
    base = deployed_server("127.0.0.1")
    attacker, colleague = Visitor(base), Visitor(base)
    # The attacker at 203.0.113.66 claims to be 10.1.2.3; our proxy appends the real address.
    for _ in range(5):
        attacker.sign_in(forwarded_for="10.1.2.3, 203.0.113.66")
    assert colleague.sign_in(PASSWORD, forwarded_for="10.1.2.3") == "redirect 302"
    assert LOCKED in attacker.sign_in(PASSWORD, forwarded_for="10.1.2.3, 203.0.113.66")


def test_it_refuses_to_start_with_a_malformed_trusted_proxy() -> None:
    env = {**os.environ, "CREST_TRUSTED_PROXIES": "10.0.0.5, proxy.example"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "CREST_TRUSTED_PROXIES: 'proxy.example' is not an IP address or network" in result.stderr
