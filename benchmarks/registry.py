"""DER registry benchmark: list page / API latency with 100k DERs, and a 10k-row CSV import.

    .venv/bin/python benchmarks/registry.py [--ders N] [--import-rows N] [--requests N]
                                            [--quick] [--in-process]

Starts an embedded PostgreSQL and Redis (crest_web.launcher.services) unless DATABASE_URL /
REDIS_URL are set, migrates, bulk-inserts the DERs, serves the app with daphne on a free
loopback port and times sequential GETs from one signed-in session. Prints the figures
against the targets; the exit code does not depend on them.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import http.cookiejar
import io
import json
import math
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from apps.der_registry.engine.ieee1547 import DERRecord, Issue, RegistryContext
    from apps.dms.models import Feeder

ROOT = Path(__file__).resolve().parent.parent
PAGE_TARGET_MS = 300.0
IMPORT_TARGET_S = 60.0
USERNAME, PASSWORD = "bench-admin", "Bench-Password-2026!"
AGGREGATOR = "bench-aggregator"
FEEDER = "ieee123"
SKIP_BUSES = {"150", "150r", "149", "sourcebus", "rg60", "650"}
BATCH = 5000
WARMUP = 3
MODES = ("active_reactive", "volt_var", "constant_pf")
STATUSES = {"active": 60, "approved": 10, "pending": 15, "suspended": 10, "decommissioned": 5}
TELEMETRY = dict(q_kvar=0.0, v_pu=1.01, f_hz=60.0, operating_state="on", connection_status="connected")

Slot = tuple[str, tuple[int, ...]]
Fetch = Callable[[str], tuple[int, bytes]]


@dataclass(frozen=True)
class Latency:
    metric: str
    path: str
    samples_ms: list[float]
    rows: int
    total: int


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (p95 of 50 samples is the 48th smallest)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ders", type=int, default=100_000, help="DERs in the registry")
    parser.add_argument("--import-rows", type=int, default=10_000, help="rows in the CSV import")
    parser.add_argument("--requests", type=int, default=50, help="timed requests per URL")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2000 DERs, 500 rows")
    parser.add_argument("--in-process", action="store_true", help="django.test.Client, not HTTP")
    args = parser.parse_args(argv)
    if args.quick:
        args.ders, args.import_rows, args.requests = 2000, 500, 10
    return args


def feeder_slots() -> tuple[Feeder, list[Slot]]:
    """The ieee123 feeder and every (bus, phases) a DER may sit on (three-phase buses too)."""
    from apps.der_registry.demo import ensure_feeders
    from apps.dms.models import Feeder

    ensure_feeders()
    feeder = Feeder.objects.get(name=FEEDER)
    version = feeder.current_version()
    assert version is not None
    slots: list[Slot] = []
    for bus in version.buses.order_by("name"):
        if bus.name in SKIP_BUSES or bus.name.endswith("r"):
            continue
        slots += [(bus.name, (p,)) for p in sorted(bus.phases)]
        if len(bus.phases) == 3:
            slots.append((bus.name, (1, 2, 3)))
    return feeder, slots


def make_record(i: int, prefix: str, slot: Slot, rng: random.Random) -> DERRecord:
    """A valid DER; `i` is unique across everything the run creates (names, LFDI, DNP3)."""
    from apps.der_registry.engine.ieee1547 import DERRecord, Ratings
    from apps.der_registry.engine.sep2_identity import sfdi_from_lfdi

    path = "dnp3_direct" if i % 12 == 0 else "via_aggregator" if i % 4 == 1 else "sep2_direct"
    dnp3, sep2 = path == "dnp3_direct", path == "sep2_direct"
    lfdi = hashlib.sha256(f"bench-{i}".encode()).hexdigest()[:40].upper()
    kw = rng.choice([5.0, 7.6, 10.0, 11.4, 20.0, 50.0])
    kva = round(kw * 1.1, 2)
    q = round(kva * (0.3 if i % 25 == 7 else 0.44), 2)  # a few below Category B: warnings
    return DERRecord(
        name=f"{prefix}-{slot[0]}-{i:07d}",
        serial_number=f"{prefix.upper()}-SN-{i:07d}",
        der_type=rng.choice(["pv", "pv", "pv", "storage", "pv_storage"]),
        manufacturer=rng.choice(["SunWorks", "Invertix", "GridTie"]),
        model=f"ST-{kw:g}",
        nameplate=Ratings(kw, kva, q, q, None, 240.0, 211.2, 264.0),
        abnormal_category="III",
        supported_modes=MODES,
        feeder=FEEDER,
        bus=slot[0],
        phases=slot[1],
        ownership="utility" if dnp3 else rng.choice(["customer", "customer", "aggregator"]),
        comm_path=path,
        dnp3_host=f"10.0.{i // 60000}.1" if dnp3 else "",
        dnp3_port=20000 if dnp3 else None,
        dnp3_outstation_address=i % 60000 if dnp3 else None,
        dnp3_master_address=65000 if dnp3 else None,
        lfdi=lfdi if sep2 else "",
        sfdi=sfdi_from_lfdi(lfdi) if sep2 else None,
        aggregator=AGGREGATOR if path == "via_aggregator" else "",
    )


def checked_warnings(rec: DERRecord, ctx: RegistryContext) -> list[Issue]:
    """Validate like enrolment does; a benchmark on invalid data would measure nothing."""
    from apps.der_registry.engine import ieee1547

    issues = ieee1547.validate_der(rec, ctx)
    if ieee1547.errors(issues):
        raise SystemExit(f"generated record {rec.name} is invalid: {ieee1547.errors(issues)}")
    return ieee1547.warnings(issues)


def registry_context(slots: list[Slot]) -> RegistryContext:
    """What validation needs to know: the feeder's buses and phases, the aggregator group."""
    from apps.der_registry.engine.ieee1547 import RegistryContext

    at_bus: dict[tuple[str, str], frozenset[int]] = {}
    for bus, phases in slots:
        at_bus[(FEEDER, bus)] = at_bus.get((FEEDER, bus), frozenset()) | set(phases)
    return RegistryContext(at_bus, frozenset({FEEDER}), known_aggregators=frozenset({AGGREGATOR}))


