"""Set point + confirmation to N DNP3 DER outstations on loopback (DESIGN.md §2: DER messaging
budget 120 s per interval; target ≤ 10 s for 1,000 outstations).

Each outstation is a simulated inverter on its own TCP port; one master per outstation. A set
point is a direct operate of the P limit and of the Q set point; it counts as confirmed when both
operate responses report SUCCESS for the point (the outstation's feedback)."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from concurrent.futures import wait

from apps.dms.engine.dnp3.master import Endpoint, MasterLink, MasterOptions, MasterPool
from apps.dms.engine.dnp3.netem import TIERS
from apps.dms.engine.dnp3.points import DER, DERLimits
from apps.dms.engine.dnp3.simulator import RELAY_OFFSET, FieldSim, SimDER, free_port_block
from apps.dms.engine.dnp3.stack import shutdown_manager


def run(
    n: int,
    base_port: int | None = None,
    tier: str = "",
    serial: bool = True,
    ready: Callable[[], object] | None = None,
) -> dict[str, float]:
    """`ready`, when given, is called once every outstation is connected, before the set points go
    out (several gateways in their own processes start their set points together)."""
    base = base_port or free_port_block(n, offsets=(0, RELAY_OFFSET) if tier else (0,))
    limits = DERLimits(p_max_kw=10.0, q_inj_max_kvar=4.84, q_abs_max_kvar=4.84, s_max_kva=11.0)
    sim = FieldSim([SimDER(base + i, 10, limits, 8.0, tier) for i in range(n)])
    t0 = time.perf_counter()
    sim.start(update_s=5.0)
    pool = MasterPool(MasterOptions(response_timeout_s=5.0, event_poll_s=30.0, integrity_poll_s=300.0))
    links = [pool.add(f"der-{i}", Endpoint("127.0.0.1", base + i, 10), DER) for i in range(n)]
    connected: set[str] = set()
    while len(connected) < n and time.perf_counter() - t0 < 120:
        connected |= {e.key for e in pool.drain(0.5) if e.kind == "values"}
    t_connect = time.perf_counter() - t0
    if ready is not None:
        ready()
    t1 = time.perf_counter()
    futures = [
        f for link in links for f in (link.operate("p_limit_kw", 6.0), link.operate("q_set_kvar", -2.0))
    ]
    wait(futures, timeout=120)
    t_setpoint = time.perf_counter() - t1
    ok = sum(1 for f in futures if f.done() and f.result().ok) // 2
    followed = sum(1 for r in sim.running.values() if r.inverter.state.q_set_kvar == -2.0)
    t2 = time.perf_counter()
    serial_ok = sum(serial_setpoint(link) for link in links) if serial else 0  # peer: one at a time
    t_serial = time.perf_counter() - t2
    pool.close()
    sim.stop()
    shutdown_manager()
    return {
        "n": n,
        "connect_s": t_connect,
        "setpoint_s": t_setpoint,
        "confirmed": ok,
        "followed": followed,
        "serial_s": t_serial,
        "serial_ok": serial_ok,
    }


def serial_setpoint(link: MasterLink) -> int:
    """Send one DER its P limit and Q, wait for both confirmations, then the next DER."""
    for name, value in (("p_limit_kw", 5.0), ("q_set_kvar", 1.0)):
        if not link.operate(name, value).result(timeout=30).ok:
            return 0
    return 1


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="number of outstations (default 1000)")
    parser.add_argument(
        "--tier", choices=sorted(TIERS), help="emulate a network tier between master and outstations"
    )
    args = parser.parse_args(argv)
    r = run(args.n, tier=args.tier or "")
    where = f"behind an emulated {args.tier.upper()} tier" if args.tier else "on loopback"
    print(f"DNP3 set point + confirmation to {r['n']:.0f} outstations {where}")
    print(f"  connect + start-up integrity poll: {r['connect_s']:.2f} s")
    n = r["n"]
    print(
        f"  set point (P limit + Q) confirmed by {r['confirmed']:.0f}/{n:.0f}: "
        f"{r['setpoint_s']:.2f} s (target ≤ 10 s)"
    )
    print(
        f"  peer — one DER at a time, waiting for each confirmation: "
        f"{r['serial_ok']:.0f}/{n:.0f} in {r['serial_s']:.2f} s"
    )
    print(f"  inverters following the new Q set point: {r['followed']:.0f}")
    print("  budget for DER messaging in the 5-minute cycle (DESIGN.md §2): 120 s")


if __name__ == "__main__":
    main()
