"""Pushing Notifications: when a set point is issued for a DER, every subscription to that DER's
DERControlList (or active list) gets a Notification carrying the list, POSTed to its
notificationURI over TLS with the server's own certificate."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import ssl
from concurrent.futures import Executor
from dataclasses import dataclass
from urllib.parse import urlsplit

from apps.der_registry.engine.sep2 import groups
from apps.der_registry.engine.sep2 import resources as res
from apps.der_registry.engine.sep2.client import Sep2Connection
from apps.der_registry.engine.sep2.model import PendingGroupNotification, PendingNotification, Store
from apps.der_registry.engine.sep2.xmlcodec import SepXmlError, in_namespace, to_bytes

log = logging.getLogger("crest.sep2")
DELIVERY_TIMEOUT_S = 10.0


@dataclass
class Notifier:
    store: Store
    ctx: ssl.SSLContext  # the server's certificate, presented as a client to subscribers
    period_s: float = 2.0
    delivered: int = 0
    failed: int = 0

    async def run(self, pool: Executor) -> None:
        loop = asyncio.get_running_loop()
        after = await loop.run_in_executor(pool, self.store.latest_setpoint_id)
        group_after = await loop.run_in_executor(pool, self.store.latest_group_change)
        pending: set[asyncio.Task[None]] = set()
        while True:
            await asyncio.sleep(self.period_s)
            try:
                after, due = await loop.run_in_executor(pool, self.store.notifications_since, after)
                group_after, group_due = await loop.run_in_executor(
                    pool, self.store.group_notifications_since, group_after
                )
            except Exception:
                log.exception("looking for new DERControls to notify failed")
                continue
            items: list[PendingNotification | PendingGroupNotification] = [*due, *group_due]
            for item in items:
                task = asyncio.create_task(self.deliver(item))
                pending.add(task)
                task.add_done_callback(pending.discard)

    async def deliver(self, item: PendingNotification | PendingGroupNotification) -> None:
        if isinstance(item, PendingGroupNotification):  # a group program's list (`groups`)
            now = dt.datetime.now(dt.UTC)
            controls = groups.group_control_list(
                item.group_id, item.controls, len(item.controls), now, item.tail
            )
        else:
            controls = res.der_control_list(item.der_id, item.controls, len(item.controls))
        body = to_bytes(res.notification(item.der_id, item.sub, controls))
        try:
            body = in_namespace(body, item.sub.namespace)  # the edition the Subscription was written in
        except SepXmlError:
            log.warning("notifying %s in the 2013 edition: no 2018 schema", item.sub.notification_uri)
        url = urlsplit(item.sub.notification_uri)
        secure = url.scheme == "https"
        base = f"{url.scheme}://{url.hostname}:{url.port or (443 if secure else 80)}"
        conn = Sep2Connection(base, self.ctx if secure else None)
        try:
            answer = await asyncio.wait_for(conn.request("POST", url.path or "/", body), DELIVERY_TIMEOUT_S)
            ok = 200 <= answer.status < 300
        except (OSError, TimeoutError, ssl.SSLError, asyncio.IncompleteReadError):
            ok = False
        finally:
            await conn.close()
        if ok:
            self.delivered += 1
        else:
            self.failed += 1
            log.warning("notification to %s failed", item.sub.notification_uri)
