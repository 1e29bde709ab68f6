"""Resource logic: routes a request from an identified client to the store and the encoders.
Synchronous and framework-free; the server runs it on a worker thread."""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections.abc import Callable, Sequence

from apps.der_registry.engine.sep2 import default_docs as dd
from apps.der_registry.engine.sep2 import hostclock, lists
from apps.der_registry.engine.sep2 import resources as res
from apps.der_registry.engine.sep2.contact import ContactBook, heard_from
from apps.der_registry.engine.sep2.derstate import (
    DER_RESOURCES,
    decode_der_resource,
    decode_end_device,
    decode_log_event,
    decode_response,
    decode_subscription,
)
from apps.der_registry.engine.sep2.editions import NS_2013
from apps.der_registry.engine.sep2.errors import INVALID_VALUES, error_reply
from apps.der_registry.engine.sep2.groups import GroupRoutes, group_fsa
from apps.der_registry.engine.sep2.http import HttpError, Reply, Request
from apps.der_registry.engine.sep2.metering_routes import MeteringRoutes
from apps.der_registry.engine.sep2.model import (
    Client,
    EndDeviceView,
    LogEventView,
    Sep2Refusal,
    Store,
    SubscriptionView,
)
from apps.der_registry.engine.sep2.replies import accepts_xml, created, document, one, page
from apps.der_registry.engine.sep2.xmlcodec import (
    CONTENT_TYPE,
    SepXmlError,
    in_namespace,
    namespace_of,
)
from apps.der_registry.engine.sep2_identity import sfdi_from_lfdi

log = logging.getLogger("crest.sep2")
Handler = Callable[[Client, Request, tuple[int, ...]], Reply]


