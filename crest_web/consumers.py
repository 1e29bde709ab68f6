from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from crest_web.accounts.roles import has_role
from crest_web.events import TOPICS, group_name

# WebSocket close codes in the private range: not signed in, no role, asked for an unknown topic.
CLOSE_UNAUTHENTICATED = 4401
CLOSE_NO_ROLE = 4403
CLOSE_BAD_TOPIC = 4400


class EventsConsumer(AsyncJsonWebsocketConsumer):
    """Pushes crest.event messages of the requested topics (?topics=registry,alarms) to a page."""

    groups: list[str]

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if not await database_sync_to_async(has_role)(user):
            await self.close(code=CLOSE_NO_ROLE)
            return
        query = parse_qs(self.scope.get("query_string", b"").decode())
        topics = [t for raw in query.get("topics", ["registry"]) for t in raw.split(",") if t]
        if not topics or any(t not in TOPICS for t in topics):
            await self.close(code=CLOSE_BAD_TOPIC)
            return
        self.groups = [group_name(t) for t in topics]
        for group in self.groups:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "groups", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def crest_event(self, message: dict[str, Any]) -> None:
        await self.send_json(
            {"topic": message["topic"], "event": message["event"], "payload": message["payload"]}
        )
