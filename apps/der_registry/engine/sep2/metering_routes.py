"""The metering routes: the Metering Mirror function set a device posts to (/mup) and the Metering
function set that serves back what it posted (/upt), each reachable only by the mirror's own client."""

from __future__ import annotations

from collections.abc import Callable

from apps.der_registry.engine.sep2 import lists, usage
from apps.der_registry.engine.sep2 import mirror as mup
from apps.der_registry.engine.sep2.http import HttpError, Reply, Request
from apps.der_registry.engine.sep2.model import Client, Store
from apps.der_registry.engine.sep2.replies import created, document, page

Handler = Callable[[Client, Request, tuple[int, ...]], Reply]


class MeteringRoutes:
    def __init__(self, store: Store, poll_s: int) -> None:
        self.store = store
        self.poll_s = poll_s

    def table(self, n: str) -> list[tuple[str, str, Handler]]:
        """(method, path pattern, handler); `n` matches one number in a path."""
        return [
            ("GET", "/mup", self.get_mirrors),
            ("POST", "/mup", self.post_mirror),
            ("GET", f"/mup/{n}", self.get_mirror),
            ("PUT", f"/mup/{n}", self.put_mirror),
            ("POST", f"/mup/{n}", self.post_readings),
            ("DELETE", f"/mup/{n}", self.delete_mirror),
            ("GET", "/upt", self.get_usage_points),
            ("GET", f"/upt/{n}", self.get_usage_point),
            ("GET", f"/upt/{n}/mr", self.get_meter_readings),
            ("GET", f"/upt/{n}/mr/{n}", self.get_meter_reading),
            ("GET", f"/upt/{n}/mr/{n}/rt", self.get_reading_type),
            ("GET", f"/upt/{n}/mr/{n}/r", self.get_latest_reading),
            ("GET", f"/upt/{n}/mr/{n}/rs", self.get_reading_sets),
            ("GET", f"/upt/{n}/mr/{n}/rs/{n}", self.get_reading_set),
            ("GET", f"/upt/{n}/mr/{n}/rs/{n}/r", self.get_readings),
        ]

    # --- the mirror a device posts to ------------------------------------------------------------

    def _mirror_view(self, client: Client, mup_id: int) -> mup.MirrorView:
        view = self.store.mirror(client, mup_id)
        if view is None:
            raise HttpError(404, f"MirrorUsagePoint {mup_id} is not one of this client's mirrors.")
        return view

    def get_mirrors(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        views = lists.mirrors(self.store.mirrors(client))
        return document(mup.mirror_list(page(req).of(views), len(views), self.poll_s))

    def post_mirror(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        """A new mRID makes a mirror (201); a known one updates it (200); both say where it is."""
        mup_id, made = self.store.save_mirror(client, mup.decode_mirror(req.body))
        return Reply(201 if made else 200, headers={"Location": mup.mup(mup_id)})

    def get_mirror(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        return document(mup.mirror_element(self._mirror_view(client, ids[0])))

    def put_mirror(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        view, posted = self._mirror_view(client, ids[0]), mup.decode_mirror(req.body)
        if posted.mrid != view.mrid:
            raise HttpError(
                400, f"The mRID {posted.mrid} is not this mirror's ({view.mrid}); POST new mirrors to /mup."
            )
        self.store.save_mirror(client, posted)
        return Reply(204)

    def post_readings(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        # Ownership is checked where the readings are stored (one statement fewer per poll).
        if not self.store.post_readings(client, ids[0], mup.decode_meter_readings(req.body)):
            raise HttpError(404, f"MirrorUsagePoint {ids[0]} is not one of this client's mirrors.")
        return created(mup.mup(ids[0]))

    def delete_mirror(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        self.store.delete_mirror(client, self._mirror_view(client, ids[0]).mup_id)
        return Reply(204)

    # --- what it posted, served back --------------------------------------------------------------

    def _usage_point(self, client: Client, mup_id: int) -> mup.MirrorView:
        view = self.store.mirror(client, mup_id)
        if view is None:
            raise HttpError(404, f"UsagePoint {mup_id} is not one of this client's usage points.")
        return view

    def _meter_reading(self, client: Client, ids: tuple[int, ...]) -> mup.MeterReadingView:
        view = self._usage_point(client, ids[0])
        for mr in view.meter_readings:
            if mr.index == ids[1]:
                return mr
        raise HttpError(404, f"UsagePoint {ids[0]} has no MeterReading {ids[1]}.")

    def _reading_set(
        self, client: Client, ids: tuple[int, ...]
    ) -> tuple[mup.MeterReadingView, mup.ReadingSetView]:
        mr = self._meter_reading(client, ids)
        for rset in self.store.reading_sets(ids[0], mr.mrid):
            if rset.hour == ids[2]:
                return mr, rset
        raise HttpError(
            404, f"MeterReading {ids[1]} of UsagePoint {ids[0]} keeps no readings for hour {ids[2]}."
        )

    def get_usage_points(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        views = lists.mirrors(self.store.mirrors(client))
        return document(usage.usage_point_list(page(req).of(views), len(views), self.poll_s))

    def get_usage_point(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        return document(usage.usage_point(self._usage_point(client, ids[0])))

    def get_meter_readings(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        view = self._usage_point(client, ids[0])
        items = page(req).of(usage.ordered_meter_readings(view))
        return document(usage.meter_reading_list(view, items))

    def get_meter_reading(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        return document(usage.meter_reading(ids[0], self._meter_reading(client, ids)))

    def get_reading_type(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        return document(usage.reading_type(ids[0], self._meter_reading(client, ids)))

    def get_latest_reading(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        mr = self._meter_reading(client, ids)
        if mr.last_value is None:
            raise HttpError(404, f"MeterReading {ids[1]} of UsagePoint {ids[0]} has no reading yet.")
        return document(usage.latest_reading(ids[0], mr))

    def get_reading_sets(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        mr = self._meter_reading(client, ids)
        sets = usage.ordered_reading_sets(self.store.reading_sets(ids[0], mr.mrid))
        return document(usage.reading_set_list(ids[0], mr.index, page(req).of(sets), len(sets)))

    def get_reading_set(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        mr, rset = self._reading_set(client, ids)
        return document(usage.reading_set(ids[0], mr.index, rset))

    def get_readings(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        mr, rset = self._reading_set(client, ids)
        kept = self.store.readings(ids[0], mr.mrid, rset.start_s, rset.start_s + mup.HOUR_S)
        return document(usage.reading_list(ids[0], mr.index, rset, page(req).of(kept), len(kept)))
