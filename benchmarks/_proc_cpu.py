"""CPU time of the parts of a benchmark run, read from /proc (Linux): a process and everything it
started, PostgreSQL's postmaster and its backends, the Redis server, and the whole machine (which
other work may share)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it, as they are now."""
    out, todo = [], [pid]
    while todo:
        here = todo.pop()
        out.append(here)
        for task in Path(f"/proc/{here}/task").glob("*/children"):
            try:
                todo += [int(c) for c in task.read_text().split()]
            except OSError:
                continue
    return out


def cpu_s(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        total += (int(fields[11]) + int(fields[12])) * TICK_S  # utime, stime
    return total


def machine_busy_s() -> float:
    """CPU time the whole machine spent busy (every CPU added up), from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    return (sum(values[:8]) - idle) * TICK_S


def _redis_pid(url: str) -> int | None:
    port = urlsplit(url).port
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if cmdline.startswith("redis-server") and f":{port}" in cmdline:
                return int(proc.name)
    return None


@dataclass
class Parts:
    """The processes of one run, looked up afresh at each sample (workers come and go)."""

    server: int
    generators: list[int]
    folder: Path  # the run's data folder: PostgreSQL's is folder/postgres
    redis_url: str

    def _groups(self) -> dict[str, list[int]]:
        pidfile = self.folder / "postgres" / "postmaster.pid"
        postgres = int(pidfile.read_text().split()[0]) if pidfile.exists() else None
        redis = _redis_pid(self.redis_url)
        return {
            "server": descendants(self.server),
            "load generator": [p for g in self.generators for p in descendants(g)],
            "PostgreSQL": descendants(postgres) if postgres else [],
            "Redis": [redis] if redis else [],
        }

    def sample(self) -> dict[str, float]:
        out = {name: cpu_s(pids) for name, pids in self._groups().items()}
        out["whole machine"] = machine_busy_s()
        out["at"] = os.times().elapsed
        return out

    def cores_since(self, before: dict[str, float]) -> dict[str, float]:
        now = self.sample()
        wall_s = now.pop("at") - before["at"]
        return {name: (value - before[name]) / wall_s for name, value in now.items()}
