"""The cycle's collect stage on the Django side (issue #12 items 3–4): read every registered DSO's
outstation, keep its operating point (the substation meter, per feeder) on its interface, ask the
DMSs without a recent range for their capability first, and give the OPF its DSO lines at the
measured operating point."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from apps.dms.engine.dnp3.ems_dms_frame import ems_q_range_kvar, per_feeder
from apps.dms.engine.dnp3.master import MasterOptions
from apps.dms.engine.dnp3.stack import shutdown_manager
from apps.ems.actions import registered_dsos
from apps.ems.engine.dnp3_link import EmsDnp3Master
from apps.ems.engine.dso import DsoInterface, at_operating_point
from apps.ems.engine.dso_collect import Collected, collect
from apps.ems.link import tls_files
from apps.ems.models import DsoEndpoint
from apps.ems.sending import LinkError
from crest_web.accounts import audit
from crest_web.events import publish_on_commit


def collect_dsos(
    ask_id: int,
    ask_names: Collection[str],
    *,
    tls_dir: Path | None,
    read_timeout_s: float,
    ask_timeout_s: float,
) -> dict[str, Collected]:
    """Read every registered DSO; ask those named in `ask_names` (that have a base demand to measure
    a range from) for their capability under the id `ask_id`. Records what was read."""
    endpoints = list(DsoEndpoint.objects.all())
    if not endpoints:
        return {}
    try:
        tls = tls_files(tls_dir)
    except LinkError as exc:
        return {e.name: Collected(e.name, error=str(exc)) for e in endpoints}
    master = EmsDnp3Master(MasterOptions(event_poll_s=0.2))
    try:
        for e in endpoints:
            if not e.tls or tls is not None:
                master.add_dso(e.name, e.host, e.port, e.address, tls if e.tls else None)
        linked = [e.name for e in endpoints if e.name in master.pool.links]
        ask = {n: ask_id for n in linked if n in ask_names}
        found = collect(master, linked, ask, read_timeout_s=read_timeout_s, ask_timeout_s=ask_timeout_s)
    finally:
        master.close()
        shutdown_manager()
    for e in endpoints:
        found.setdefault(e.name, Collected(e.name, error="DNP3 over TLS needs CREST_EMS_TLS_DIR"))
        do_record_collected(e.pk, found[e.name])
    return found


@transaction.atomic
def do_record_collected(endpoint_id: int, c: Collected) -> DsoEndpoint:
    """Keep the operating point read (per feeder) and a range computed on our ask, measured from the
    base the next OPF takes (the measured Q, else the registered base)."""
    e = DsoEndpoint.objects.select_for_update().get(pk=endpoint_id)
    n = e.feeder_count
    fields = []
    if c.p_kw is not None and c.q_kvar is not None and c.measured_t_s:
        e.p_measured_kw, e.q_measured_kvar = per_feeder(c.p_kw, n), per_feeder(c.q_kvar, n)
        e.v_measured_pu, e.measured_at = c.v_pu, dt.datetime.fromtimestamp(c.measured_t_s, dt.UTC)
        fields += ["p_measured_kw", "q_measured_kvar", "v_measured_pu", "measured_at"]
    base = e.q_measured_kvar if "measured_at" in fields else e.q_base_kvar
    if c.range_kvar is not None and base is not None:
        before = {"q_min_kvar": e.q_min_kvar, "q_max_kvar": e.q_max_kvar}
        e.q_min_kvar, e.q_max_kvar = ems_q_range_kvar(*c.range_kvar, base, n)
        e.range_q_base_kvar, e.range_reported_at = base, timezone.now()
        fields += ["q_min_kvar", "q_max_kvar", "range_q_base_kvar", "range_reported_at"]
        after = {"q_min_kvar": e.q_min_kvar, "q_max_kvar": e.q_max_kvar}
        audit.record(None, "cycle", "ems.dso_capability", e, before=before, after=after)
    if fields:
        e.save(update_fields=fields)
        publish_on_commit("cycle", "ems.dso_collected", {"bus": e.bus, "name": e.name})
    return e


def operating_point_dsos(read: Collection[str]) -> list[DsoInterface]:
    """The OPF's DSO lines: registered, at the operating point just read for the DSOs in `read`."""
    endpoints = {e.bus: e for e in DsoEndpoint.objects.all()}
    out = []
    for dso in registered_dsos():
        e = endpoints.get(dso.bus)
        if e is not None and e.name in read and e.p_measured_kw is not None and e.q_measured_kvar is not None:
            range_base = e.range_q_base_kvar if e.range_q_base_kvar is not None else e.q_base_kvar
            dso = at_operating_point(dso, e.p_measured_kw, e.q_measured_kvar, range_base)
        out.append(dso)
    return out
