"""Live events: a signed-in page's WebSocket receives registry changes after they commit."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.test import Client, override_settings

from apps.der_registry import actions
from crest_web import events
from crest_web.asgi import application
from crest_web.launcher import free_port
from tests.conftest import make_record

pytestmark = pytest.mark.django_db(transaction=True)
ORIGIN = (b"origin", b"http://127.0.0.1")


def session_cookie(user: User) -> tuple[bytes, bytes]:
    client = Client()
    client.force_login(user)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


def run(scenario: Any) -> Any:
    from asgiref.sync import async_to_sync

    return async_to_sync(scenario)()


def test_it_pushes_an_enrolment_to_an_operators_page(operator: User, ieee13: Any) -> None:
    cookie = session_cookie(operator)

    async def scenario() -> dict[str, Any]:
        ws = WebsocketCommunicator(application, "/ws/events/?topics=registry", headers=[ORIGIN, cookie])
        connected, _ = await ws.connect()
        assert connected
        await database_sync_to_async(actions.do_enroll_der)(None, "system", make_record())
        message = await ws.receive_json_from(timeout=5)
        await ws.disconnect()
        return message

    message = run(scenario)
    assert message["event"] == "der.enrolled"
    assert message["payload"]["name"] == "pv-675-a" and message["payload"]["status"] == "pending"


def test_it_sends_nothing_for_a_change_that_rolled_back(operator: User, ieee13: Any) -> None:
    cookie = session_cookie(operator)

    async def scenario() -> bool:
        ws = WebsocketCommunicator(application, "/ws/events/?topics=registry", headers=[ORIGIN, cookie])
        await ws.connect()
        with pytest.raises(actions.RegistryError):
            await database_sync_to_async(actions.do_enroll_der)(None, "system", make_record(bus="nowhere"))
        nothing = await ws.receive_nothing(timeout=1)
        await ws.disconnect()
        return nothing

    assert run(scenario) is True


def test_it_refuses_anonymous_and_unknown_topics(operator: User) -> None:
    cookie = session_cookie(operator)

    async def scenario() -> tuple[Any, Any]:
        anonymous = WebsocketCommunicator(application, "/ws/events/", headers=[ORIGIN])
        first = await anonymous.connect()
        unknown = WebsocketCommunicator(application, "/ws/events/?topics=gossip", headers=[ORIGIN, cookie])
        second = await unknown.connect()
        return first, second

    (ok1, code1), (ok2, code2) = run(scenario)
    assert (ok1, code1) == (False, 4401)
    assert (ok2, code2) == (False, 4400)


def test_it_keeps_a_quiet_page_connected_longer_than_the_redis_read_timeout(
    operator: User, ieee13: Any
) -> None:
    cookie = session_cookie(operator)

    async def scenario() -> dict[str, Any]:
        import asyncio

        ws = WebsocketCommunicator(application, "/ws/events/?topics=registry", headers=[ORIGIN, cookie])
        await ws.connect()
        await asyncio.sleep(7)  # redis-py's default read timeout is 5 s
        await database_sync_to_async(actions.do_enroll_der)(None, "system", make_record())
        message = await ws.receive_json_from(timeout=5)
        await ws.disconnect()
        return message

    assert run(scenario)["event"] == "der.enrolled"


def test_it_refuses_live_events_to_a_person_without_a_role(outsider: User) -> None:
    cookie = session_cookie(outsider)

    async def scenario() -> Any:
        ws = WebsocketCommunicator(application, "/ws/events/?topics=registry", headers=[ORIGIN, cookie])
        return await ws.connect()

    assert run(scenario) == (False, 4403)


# Live events are sent after the change is committed; when they cannot be sent (Redis unreachable,
# or reachable and silent) the change stands and the user is told it was made. Seen before: the
# publish after commit raised into the request, so an operator's set point was stored and the
# answer was a server error (500) — an operator who retries then issues it twice.


def layer_at(port: int) -> dict[str, Any]:
    address = f"redis://127.0.0.1:{port}/0"
    config = {"hosts": [{"address": address, "socket_timeout": 1, "socket_connect_timeout": 1}]}
    return {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": config}}


@pytest.fixture
def silent_redis() -> Iterator[int]:
    """A port that accepts connections and never answers: Redis hung, or a stalled network path."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


@pytest.mark.parametrize("redis", ["unreachable", "silent"])
def test_it_keeps_the_set_point_and_says_so_when_live_events_cannot_be_sent(
    redis: str,
    silent_redis: int,
    admin_client: Client,
    enrolled: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(events, "SEND_TIMEOUT_S", 1.0)
    der = enrolled("active")
    port = free_port() if redis == "unreachable" else silent_redis
    with override_settings(CHANNEL_LAYERS=layer_at(port)):
        answer = admin_client.post(
            f"/api/ders/{der.pk}/setpoints/",
            {"control_mode": "active_reactive", "q_kvar": 2},
            "application/json",
        )
    assert answer.status_code == 201
    assert [sp.q_kvar for sp in der.setpoints.all()] == [2.0]
    assert "live event registry/der.setpoint was not sent" in caplog.text