def seed_ders(count: int, feeder: Feeder, slots: list[Slot]) -> None:
    """Bulk-insert `count` DERs with mixed status/path/owner; most active ones get telemetry."""
    from django.db import connection
    from django.utils import timezone

    from apps.der_registry.actions import new_der
    from apps.der_registry.models import DER, DERGroup, LatestMonitoring

    agg, through = DERGroup.objects.get(name=AGGREGATOR), DER.groups.through
    ctx, rng, now = registry_context(slots), random.Random(2026), timezone.now()
    for start in range(0, count, BATCH):
        records = [
            make_record(i, "bench", rng.choice(slots), rng) for i in range(start, min(count, start + BATCH))
        ]
        ders = [new_der(rec, checked_warnings(rec, ctx), feeder) for rec in records]
        for der in ders:
            der.status = rng.choices(list(STATUSES), weights=list(STATUSES.values()))[0]
        DER.objects.bulk_create(ders, batch_size=1000)
        via = [d for d in ders if d.comm_path == "via_aggregator"]
        through.objects.bulk_create([through(der_id=d.pk, dergroup_id=agg.pk) for d in via])
        live = [d for d in ders if d.status in ("active", "suspended") and rng.random() < 0.8]
        LatestMonitoring.objects.bulk_create(
            [
                LatestMonitoring(der=d, t=now - age(rng), p_kw=d.np_active_power_kw * 0.6, **TELEMETRY)
                for d in live
            ]
        )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")  # what autovacuum would do soon after a bulk load


def age(rng: random.Random) -> dt.timedelta:
    """Telemetry age: mostly fresh, 5 % stale (older than the 60 s expected update period)."""
    return dt.timedelta(seconds=600 if rng.random() < 0.05 else rng.uniform(1, 40))


def setup_registry(count: int) -> tuple[User, list[Slot], float]:
    from django.contrib.auth.models import Group, User

    from apps.der_registry import actions
    from apps.der_registry.models import DER

    if DER.objects.exists():
        raise SystemExit("The database already holds DERs; the benchmark needs an empty one.")
    admin = User.objects.create_user(USERNAME, password=PASSWORD)
    admin.groups.add(Group.objects.get(name="admin"))
    actions.do_create_group(None, "system", AGGREGATOR, "aggregator", "benchmark aggregator")
    feeder, slots = feeder_slots()
    started = time.perf_counter()
    seed_ders(count, feeder, slots)
    return admin, slots, time.perf_counter() - started


