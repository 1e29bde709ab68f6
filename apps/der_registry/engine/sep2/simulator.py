"""M simulated 2030.5 clients against a running server: direct inverters (one certificate, one
device) and aggregators (one certificate, many EndDevices). Each registers, polls at the
server's pollRate, follows the active DERControl (answering received / completed / superseded),
reports its DERStatus and posts P, Q, V, f readings to its metering mirror."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import random
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from apps.der_registry.engine.sep2 import mirror as mup
from apps.der_registry.engine.sep2 import sim_programs
from apps.der_registry.engine.sep2.client import Latencies, Sep2ClientError, Sep2Connection
from apps.der_registry.engine.sep2.following import Following, following, with_curve, with_power_factor
from apps.der_registry.engine.sep2.model import (
    RESPONSE_CANCELLED,
    RESPONSE_COMPLETED,
    RESPONSE_RECEIVED,
    RESPONSE_SUPERSEDED,
)
from apps.der_registry.engine.sep2.server import CIPHERS, client_context
from apps.der_registry.engine.sep2.xmlcodec import element, epoch, leaf, q

log = logging.getLogger("crest.sep2.sim")
SERVICE_V = 240.0  # a simulated device reports volts at its 120/240 V service
VAR_DEADBAND_PCT = 1.0  # a device on a curve moves its Q when the curve's share moves this much


@dataclass(frozen=True)
class SimDevice:
    lfdi: str
    sfdi: int
    pin: int | None = None


@dataclass(frozen=True)
class SimClient:
    """One certificate. `devices` empty: a direct inverter whose device is the certificate itself."""

    cert: Path
    key: Path
    lfdi: str
    sfdi: int
    devices: tuple[SimDevice, ...] = ()


class DeviceField(Protocol):
    """What stands behind a simulated device when a grid simulator drives it (apps/plant): the
    readings it posts and where the controls it follows go. Without one the device makes its own."""

    def measure(self, lfdi: str) -> dict[str, float] | None:
        """P and Q in W and var (injected), V in volts, f in Hz; None: nothing for this device."""

    def follow(self, lfdi: str, now: Following) -> None:
        """What the device now follows (by its programs' primacy): P limit in % of its rating, P
        target in W, Q target in var or in % of its var rating, and whether it is connected
        (opModConnect, opModEnergize)."""

    def reachable(self, lfdi: str) -> bool:
        """False while the device's network segment is down: it neither polls nor posts."""


@dataclass
class DeviceState:
    edev: str  # the EndDevice's href
    lfdi: str
    grid: DeviceField | None = None  # what a grid simulator puts behind the device
    active: str = ""  # mRID of the DERControl being followed
    answered: set[str] = field(default_factory=set)
    mirror: str = ""  # the MirrorUsagePoint's href, once made
    rated_w: float = 5000.0
    limit_pct: float = 100.0  # opModMaxLimW of the control followed
    target_var: float | None = None  # opModTargetVar of the control followed
    connected: bool = True  # no control in force disconnects or de-energizes it
    following: Following = field(default_factory=Following)  # what it holds now, by its programs
    programs: sim_programs.Programs = field(default_factory=sim_programs.Programs)


@dataclass
class SimStats:
    latency: Latencies = field(default_factory=Latencies)
    registered: int = 0
    controls_followed: int = 0
    responses_posted: int = 0
    polls: int = 0
    mirrors: int = 0
    readings_posted: int = 0
    readings_refused: int = 0


def end_device_doc(device: SimDevice) -> ET.Element:
    return element(
        "EndDevice",
        {},
        [leaf("lFDI", device.lfdi), leaf("sFDI", device.sfdi), leaf("changedTime", epoch(_now()))],
    )


def der_status_doc(connected: bool = True) -> ET.Element:
    t = epoch(_now())
    return element(
        "DERStatus",
        {},
        [
            element(
                "genConnectStatus", children=[leaf("dateTime", t), leaf("value", "07" if connected else "00")]
            ),
            element("operationalModeStatus", children=[leaf("dateTime", t), leaf("value", 2)]),
            leaf("readingTime", t),
        ],
    )


# The simulated inverter's readings: (mRID tail, uom, powerOfTenMultiplier, flowDirection, name).
SIM_READINGS = (
    (1, 38, 0, mup.FLOW_REVERSE, "P"),
    (2, 63, 0, mup.FLOW_REVERSE, "Q"),
    (3, 29, -1, 0, "V"),
    (4, 33, -2, 0, "f"),
)


def mirror_mrid(lfdi: str, reading: int = 0) -> str:
    """Stable mRIDs for a device's mirror (0) and its readings (1…): re-registering finds them."""
    return hashlib.sha256(f"{lfdi}/{reading}".encode()).hexdigest()[:24].upper() + "00000000"


def sim_measurements(device: DeviceState, rng: random.Random) -> dict[str, float]:
    """What the simulated inverter measures now, in W, var (both injected into the grid), V and Hz."""
    p_w = device.rated_w * rng.uniform(0.55, 0.75) * min(1.0, device.limit_pct / 100.0)
    q_var = device.target_var if device.target_var is not None else rng.uniform(-200.0, 200.0)
    v = SERVICE_V * rng.uniform(0.99, 1.03)
    return {"P": p_w, "Q": q_var, "V": v, "f": 60.0 + rng.uniform(-0.02, 0.02)}


def meter_readings(
    lfdi: str, measured: dict[str, float] | None, with_types: bool
) -> list[mup.MeterReadingPost]:
    out = []
    t = epoch(_now())
    for tail, uom, power, flow, name in SIM_READINGS:
        readings = () if measured is None else (mup.ReadingValue(round(measured[name] / 10.0**power), t),)
        rt = mup.ReadingType(uom, power, flow) if with_types else None
        out.append(mup.MeterReadingPost(mirror_mrid(lfdi, tail), name, rt, readings, t if readings else None))
    return out


def mirror_doc(lfdi: str) -> ET.Element:
    post = mup.MirrorPost(
        mirror_mrid(lfdi),
        lfdi,
        description="inverter",
        post_rate=60,
        meter_readings=tuple(meter_readings(lfdi, None, True)),
    )
    return mup.mirror_element(post)


def response_doc(lfdi: str, subject: str, status: int) -> ET.Element:
    return element(
        "DERControlResponse",
        {},
        [
            leaf("createdDateTime", epoch(_now())),
            leaf("endDeviceLFDI", lfdi),
            leaf("status", status),
            leaf("subject", subject),
        ],
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def register(
    conn: Sep2Connection, sim: SimClient, stats: SimStats, grid: DeviceField | None = None
) -> tuple[list[DeviceState], int]:
    """Discover the EndDevices from /dcap (an aggregator POSTs its devices first); check each PIN
    and make each device's metering mirror."""
    dcap = (await conn.get("/dcap")).doc()
    poll_s = int(dcap.attrib.get("pollRate", "900"))
    edev_list = sim_programs.href(dcap, "EndDeviceListLink")
    for device in sim.devices:
        answer = await conn.post(edev_list, end_device_doc(device))
        if answer.status != 201:
            raise Sep2ClientError(f"registering {device.lfdi}: {answer.status} {answer.body!r}")
    listing = (await conn.get(f"{edev_list}?l=255")).doc()
    mirrors = dcap.find(q("MirrorUsagePointListLink"))
    mup_list = "" if mirrors is None else mirrors.attrib["href"]
    wanted = {d.lfdi: d for d in sim.devices} or {sim.lfdi: SimDevice(sim.lfdi, sim.sfdi)}
    states = []
    for edev in listing.findall(q("EndDevice")):
        lfdi = edev.findtext(q("lFDI")) or ""
        if lfdi not in wanted:
            continue
        rg = (await conn.get(sim_programs.href(edev, "RegistrationLink"))).doc()
        pin = wanted[lfdi].pin
        if pin is not None and int(rg.findtext(q("pIN")) or -1) != pin:
            raise Sep2ClientError(f"the server's PIN for {lfdi} does not match the device's")
        state = DeviceState(edev.attrib["href"], lfdi, grid)
        if mup_list:
            await make_mirror(conn, mup_list, state, stats)
        states.append(state)
        stats.registered += 1  # registered: controls, status and readings all have somewhere to go
    return states, poll_s


async def make_mirror(conn: Sep2Connection, mup_list: str, device: DeviceState, stats: SimStats) -> None:
    answer = await conn.post(mup_list, mirror_doc(device.lfdi))
    if answer.status not in (200, 201) or "location" not in answer.headers:
        raise Sep2ClientError(f"making the mirror of {device.lfdi}: {answer.status} {answer.body!r}")
    device.mirror = answer.headers["location"]
    stats.mirrors += 1


async def post_readings(conn: Sep2Connection, device: DeviceState, stats: SimStats) -> None:
    if not device.mirror:
        return
    measured = device.grid.measure(device.lfdi) if device.grid is not None else None
    posts = meter_readings(device.lfdi, measured or sim_measurements(device, random.Random()), False)
    answer = await conn.post(device.mirror, mup.meter_reading_list(posts))
    if answer.status == 201:
        stats.readings_posted += 1
    else:
        stats.readings_refused += 1


def _follow(device: DeviceState, now: Following) -> None:
    device.limit_pct = now.limit_pct if now.connected else 0.0
    device.target_var = now.target_var if now.connected else 0.0
    device.connected = now.connected
    if device.grid is not None:
        device.grid.follow(device.lfdi, now)


async def _held(conn: Sep2Connection, device: DeviceState, asked: Following) -> Following:
    """What the device holds: as asked, with a volt–var or watt–var curve read at its voltage or
    output now, or the Q a fixed power factor needs at its output now (a device with no grid behind
    it has neither to read). Inside the deadband it keeps the Q it has."""
    varies = bool(asked.curve) or asked.fixed_pf is not None
    measured = device.grid.measure(device.lfdi) if device.grid is not None and varies else None
    if measured is None:
        return asked
    rated_w = measured.get("Wmax", device.rated_w)
    if asked.fixed_pf is not None:
        now = with_power_factor(asked, measured["P"])
    else:
        curve = await sim_programs.curve(conn, device.programs, asked.curve)
        now = with_curve(asked, curve, 100.0 * measured["V"] / SERVICE_V, 100.0 * measured["P"] / rated_w)
    return _within_deadband(device.following, now, rated_w)


def _within_deadband(held: Following, now: Following, rated_w: float) -> Following:
    """`now`, but with the Q the device holds while a curve's or a power factor's Q moved less than
    the deadband (1 % of its var rating, or of its rating): an inverter does not chase every ripple."""
    if held.curve != now.curve or held.fixed_pf != now.fixed_pf:
        return now  # another mode: followed at once (as is every set point's own value)
    if now.curve and held.var_pct is not None and now.var_pct is not None:
        small = abs(now.var_pct - held.var_pct) < VAR_DEADBAND_PCT
        return replace(now, var_pct=held.var_pct) if small else now
    if now.fixed_pf is not None and held.target_var is not None and now.target_var is not None:
        small = abs(now.target_var - held.target_var) < VAR_DEADBAND_PCT / 100.0 * rated_w
        return replace(now, target_var=held.target_var) if small else now
    return now


async def follow(conn: Sep2Connection, device: DeviceState, stats: SimStats) -> None:
    """One poll: read every program's controls, follow what is in force (by primacy), answer what
    changed, report status."""
    programs = await sim_programs.programs(conn, device.edev, device.programs)
    stats.polls += 1
    asked = following(programs, _now(), device.lfdi)
    now = await _held(conn, device, asked)
    fresh = [m for m in now.in_force if m not in device.answered]
    if now != device.following:
        device.following = now
        _follow(device, now)
        stats.controls_followed += len(fresh)
    for program in programs:
        for control in program.controls:
            await _answer(conn, device, control, control.findtext(q("mRID")) or "", asked, stats)
    await conn.put(f"{device.edev}/der/0/ders", der_status_doc(device.connected))
    await post_readings(conn, device, stats)


async def _answer(
    conn: Sep2Connection,
    device: DeviceState,
    control: ET.Element,
    subject: str,
    now: Following,
    stats: SimStats,
) -> None:
    """received + completed once it is in force; superseded or cancelled once, if answered before."""
    status = int(control.findtext(f"{q('EventStatus')}/{q('currentStatus')}") or 0)
    reply_to = control.attrib.get("replyTo", "/rsps/0/rsp")
    if subject in now.in_force and subject not in device.answered:
        device.active = subject
        for code in (RESPONSE_RECEIVED, RESPONSE_COMPLETED):
            await _respond(conn, reply_to, device, subject, code, stats)
    ending = {4: RESPONSE_SUPERSEDED, 2: RESPONSE_CANCELLED, 3: RESPONSE_CANCELLED}.get(status)
    if ending and subject in device.answered and f"{subject}/{ending}" not in device.answered:
        await _respond(conn, reply_to, device, subject, ending, stats)
        device.answered.add(f"{subject}/{ending}")


async def _respond(
    conn: Sep2Connection, reply_to: str, device: DeviceState, subject: str, code: int, stats: SimStats
) -> None:
    answer = await conn.post(reply_to, response_doc(device.lfdi, subject, code))
    if answer.status == 201:
        stats.responses_posted += 1
        device.answered.add(subject)


async def run_client(
    base_url: str,
    ca: Path,
    sim: SimClient,
    duration_s: float,
    stats: SimStats,
    poll_s: float | None = None,
    ciphers: str = CIPHERS,
    grid: DeviceField | None = None,
) -> None:
    conn = Sep2Connection(base_url, client_context(sim.cert, sim.key, ca, ciphers), stats.latency)
    deadline = time.monotonic() + duration_s
    try:
        devices, server_poll = await register(conn, sim, stats, grid)
        period = poll_s or server_poll
        await asyncio.sleep(random.uniform(0, period))  # clients do not poll in lock-step
        while time.monotonic() < deadline:
            for device in devices:
                if device.grid is None or device.grid.reachable(device.lfdi):
                    await follow(conn, device, stats)
            await asyncio.sleep(max(0.0, min(period, deadline - time.monotonic())))
    except (Sep2ClientError, ConnectionError, OSError, EOFError, ValueError):
        # Refused, cut (a connection that ends unanswered: EOFError) or answered with nonsense.
        stats.latency.errors += 1
    finally:
        await conn.close()


async def run_client_forever(
    base_url: str,
    ca: Path,
    sim: SimClient,
    stats: SimStats,
    poll_s: float | None,
    retry_max_s: float = 30.0,
    grid: DeviceField | None = None,
) -> None:
    """A device that never gives up: after a failure (server not up yet or restarted, certificate
    not enrolled yet) it registers again, backing off from 1 s to `retry_max_s`. Ends when cancelled."""
    delay_s = 1.0
    while True:
        started = time.monotonic()
        try:
            await run_client(base_url, ca, sim, float("inf"), stats, poll_s, grid=grid)
        except Exception:  # whatever went wrong, a device in the field would try again
            log.exception("2030.5 device %s failed; it registers again", sim.lfdi)
            stats.latency.errors += 1
        if time.monotonic() - started > 10 * retry_max_s:
            delay_s = 1.0  # it ran well for a long time: this is a fresh failure
        await asyncio.sleep(delay_s)
        delay_s = min(retry_max_s, 2 * delay_s)


async def run_clients_async(
    base_url: str, ca: Path, clients: list[SimClient], duration_s: float, poll_s: float | None = None
) -> SimStats:
    stats = SimStats()
    await asyncio.gather(*(run_client(base_url, ca, c, duration_s, stats, poll_s) for c in clients))
    return stats


def run_clients(
    base_url: str, ca: Path, clients: list[SimClient], duration_s: float, poll_s: float | None = None
) -> SimStats:
    """Run every client for `duration_s` against `base_url` (e.g. https://127.0.0.1:8443)."""
    return asyncio.run(run_clients_async(base_url, ca, clients, duration_s, poll_s))
