"""Under `make demo` only: a stand-in for the substation meter of the feeder the demo's DSO gateway
serves (Procfile `dnp3 … --dso-feeder ieee123`), until the plant simulator reads real physics. It
reads what the feeder model draws with its DERs at their reported output and its loads at the hour's
level of a plain daily curve, so the cycle's collect has an operating point and the DMS's load
allocation has something to match (it finds the curve's factor)."""

from __future__ import annotations

import datetime as dt
import math

from django.utils import timezone

from apps.dms.dispatch_inputs import der_states
from apps.dms.engine import opendss_pf
from apps.dms.engine.load_allocation import present_injections, scaled_loads
from apps.dms.engine.network import Network, OperatingState
from apps.dms.head import do_record_head_measurement
from apps.dms.models import Feeder
from apps.standards.timing import INTERVAL_S

METERED = ("ieee123",)


def load_level(at: dt.datetime) -> float:
    """0.6 of the nameplate load before dawn to 1.0 at 18:00 UTC: the demo's daily curve."""
    hours = at.hour + at.minute / 60
    return 0.8 + 0.2 * math.cos(2 * math.pi * (hours - 18.0) / 24.0)


def play_head_readings(now: dt.datetime | None = None) -> int:
    """Record one reading per metered demo feeder; the number recorded."""
    now = now or timezone.now()
    count = 0
    for feeder in Feeder.objects.filter(name__in=METERED):
        version = feeder.current_version()
        if version is None or not version.model:
            continue
        net = Network.from_dict(version.model)
        ders, _ = der_states(feeder, INTERVAL_S)
        level = load_level(now)
        state = OperatingState(1.0, present_injections(ders), {}, net.source_pu)
        flow = opendss_pf.solve(scaled_loads(net, level, level), state)
        if not flow.converged:
            continue
        values = {"p_kw": flow.substation_p_kw, "q_kvar": flow.substation_q_kvar, "v_pu": net.source_pu}
        do_record_head_measurement(None, "demo", feeder.name, {**values, "measured_at": now})
        count += 1
    return count
