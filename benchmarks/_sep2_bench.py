"""IEEE 2030.5 server under load (issue #16 item 11): N clients (one certificate and one DER each)
polling at the demo's pollRate — FSA → DERProgramList → DERControlList, answers to new DERControls,
a DERStatus PUT and a metering-mirror readings POST — plus an extra stream asked for R requests/s.
Targets (docs/performance.md): p95 ≤ 100 ms over all requests and over the polling clients' own,
with the stream reaching the rate asked.

    .venv/bin/python benchmarks/_sep2_bench.py [--clients N] [--rps R] [--poll-rate S] [--duration S]
        [--workers W] [--peer-workers P]

Starts an embedded PostgreSQL and Redis unless DATABASE_URL / REDIS_URL are set, enrols the DERs,
then measures twice in one run: the peer (`run_sep2_server --workers P`, default 1: one process, as
the server was) and the server as shipped (`--workers W`, default one per CPU). Each time the server
runs in its own processes and the load in processes of its own (_sep2_load.py: open loop, latency
from the moment a request is due, queueing included). TLS 1.2 with ECDHE-ECDSA-AES128-CCM8 forced
on every client. CPU is accounted per part (server, load generator, PostgreSQL, Redis) and for the
whole machine, which the simulated clients, the databases and the server share."""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this tree's packages, for this process and the ones it spawns

import _proc_cpu  # noqa: E402  (this folder is on sys.path when run as a script)
import _sep2_load  # noqa: E402

TARGET_P95_MS = 100.0
DEMO_POLL_S = 20  # the Procfile's `sep2` line: run_sep2_server --poll-rate 20
STREAM_CONNECTIONS = 32


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rps", type=float, default=100.0, help="extra requests per second asked")
    parser.add_argument("--poll-rate", type=int, default=DEMO_POLL_S, help="pollRate the server announces, s")
    parser.add_argument("--workers", type=int, default=0, help="server processes (default: one per CPU)")
    parser.add_argument("--peer-workers", type=int, default=1, help="the peer's processes (0: no peer run)")
    parser.add_argument("--threads", type=int, default=8, help="request threads per server process")
    parser.add_argument("--generators", type=int, default=2, help="polling processes (the stream: one more)")
    parser.add_argument("--duration", type=float, default=60.0, help="measured window, s")
    parser.add_argument("--drain", type=float, default=30.0, help="wait for late answers this long, s")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    return parser.parse_args(argv)


def django_setup() -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "crest_web.settings"
    os.environ.setdefault("DJANGO_DEBUG", "False")
    os.environ.setdefault("DJANGO_SECRET_KEY", "benchmark-only-secret-key-" + "b" * 30)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def seed(n: int, folder: Path) -> list[_sep2_load.Device]:
    """The IEEE 13 feeder, N active 2030.5 DERs with certificates, a set point for every tenth."""
    from apps.der_registry import actions
    from apps.der_registry.engine.ieee1547 import DERRecord, Ratings
    from apps.der_registry.engine.sep2 import certs
    from apps.der_registry.models import DER
    from apps.dms.actions import do_add_feeder_version
    from apps.dms.engine.network import Network

    text = (ROOT / "apps" / "dms" / "fixtures" / "ieee13.json").read_text()
    feeder = do_add_feeder_version(
        None, "system", Network.from_dict(json.loads(text)), source_name="ieee13.json", source_text=text
    ).feeder
    ca = certs.make_ca(folder)
    certs.make_cert(ca, folder, "server", server=True)
    ratings = Ratings(10.0, 11.0, 4.84, 4.84, None, 240.0, 211.2, 264.0)
    made, ders = [], []
    for i in range(n):
        files = certs.make_cert(ca, folder, f"der{i}")
        rec = DERRecord(
            name=f"sep2-{i}",
            serial_number=f"SEP2-{i:05d}",
            nameplate=ratings,
            feeder="ieee13",
            bus="675",
            phases=(1 + i % 3,),
            lfdi=files.lfdi,
            sfdi=files.sfdi,
            supported_modes=("active_reactive",),
        )
        der = actions.new_der(rec, [], feeder)
        der.status = "active"
        ders.append(der)
        made.append(files)
    DER.objects.bulk_create(ders, batch_size=1000)
    for der in ders[::10]:
        actions.do_issue_setpoint(None, "system", der.pk, control_mode="active_reactive", q_kvar=-1.0)
    return [_sep2_load.Device(d.pk, f.cert, f.key, f.lfdi, f.sfdi) for d, f in zip(ders, made, strict=True)]