class Sep2App:
    def __init__(
        self, store: Store, poll_s: int = 60, contact: ContactBook | None = None, server_lfdi: str = ""
    ) -> None:
        self.store = store
        self.poll_s = poll_s
        self.server_lfdi = server_lfdi.upper()  # the server's own identity (its certificate's LFDI)
        self.contact = contact or ContactBook()  # who was heard from when (the supervisor reads it)
        self._learned: dict[tuple[str, str], str] = {}  # (LFDI, edition identified with) → edition now
        self.metering = MeteringRoutes(store, poll_s)
        self.groups = GroupRoutes(store, poll_s)
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        for method, pattern, handler in self._table():
            self.routes.append((method, re.compile(f"^{pattern}$"), handler))

    def _table(self) -> list[tuple[str, str, Handler]]:
        n = r"(\d{1,12})"
        kinds = "|".join(DER_RESOURCES)
        return [
            ("GET", "/dcap", self.get_dcap),
            ("GET", "/tm", self.get_time),
            ("GET", "/sdev", self.get_self_device),
            ("GET", "/sdev/lel", lambda *_: document(res.self_log_event_list(self.poll_s))),
            ("GET", "/edev", self.get_edev_list),
            ("POST", "/edev", self.post_edev),
            ("GET", f"/edev/{n}", self.get_edev),
            ("GET", f"/edev/{n}/rg", self.get_registration),
            ("GET", f"/edev/{n}/fsa", self.get_fsa_list),
            ("GET", f"/edev/{n}/fsa/0", self.get_fsa),
            ("GET", f"/edev/{n}/fsa/0/derp", self.get_program_list),
            *self.groups.table(n),
            ("GET", f"/edev/{n}/der", self.get_der_list),
            ("GET", f"/edev/{n}/der/0", self.get_der),
            ("GET", f"/edev/{n}/der/0/({kinds})", self.get_der_state),
            ("PUT", f"/edev/{n}/der/0/({kinds})", self.put_der_state),
            ("GET", f"/edev/{n}/lel", self.get_log_events),
            ("POST", f"/edev/{n}/lel", self.post_log_event),
            ("GET", f"/edev/{n}/lel/{n}", self.get_log_event),
            ("GET", f"/edev/{n}/sub", self.get_subscriptions),
            ("POST", f"/edev/{n}/sub", self.post_subscription),
            ("GET", f"/edev/{n}/sub/{n}", self.get_subscription),
            ("DELETE", f"/edev/{n}/sub/{n}", self.delete_subscription),
            ("GET", f"/derp/{n}", self.get_program),
            ("GET", f"/derp/{n}/derc", self.get_controls),
            ("GET", f"/derp/{n}/actderc", self.get_active_controls),
            ("GET", f"/derp/{n}/derc/{n}", self.get_control),
            ("GET", f"/derp/{n}/dderc", self.get_default_control),
            ("GET", f"/derp/{n}/dc", self.get_curves),
            ("GET", f"/derp/{n}/dc/{n}", self.get_curve),
            *self.metering.table(n),
            ("GET", "/rsps", self.get_response_sets),
            ("GET", "/rsps/0", self.get_response_set),
            ("GET", "/rsps/0/rsp", self.get_responses),
            ("POST", "/rsps/0/rsp", self.post_response),
            ("GET", f"/rsps/0/rsp/{n}", self.get_response),
        ]

    # --- dispatch -------------------------------------------------------------------------

    def handle(self, lfdi: str, client: Client | None, req: Request) -> Reply:
        """The answer to one request, in the edition of 2030.5 the client speaks: the namespace of the
        document it sent, or (a GET) the one it last used, which the registry keeps (`Client.namespace`)."""
        sent = namespace_of(req.body)
        known = (
            NS_2013
            if client is None
            else self._learned.get((client.lfdi, client.namespace), client.namespace)
        )
        ns = sent or known
        reply = self._answer(lfdi, client, req)
        if client is not None and sent is not None and sent != known and reply.status < 400:
            self.store.note_namespace(client, sent)
            # A connection keeps the Client it was identified as; its next GETs follow the change too.
            self._learned[(client.lfdi, client.namespace)] = sent
        if reply.content_type != CONTENT_TYPE or not reply.body:
            return reply
        try:
            reply.body = in_namespace(reply.body, ns)
        except SepXmlError:  # a 2018 client, and the server was not given the 2018 schema
            log.warning("answering %s in the 2013 edition: this server has no 2018 schema", client)
        return reply

    def _answer(self, lfdi: str, client: Client | None, req: Request) -> Reply:
        if not accepts_xml(req.headers.get("accept", "")):
            return error_reply(
                406, "This server answers in application/sep+xml only; it does not speak EXI (sep-exi)."
            )
        if client is None:
            return error_reply(
                403,
                f"The client certificate (LFDI {lfdi}) belongs to no DER or aggregator in the registry; "
                "enrol the device with this LFDI first.",
            )
        try:
            return self._dispatch(client, req)
        except SepXmlError as exc:
            return error_reply(400, str(exc))
        except Sep2Refusal as exc:  # well-formed, but values the registry cannot take
            return error_reply(exc.status, str(exc), INVALID_VALUES if exc.status in (400, 409) else None)
        except HttpError as exc:
            return error_reply(exc.status, str(exc))

    def _dispatch(self, client: Client, req: Request) -> Reply:
        allowed = []
        for method, pattern, handler in self.routes:
            match = pattern.match(req.path)
            if match is None:
                continue
            if method != req.method:
                allowed.append(method)
                continue
            ids = self._ids(match.groups())
            self.contact.heard(heard_from(req.path, ids, client.der_ids, client.kind), time.time())
            if method in ("POST", "PUT"):
                self._check_content_type(req)
            return handler(client, req, ids)
        if allowed:
            allowed += ["HEAD"] if "GET" in allowed else []  # the server answers HEAD as GET
            reply = error_reply(405, f"{req.method} is not allowed on {req.path}; use {', '.join(allowed)}.")
            reply.headers["Allow"] = ", ".join(allowed)
            return reply
        return error_reply(404, f"There is no 2030.5 resource at {req.path}.")

    @staticmethod
    def _ids(groups: Sequence[str]) -> tuple[int, ...]:
        # The DER resource kind is the only non-numeric path part; it is passed by index.
        return tuple(int(g) if g.isdigit() else list(DER_RESOURCES).index(g) for g in groups)

    @staticmethod
    def _check_content_type(req: Request) -> None:
        kind = req.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != CONTENT_TYPE:
            raise HttpError(415, f"Send 2030.5 documents as {CONTENT_TYPE}, not {kind or 'no content type'}.")
        if not req.body:
            raise HttpError(400, "The request has no body; send the 2030.5 document.")

    def _own(self, client: Client, edev_id: int) -> int:
        if edev_id not in client.der_ids:
            raise HttpError(404, f"EndDevice {edev_id} is not one of this client's devices.")
        return edev_id

    def _edev_view(self, client: Client, edev_id: int) -> EndDeviceView:
        view = self.store.end_device(client, self._own(client, edev_id))
        if view is not None:
            return view
        raise HttpError(404, f"EndDevice {edev_id} has not been registered yet; POST it to /edev first.")

    # --- handlers ---------------------------------------------------------------------------

    def get_dcap(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        counts = len(self.store.end_devices(client)), len(self.store.mirrors(client))
        return document(res.device_capability(self.poll_s, *counts))

    def get_time(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        quality = hostclock.time_quality(hostclock.synchronised())
        return document(res.time_resource(dt.datetime.now(dt.UTC), self.poll_s, quality))

    def get_edev_list(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        views = lists.end_devices(self.store.end_devices(client))
        return document(res.end_device_list(page(req).of(views), len(views), self.poll_s))

    def post_edev(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        posted = decode_end_device(req.body)
        edev_id = self.store.register_end_device(client, posted.lfdi, posted.sfdi)
        return created(res.edev(edev_id))

    def get_edev(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        return document(res.end_device(self._edev_view(client, ids[0])))

    def get_registration(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        return document(res.registration(self._edev_view(client, ids[0]), self.poll_s))

    def get_fsa_list(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        der_id, p = self._own(client, ids[0]), page(req)
        groups = [group_fsa(der_id, program) for program in self.groups.programs(der_id)]
        return document(res.fsa_list(der_id, self.poll_s, p.start, p.limit, groups))

    def get_fsa(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        return document(res.fsa(self._own(client, ids[0])))

    def get_program_list(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        der_id, p = self._own(client, ids[0]), page(req)
        counts = self.store.program_counts(der_id)
        return document(res.der_program_list(der_id, *counts, self.poll_s, p.start, p.limit))

    def get_program(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        der_id = self._own(client, ids[0])
        counts = self.store.program_counts(der_id)
        return document(res.der_program(der_id, *counts))

    def get_der_list(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        p = page(req)
        return document(res.der_list(self._own(client, ids[0]), self.poll_s, p.start, p.limit))

    def get_der(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        return document(res.der(self._own(client, ids[0])))

    def get_der_state(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        der_id, kind = self._own(client, ids[0]), list(DER_RESOURCES)[ids[1]]
        state = self.store.der_state(der_id, kind)
        if state.updated_at is None:
            raise HttpError(404, f"The device has not reported its {DER_RESOURCES[kind][0]} yet.")
        return document(res.der_state_doc(der_id, kind, state))

    def put_der_state(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        der_id, kind = self._own(client, ids[0]), list(DER_RESOURCES)[ids[1]]
        self.store.put_der_state(client, der_id, kind, decode_der_resource(kind, req.body))
        return Reply(204)

    def get_controls(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        der_id = self._own(client, ids[0])
        views = self.store.controls(der_id)
        return document(res.der_control_list(der_id, page(req).of(views), len(views)))

    def get_active_controls(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        der_id = self._own(client, ids[0])
        # The newest control not superseded (the list runs oldest first).
        views = [v for v in self.store.controls(der_id) if v.status != "superseded"][-1:]
        return document(res.der_control_list(der_id, page(req).of(views), len(views), "actderc"))

    def get_control(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        der_id = self._own(client, ids[0])
        view = self.store.control(der_id, ids[1])  # also one no longer listed
        if view is None:
            raise HttpError(404, f"DERControl {ids[1]} is not in this program.")
        return document(res.der_control(der_id, view))

    def get_default_control(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        return document(dd.default_der_control(self.store.default_control(self._own(client, ids[0]))))

    def get_curves(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        der_id = self._own(client, ids[0])
        views = lists.curves(self.store.curves(der_id))
        return document(dd.der_curve_list(der_id, page(req).of(views), len(views)))

    def get_curve(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        der_id = self._own(client, ids[0])
        for view in self.store.curves(der_id):
            if view.curve_id == ids[1]:
                return document(dd.der_curve(der_id, view))
        raise HttpError(404, f"DER program {der_id} has no curve {ids[1]}.")

    def get_response_sets(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        return document(res.response_set_list(self.poll_s, len(self.store.responses(client))))

    def get_response_set(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        return document(res.response_set(len(self.store.responses(client))))

    def get_response(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        found = [v for v in self.store.responses(client) if v.response_id == ids[0]]
        return document(res.response(one(found, f"Response {ids[0]} is not one of this client's.")))

    def get_log_event(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        der_id = self._own(client, ids[0])
        found = [v for v in self.store.log_events(der_id) if v.log_id == ids[1]]
        return document(res.log_event(der_id, one(found, f"LogEvent {ids[1]} is not in this device's log.")))

    def get_subscription(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        der_id = self._own(client, ids[0])
        found = [v for v in self.store.subscriptions(der_id) if v.sub_id == ids[1]]
        return document(res.subscription(der_id, one(found, f"Subscription {ids[1]} is not this device's.")))

    def get_self_device(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        sfdi = sfdi_from_lfdi(self.server_lfdi) if self.server_lfdi else 0
        return document(res.self_device(self.server_lfdi, sfdi, self.poll_s))

    def get_responses(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        views = lists.responses(self.store.responses(client))
        return document(res.response_list(page(req).of(views), len(views)))

    def post_response(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        posted = decode_response(req.body)
        rid = self.store.record_response(
            client, posted.lfdi, posted.subject, posted.status, posted.created_at
        )
        return created(f"{res.RESPONSE_SET}/{rid}")

    def get_log_events(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        der_id = self._own(client, ids[0])
        views = lists.log_events(self.store.log_events(der_id))
        return document(res.log_event_list(der_id, page(req).of(views), len(views), self.poll_s))

    def post_log_event(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        der_id, p = self._own(client, ids[0]), decode_log_event(req.body)
        view = LogEventView(0, p.created_at, p.function_set, p.code, p.event_id, p.pen, p.profile, p.details)
        return created(f"{res.edev(der_id)}/lel/{self.store.record_log_event(client, der_id, view)}")

    def get_subscriptions(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        der_id = self._own(client, ids[0])
        views = lists.subscriptions(der_id, self.store.subscriptions(der_id))
        return document(res.subscription_list(der_id, page(req).of(views), len(views), self.poll_s))

    def post_subscription(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        der_id, p = self._own(client, ids[0]), decode_subscription(req.body)
        ns = namespace_of(req.body) or NS_2013
        view = SubscriptionView(0, p.resource, p.notification_uri, p.limit, p.encoding, p.level, ns)
        return created(f"{res.edev(der_id)}/sub/{self.store.subscribe(client, der_id, view)}")

    def delete_subscription(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        self.store.unsubscribe(client, self._own(client, ids[0]), ids[1])
        return Reply(204)
