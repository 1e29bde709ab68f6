"""Live events: a signed-in page's WebSocket receives registry changes after they commit."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.test import Client

from apps.der_registry import actions
from crest_web.asgi import application
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