def start_server(args: argparse.Namespace, folder: Path, workers: int, log: Path) -> tuple[Any, int]:
    from crest_web.launcher import free_port, wait_for_port

    port = free_port()
    cmd = [sys.executable, str(ROOT / "manage.py"), "run_sep2_server", "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--poll-rate", str(args.poll_rate)]
    cmd += ["--workers", str(workers), "--threads", str(args.threads)]
    cmd += ["--cert", str(folder / "server.crt"), "--key", str(folder / "server.key")]
    cmd += ["--ca", str(folder / "ca.crt")]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    wait_for_port(port, proc, "the 2030.5 server", log, timeout_s=60)
    return proc, port


@dataclass
class Run:
    label: str
    workers: int
    registered: int = 0
    registration_s: float = 0.0
    window_s: float = 0.0
    poll: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    cpu_cores: dict[str, float] = field(default_factory=dict)
    load_before: float = 0.0


def _generators(
    url: str, ca: Path, pool: list[_sep2_load.Device], args: argparse.Namespace
) -> list[tuple[Any, Any]]:
    """The load generator's processes (spawned: nothing of this process's state comes along)."""
    ctx = multiprocessing.get_context("spawn")
    made = []
    shares = [pool[i :: args.generators] for i in range(args.generators)]
    for share in shares:
        here, there = ctx.Pipe()
        proc = ctx.Process(target=_sep2_load.pollers, args=(url, ca, share, args.poll_rate, there))
        made.append((proc, here))
    here, there = ctx.Pipe()
    streamers = pool[:: max(1, len(pool) // STREAM_CONNECTIONS)][:STREAM_CONNECTIONS]
    made.append((ctx.Process(target=_sep2_load.stream, args=(url, ca, streamers, args.rps, there)), here))
    for proc, _ in made:
        proc.start()
    return made


def _merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"latency_s": [], "lag_s": [], "due": 0, "errors": 0, "unanswered": 0, "done": 0}
    for part in parts:
        for key in out:
            out[key] += part[key]
    return out


def measure(args: argparse.Namespace, folder: Path, pool: list[_sep2_load.Device], workers: int) -> Run:
    """One server (`workers` processes) under the load, from registration to the end of the window."""
    from crest_web.launcher import stop_process

    run = Run(f"{workers} worker process{'es' if workers > 1 else ''}", workers)
    server, port = start_server(args, folder, workers, folder / f"server-{workers}.log")
    gens: list[tuple[Any, Any]] = []
    try:
        run.load_before = os.getloadavg()[0]
        gens = _generators(f"https://127.0.0.1:{port}", folder / "ca.crt", pool, args)
        hello = [pipe.recv() for _, pipe in gens]
        run.registered = sum(h["registered"] for h in hello[:-1])
        run.registration_s = max(h["registration_s"] for h in hello)
        refused = [r for h in hello for r in h["refused"]]
        if refused:
            print(f"{len(refused)} clients could not register, e.g. {refused[0]}", flush=True)
        go_s = time.monotonic() + 1.0
        start_s = go_s + args.poll_rate  # one poll period first: every device polls on its phase
        end_s = start_s + args.duration
        window = _sep2_load.Window(go_s, start_s, end_s, end_s + args.drain)
        for _, pipe in gens:
            pipe.send(window)
        parts = _proc_cpu.Parts(server.pid, [p.pid for p, _ in gens], folder, os.environ["REDIS_URL"])
        time.sleep(max(0.0, window.start_s - time.monotonic()))
        before = parts.sample()
        time.sleep(max(0.0, window.end_s - time.monotonic()))
        run.cpu_cores = parts.cores_since(before)
        results = [pipe.recv() for _, pipe in gens]
        run.window_s = args.duration
        run.poll, run.extra = _merge(results[:-1]), _merge(results[-1:])
    finally:
        for proc, _ in gens:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
        stop_process(server, grace_s=20)
        _show_failures(folder / f"server-{workers}.log")
    return run


def _show_failures(log: Path) -> None:
    """A request the server failed (500) is counted as an error; its cause is in the server's log,
    which goes with the run's folder: show the first traceback and how many there were."""
    text = log.read_text(errors="replace") if log.exists() else ""
    failures = text.count("Traceback (most recent call last)")
    if failures:
        at = text.rfind("\n", 0, text.rfind("\n", 0, text.index("Traceback (most recent call last)")))
        first = "\n".join(text[at + 1 :].splitlines()[:40])  # the request's line, then its traceback
        print(f"  the server logged {failures} failure(s); the first:\n{first}", flush=True)


def p(samples: list[float], q: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000.0


def report(args: argparse.Namespace, runs: list[Run]) -> None:
    polls_asked = args.clients / args.poll_rate
    print(
        f"\n{args.clients} clients (CCM-8, one DER each) polling every {args.poll_rate} s "
        f"({polls_asked:.0f} polls/s asked) + an extra stream asked for {args.rps:.0f} requests/s; "
        f"window {args.duration:.0f} s; latency from the moment each request was due"
    )
    for run in runs:
        both = run.poll["latency_s"] + run.extra["latency_s"]
        print(f"\n-- {run.label} (load average before: {run.load_before:.2f}) --")
        print(f"  {run.registered} clients registered in {run.registration_s:.1f} s")
        for name, part in (("polling clients", run.poll), ("extra stream", run.extra)):
            rates = f"due {part['due'] / run.window_s:6.1f}/s  answered {part['done'] / run.window_s:6.1f}/s"
            print(f"  {name:16s} {rates}  errors {part['errors']}  unanswered {part['unanswered']}")
        print(f"  extra stream: asked {args.rps:.1f}/s, reached {run.extra['done'] / run.window_s:.1f}/s")
        for name, series in (
            ("polling clients", run.poll["latency_s"]),
            ("extra stream", run.extra["latency_s"]),
            ("all requests", both),
        ):
            print(
                f"  {name:16s} p50 {p(series, 0.5):7.1f} ms  p95 {p(series, 0.95):7.1f} ms  "
                f"p99 {p(series, 0.99):7.1f} ms  n={len(series)}"
            )
        lag = run.poll["lag_s"] + run.extra["lag_s"]
        print(f"  the load generator woke late by: p95 {p(lag, 0.95):.1f} ms, p99 {p(lag, 0.99):.1f} ms")
        print("  CPU over the window, cores: " + ", ".join(f"{k} {v:.2f}" for k, v in run.cpu_cores.items()))
        verdicts(args, run, both)


def verdicts(args: argparse.Namespace, run: Run, both: list[float]) -> None:
    reached = run.extra["done"] / run.window_s
    checks = [
        ("p95 over all requests", p(both, 0.95), TARGET_P95_MS, "ms"),
        ("p95 of the polling clients' requests", p(run.poll["latency_s"], 0.95), TARGET_P95_MS, "ms"),
    ]
    for name, value, target, unit in checks:
        verdict = "met" if value <= target else "NOT met"
        print(f"  {name}: {value:.1f} {unit} against ≤ {target:.0f} {unit}: {verdict}")
    enough = reached >= 0.98 * args.rps and run.extra["unanswered"] == 0
    print(f"  extra stream {reached:.1f}/s against {args.rps:.0f}/s asked: {'met' if enough else 'NOT met'}")
    clean = run.poll["errors"] + run.extra["errors"] + run.poll["unanswered"] == 0
    print(f"  errors and unanswered requests: {'none' if clean else 'SOME (see above)'}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from apps.der_registry.engine.sep2.workers import default_workers
    from crest_web.launcher import services

    args.workers = args.workers or default_workers()
    folder = Path(tempfile.mkdtemp(prefix="crest-sep2-bench-"))
    try:
        with services(folder, ephemeral=True, database="crest_sep2_bench"):
            django_setup()
            t = time.perf_counter()
            pool = seed(args.clients, folder)
            print(f"enrolled {args.clients} DERs with certificates in {time.perf_counter() - t:.1f} s")
            peer = [args.peer_workers] if args.peer_workers and args.peer_workers != args.workers else []
            runs = [measure(args, folder, pool, workers) for workers in [*peer, args.workers]]
            report(args, runs)
            if args.json:
                args.json.write_text(json.dumps([r.__dict__ for r in runs], default=str))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
