"""Standard transmission cases (pandapower's MATPOWER cases) named by their own 1-based bus numbers.

People read a case by its bus numbers (bus 7 of case9 is the 100 MW load); pandapower indexes buses
from 0.  These helpers translate between the two and name branches ``FROM-TO`` by bus numbers.
Framework-free: no Django here.
"""

from __future__ import annotations

import copy
import functools
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

CASES: tuple[str, ...] = ("case9", "case14", "case30", "case118")
DEFAULT_CASE = "case9"
# PSS/E numbers buses 1–999,997 and MATPOWER cases keep its numbers: anything larger is a typo.
MAX_BUS_NUMBER = 999_997

_INJECTION = re.compile(r"^\s*(\d+)\s*:\s*([-+]?[\d.eE+-]+)\s*:\s*([-+]?[\d.eE+-]+)\s*$")
_BRANCH = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*$")
_LIST_LIMIT = 40  # branch names quoted in an error message before "…"


@dataclass(frozen=True)
class Injection:
    """A DER injection at a bus (case bus number): positive p/q flow into the grid (reduce net load)."""

    bus: int
    p_mw: float
    q_mvar: float

    def label(self) -> str:
        return f"{self.bus}:{self.p_mw:g}:{self.q_mvar:g}"


@dataclass(frozen=True)
class Branch:
    """Every in-service element of one kind ("line" or "trafo") joining two buses (parallel circuits)."""

    kind: str
    indices: tuple[int, ...]


_UPLOADS: dict[str, Any] = {}  # "upload-<digest>" → net of an uploaded MATPOWER file (this process)
_MAX_UPLOADS = 16


def register_upload(text: str) -> str:
    """Read an uploaded MATPOWER file; its name (``upload-<digest>``) then works as a case name."""
    import hashlib

    from apps.ems.engine.matpower import net_from_matpower

    key = "upload-" + hashlib.sha256(text.encode()).hexdigest()[:10]
    if key not in _UPLOADS:
        net = net_from_matpower(text)
        if len(_UPLOADS) >= _MAX_UPLOADS:
            _UPLOADS.pop(next(iter(_UPLOADS)))
        _UPLOADS[key] = net
    return key


def load_case(name: str = DEFAULT_CASE) -> Any:
    """A fresh pandapower net of a standard (or uploaded) case; ``ValueError`` for an unknown name."""
    key = name.strip().lower()
    if key in _UPLOADS:
        return copy.deepcopy(_UPLOADS[key])
    if key not in CASES:
        raise ValueError(f"Unknown case {name!r}; known cases: {', '.join(CASES)}.")
    return copy.deepcopy(_pristine(key))  # reading case118's JSON takes seconds, a copy milliseconds


@functools.lru_cache(maxsize=len(CASES))
def _pristine(key: str) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pandapower.networks as pn

        factory: Callable[[], Any] = getattr(pn, key)
        return factory()


def bus_numbers(net: Any) -> dict[int, int]:
    """Case bus number → pandapower bus index (``net.bus.name`` when set, else index + 1)."""
    numbers: dict[int, int] = {}
    for index, name in zip(net.bus.index, net.bus.name, strict=True):
        try:
            number = int(name)
        except (TypeError, ValueError):
            number = int(index) + 1
        numbers[number] = int(index)
    return numbers


def bus_number_of(net: Any) -> dict[int, int]:
    """Pandapower bus index → case bus number (the inverse of ``bus_numbers``)."""
    return {index: number for number, index in bus_numbers(net).items()}


def bus_index(net: Any, case: str, number: int) -> int:
    numbers = bus_numbers(net)
    if number not in numbers:
        raise ValueError(f"Bus {number} does not exist in {case} (buses {min(numbers)}–{max(numbers)}).")
    return numbers[number]


def _branches(net: Any, kind: str) -> dict[tuple[int, int], list[int]]:
    """``(low, high)`` bus numbers → element indices, for the lines or the two-winding transformers."""
    table, a, b = (net.line, "from_bus", "to_bus") if kind == "line" else (net.trafo, "hv_bus", "lv_bus")
    number = bus_number_of(net)
    found: dict[tuple[int, int], list[int]] = {}
    for index, row in table.iterrows():
        ends = sorted((number[int(row[a])], number[int(row[b])]))
        found.setdefault((ends[0], ends[1]), []).append(int(index))
    return found


def branch_names(net: Any, kind: str = "line") -> list[str]:
    """``FROM-TO`` names of the case's lines (or transformers), lower bus number first."""
    return [f"{f}-{t}" for f, t in sorted(_branches(net, kind))]


def parse_branch(text: str) -> tuple[int, int]:
    match = _BRANCH.match(text)
    if match is None:
        raise ValueError(f"Bad branch {text!r}: write FROM-TO with the case's bus numbers, e.g. 5-6.")
    return int(match.group(1)), int(match.group(2))


def find_branch(net: Any, case: str, text: str) -> Branch:
    """The line(s) — or, failing that, the transformer(s) — joining the two buses named ``FROM-TO``."""
    f, t = parse_branch(text)
    key = (min(f, t), max(f, t))
    for kind in ("line", "trafo"):
        indices = _branches(net, kind).get(key)
        if indices:
            return Branch(kind, tuple(indices))
    numbers = bus_numbers(net)
    for bus in (f, t):
        if bus not in numbers:
            raise ValueError(
                f"No line {f}-{t} in {case}: bus {bus} does not exist (buses {min(numbers)}–{max(numbers)})."
            )
    message = f"No line {f}-{t} in {case}; lines: {_listing(branch_names(net, 'line'))}"
    trafos = branch_names(net, "trafo")
    if trafos:
        message += f"; transformers: {_listing(trafos)}"
    if len(net.trafo3w):
        message += " (three-winding transformers cannot be taken out)"
    raise ValueError(message + ".")


def _listing(names: list[str]) -> str:
    if len(names) <= _LIST_LIMIT:
        return ", ".join(names)
    return ", ".join(names[:_LIST_LIMIT]) + f", … ({len(names)} in all)"


def parse_injection(text: str) -> Injection:
    """``BUS:P_MW:Q_MVAR`` (e.g. ``7:45:22``) → ``Injection``; ``ValueError`` if malformed."""
    match = _INJECTION.match(text)
    if match is not None:
        try:
            return Injection(int(match.group(1)), float(match.group(2)), float(match.group(3)))
        except ValueError:
            pass
    raise ValueError(f"Bad injection {text!r}: write BUS:P_MW:Q_MVAR with a case bus number, e.g. 7:45:22.")
