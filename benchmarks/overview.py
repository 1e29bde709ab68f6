"""Operator overview benchmark (issue #14): the home page and its live fragment with 50 DSO
interfaces, a day of 5-minute cycles (288 OPF runs, a message to each DSO in each) and 10,000 alarms
in history. Target: p95 ≤ 300 ms.

    .venv/bin/python benchmarks/overview.py [--dsos N] [--alarms N] [--requests N] [--in-process]

Starts an embedded PostgreSQL and Redis unless DATABASE_URL / REDIS_URL are set, seeds with bulk
inserts, serves the app with daphne on a free loopback port and times sequential GETs from one
signed-in session. Peer, same run: the obvious ORM loop (the newest message, the alarms and the
feeder looked up per DSO, one after the other) timed in-process against the same data."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from registry import (  # noqa: E402  (this folder is on sys.path when run as a script)
    PAGE_TARGET_MS,
    PASSWORD,
    USERNAME,
    client_fetcher,
    daphne,
    django_setup,
    http_fetcher,
    load,
    machine,
    percentile,
)

KINDS = ("comm_failure", "overrun", "dso_shortfall", "fallback", "ems_link_down", "violation")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsos", type=int, default=50)
    parser.add_argument("--alarms", type=int, default=10_000, help="alarms in history")
    parser.add_argument("--requests", type=int, default=50, help="timed GETs per URL")
    parser.add_argument("--in-process", action="store_true", help="django.test.Client instead of HTTP")
    return parser.parse_args(argv)


def seed(dsos: int, alarms: int) -> None:
    from django.contrib.auth.models import Group, User
    from django.utils import timezone

    from apps.alarms.models import Alarm
    from apps.cycle.models import Cycle, StageRun
    from apps.ems.models import DsoEndpoint, DsoMessage, OpfRun

    user = User.objects.create_user(USERNAME, password=PASSWORD)
    user.groups.add(Group.objects.get(name="operator"))
    now = timezone.now().replace(second=0, microsecond=0)
    DsoEndpoint.objects.bulk_create(
        DsoEndpoint(bus=b, name=f"dso{b}", host="127.0.0.1", port=20000 + b, feeder_count=2)
        for b in range(1, dsos + 1)
    )
    messages = []
    for k in range(288):  # a day of 5-minute cycles
        at = now - dt.timedelta(minutes=5 * (288 - k))
        cycle = Cycle.objects.create(
            interval_start=at, interval_s=300, trigger="beat", status="done", ended_at=at
        )
        StageRun.objects.create(cycle=cycle, stage="collect", started_at=at, budget_s=15.0, duration_s=1.0)
        run = OpfRun.objects.create(
            interval_start=at, cycle=cycle, case="case9", iterations=3, objective_mw=5.1, losses_mw=5.1,
            losses_mw_before=5.2, solve_s=0.1,
        )  # fmt: skip
        messages += [
            DsoMessage(
                run=run,
                interval_start=at,
                bus=b,
                count=2,
                q_min_kvar=-100.0,
                q_max_kvar=300.0,
                q_request_kvar=150.0,
                v_pu=1.01,
                answered_at=at,
                dms_healthy=b % 10 != 3,
                q_achieved_kvar=140.0,
                dms_q_shortfall_kvar=10.0 * (b % 3),
                dms_violations_left=b % 4,
            )
            for b in range(1, dsos + 1)
        ]
    DsoMessage.objects.bulk_create(messages, batch_size=5000)
    # A tenth of them active — DER communication alarms, one per DER, as a field outage leaves
    # them — the rest cleared history of every kind against the DSOs.
    Alarm.objects.bulk_create(
        (
            Alarm(
                kind="comm_failure" if i % 10 == 0 else KINDS[i % len(KINDS)],
                priority="low" if i % 10 == 0 else "medium",
                source_type="der" if i % 10 == 0 else "dso",
                source_id=str(i) if i % 10 == 0 else str(1 + i % dsos),
                message="benchmark alarm",
                cleared_at=None if i % 10 == 0 else now,
                acknowledged_at=now if i % 2 else None,
            )
            for i in range(alarms)
        ),
        batch_size=5000,
    )


def peer(dsos: int) -> float:
    """The obvious loop: per DSO its newest message, its active alarms and its feeder (ms)."""
    from apps.alarms.models import Alarm
    from apps.dms.models import Feeder
    from apps.ems.models import DsoEndpoint, DsoMessage

    started = time.perf_counter()
    for e in DsoEndpoint.objects.order_by("bus"):
        DsoMessage.objects.filter(bus=e.bus).order_by("-run_id", "-id").first()
        list(Alarm.objects.filter(cleared_at__isnull=True, source_id__in=[str(e.bus), e.name]))
        Feeder.objects.filter(name=e.name).first()
    return (time.perf_counter() - started) * 1000


def run(args: argparse.Namespace, data_dir: Path) -> None:
    django_setup()
    from django.contrib.auth.models import User

    print(f"machine: {machine()}")
    started = time.perf_counter()
    seed(args.dsos, args.alarms)
    from apps.alarms.models import Alarm

    active = Alarm.objects.filter(cleared_at__isnull=True).count()
    took_s = time.perf_counter() - started
    print(
        f"seeded {args.dsos} DSOs, 288 cycles × {args.dsos} messages, {Alarm.objects.count()} alarms "
        f"({active} active) in {took_s:.1f} s"
    )
    urls = ["/", "/?fragment=1"]
    with contextlib.ExitStack() as stack:
        how, fetch = (
            "in-process django.test.Client (no HTTP)",
            client_fetcher(User.objects.get(username=USERNAME)),
        )
        if not args.in_process:
            base = stack.enter_context(daphne(data_dir / "daphne.log"))
            how, fetch = f"HTTP to daphne at {base}, one process, signed in", http_fetcher(base)
        for path in urls * 3:  # warm-up
            fetch(path)
        samples: dict[str, list[float]] = {u: [] for u in urls}
        before = load()
        for _ in range(args.requests):
            for path in urls:
                t0 = time.perf_counter()
                status, body = fetch(path)
                samples[path].append((time.perf_counter() - t0) * 1000)
                if status != 200 or b'id="dso-1"' not in body:
                    raise RuntimeError(f"GET {path} answered {status} without the DSO tiles")
    print(f"\nOverview latency ({how}; {args.requests} requests per URL, sequential)")
    print(f"{'URL':<16} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'target':>10}  result")
    for path, ms in samples.items():
        p95 = percentile(ms, 95)
        verdict = "PASS" if p95 <= PAGE_TARGET_MS else "FAIL"
        print(
            f"{path:<16} {percentile(ms, 50):>8.1f} {p95:>8.1f} {max(ms):>8.1f} {'p95<=300':>10}  {verdict}"
        )
    peers = sorted(peer(args.dsos) for _ in range(10))
    print(f"peer (per-DSO ORM loop, queries only, in-process): median {peers[5]:.1f} ms for {args.dsos} DSOs")
    print(f"  machine {before} before the timed requests, {load()} after")


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    from crest_web.launcher import services

    data_dir = Path(tempfile.mkdtemp(prefix="crest-bench-"))
    try:
        with services(data_dir, ephemeral=True, database="crest_bench"):
            os.environ.setdefault("DJANGO_DEBUG", "False")
            run(args, data_dir)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