@contextlib.contextmanager
def daphne(log: Path) -> Iterator[str]:
    """Serve crest_web.asgi with daphne (one process, as in the Procfile) on a free port."""
    from crest_web.launcher import free_port, stop_process, wait_for_port

    port = free_port()
    cmd = [str(Path(sys.executable).parent / "daphne"), "-p", str(port), "crest_web.asgi:application"]
    with log.open("wb") as out:  # the child inherits DATABASE_URL, REDIS_URL and the settings
        proc = subprocess.Popen([*cmd, "-b", "127.0.0.1"], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, proc, "daphne", log, timeout_s=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc)


def http_fetcher(base: str) -> Fetch:
    """A signed-in browser-like session: GET the sign-in form, POST it with its CSRF token."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(f"{base}/login/", timeout=30) as resp:
        form = resp.read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)
    if token is None:
        raise RuntimeError("no CSRF token in the sign-in form")
    body = urllib.parse.urlencode(
        {"username": USERNAME, "password": PASSWORD, "next": "/", "csrfmiddlewaretoken": token.group(1)}
    ).encode()
    opener.open(urllib.request.Request(f"{base}/login/", data=body), timeout=30).read()
    if not any(cookie.name == "sessionid" for cookie in jar):
        raise RuntimeError("signing in failed (no session cookie)")

    def fetch(path: str) -> tuple[int, bytes]:
        try:
            with opener.open(base + path, timeout=120) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    return fetch


def client_fetcher(user: User) -> Fetch:
    from django.test import Client

    client = Client()
    client.force_login(user)

    def fetch(path: str) -> tuple[int, bytes]:
        response = client.get(path)
        return response.status_code, response.content

    return fetch


def rows_of(path: str, status: int, body: bytes) -> tuple[int, int]:
    """(rows on the page, total matching) — and a loud failure on a wrong answer."""
    if status != 200:
        raise RuntimeError(f"GET {path} answered {status}: {body[:300]!r}")
    if path.startswith("/api/"):
        data = json.loads(body)
        return len(data["results"]), int(data["count"])
    text = body.decode()
    total = re.search(r"Page \d+ of \d+ · (\d+) rows", text)
    if 'id="der-table"' not in text or total is None:
        raise RuntimeError(f"GET {path} did not return the registry list (signed out?)")
    return text.count("data-der="), int(total.group(1))


def time_urls(fetch: Fetch, urls: list[tuple[str, str]], n: int) -> list[Latency]:
    """Round-robin over the URLs, so a burst of outside load hits every metric alike."""
    for _, path in urls * WARMUP:
        rows_of(path, *fetch(path))
    samples: dict[str, list[float]] = {path: [] for _, path in urls}
    counts: dict[str, tuple[int, int]] = {}
    for _ in range(n):
        for _, path in urls:
            started = time.perf_counter()
            status, body = fetch(path)
            samples[path].append((time.perf_counter() - started) * 1000)
            counts[path] = rows_of(path, status, body)
    return [Latency(metric, path, samples[path], *counts[path]) for metric, path in urls]


def scenarios(count: int) -> list[tuple[str, str]]:
    from apps.der_registry.models import DER

    size = 50
    matching = DER.objects.filter(feeder__name=FEEDER, status="active", phases__contains=[2]).count()
    mid = max(1, math.ceil(matching / size) // 2)
    last = max(1, math.ceil(count / size))
    search = f"SN-{count // 2:07d}"[:-1]  # part of a serial number: ten DERs
    filters = f"feeder={FEEDER}&status=active&phase=2&page={mid}"
    urls = [
        ("unfiltered, page 1", ""),
        (f"unfiltered, deep page {last}", f"page={last}"),
        (f"feeder+status+phase, page {mid}", filters),
        (f"search q={search}", f"q={search}"),
    ]
    return [(f"page  {label}", f"/ders/?{query}".rstrip("?")) for label, query in urls] + [
        (f"api   {label}", f"/api/ders/?{query}&page_size={size}".replace("?&", "?")) for label, query in urls
    ]


def time_import(admin: User, rows: int, first: int, slots: list[Slot]) -> dict[str, float]:
    from apps.der_registry.actions import do_confirm_csv_import, do_preview_csv_import
    from apps.der_registry.engine.csv_format import write_csv

    rng = random.Random(7)
    buffer = io.StringIO()
    write_csv([make_record(first + i, "imp", rng.choice(slots), rng) for i in range(rows)], buffer)
    started = time.perf_counter()
    imp = do_preview_csv_import(admin, "benchmark", "bench-import.csv", buffer.getvalue())
    preview = time.perf_counter() - started
    if imp.status != "previewed":
        raise RuntimeError(f"the preview rejected the file: {str(imp.report)[:600]}")
    started = time.perf_counter()
    created = do_confirm_csv_import(admin, "benchmark", imp.pk)
    confirm = time.perf_counter() - started
    if len(created) != rows:
        raise RuntimeError(f"the import created {len(created)} DERs, not {rows}")
    return {"preview (parse + validate)": preview, "confirm (re-validate + insert)": confirm}


def machine() -> str:
    gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    cpus, system = len(os.sched_getaffinity(0)), platform.platform()
    return f"nproc {cpus}, {gib:.1f} GiB RAM, {system}, Python {platform.python_version()}"


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def print_latency(results: list[Latency], how: str, n: int) -> None:
    print(f"\nList latency ({how}; {n} requests per URL, sequential, round-robin, {WARMUP} warm-ups)")
    print(
        f"{'metric':<44} {'rows':>5} {'matching':>9} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'max ms':>8} {'target':>9}  result"
    )
    for r in results:
        p50, p95 = percentile(r.samples_ms, 50), percentile(r.samples_ms, 95)
        verdict = "PASS" if p95 <= PAGE_TARGET_MS else "FAIL"
        print(
            f"{r.metric:<44} {r.rows:>5} {r.total:>9} {p50:>8.1f} {p95:>8.1f} "
            f"{max(r.samples_ms):>8.1f} {'p95<=' + f'{PAGE_TARGET_MS:g}':>9}  {verdict}"
        )
    for r in results:
        print(f"  {r.metric.strip():<44} GET {r.path}")


def print_import(rows: int, times: dict[str, float]) -> None:
    print(f"\nCSV import of {rows} rows (do_* actions called in-process as an admin; one run each)")
    print(f"{'metric':<44} {'seconds':>8} {'target':>9}  result")
    for metric, seconds in times.items():
        print(f"{metric:<44} {seconds:>8.2f} {'-':>9}")
    total = sum(times.values())
    verdict = "PASS" if total <= IMPORT_TARGET_S else "FAIL"
    print(f"{'total (preview + confirm)':<44} {total:>8.2f} {f'<={IMPORT_TARGET_S:g}':>9}  {verdict}")


def django_setup() -> None:
    os.environ["CREST_ENV"] = "test"
    os.environ["DJANGO_SETTINGS_MODULE"] = "crest_web.settings"
    os.environ.setdefault("DJANGO_DEBUG", "False")  # no per-query logging, as in production
    os.environ.setdefault("DJANGO_SECRET_KEY", "benchmark-only-secret-key-" + "b" * 30)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def measure_lists(args: argparse.Namespace, admin: User, data_dir: Path) -> None:
    urls = scenarios(args.ders)
    with contextlib.ExitStack() as stack:
        how, fetch = "in-process django.test.Client after force_login (no HTTP)", None
        if not args.in_process:
            try:
                base = stack.enter_context(daphne(data_dir / "daphne.log"))
                how, fetch = f"HTTP to daphne at {base}, one process, signed in", http_fetcher(base)
            except (RuntimeError, OSError) as exc:
                print(f"daphne unusable, falling back to in-process requests: {exc}")
        fetch = fetch or client_fetcher(admin)
        before = load()
        results = time_urls(fetch, urls, args.requests)
    print_latency(results, how, args.requests)
    print(f"  machine {before} before the timed requests, {load()} after")


def run(args: argparse.Namespace, data_dir: Path) -> None:
    django_setup()
    from django.db import connection

    print(f"machine: {machine()}")
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        print(f"PostgreSQL {cursor.fetchone()[0]}; DEBUG={os.environ['DJANGO_DEBUG']}")
    admin, slots, seconds = setup_registry(args.ders)
    print(f"seeded {args.ders} DERs on {FEEDER} ({len(slots)} bus/phase slots) in {seconds:.1f} s")
    measure_lists(args, admin, data_dir)
    print_import(args.import_rows, time_import(admin, args.import_rows, args.ders, slots))


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from crest_web.launcher import services

    data_dir = Path(tempfile.mkdtemp(prefix="crest-bench-"))
    try:
        with services(data_dir, ephemeral=True, database="crest_bench"):
            run(args, data_dir)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
