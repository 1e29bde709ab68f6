"""The plant's transmission side: the demo's pandapower case with each DSO's feeders drawn at its
bus. Every step the feeders' head P and Q (times the DSO's feeder count) load their bus, a full AC
power flow solves the case, and the voltage at each DSO bus becomes its feeders' source voltage —
so what the distribution side does moves the transmission voltage, and a line taken out of
service (a scenario) moves it too."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

from apps.ems.engine.case import bus_index, find_branch, load_case


@dataclass(frozen=True)
class DsoTie:
    """Where a DSO's feeders connect: the case bus, and how many copies of the feeder it stands for."""

    bus: int
    feeder_count: int = 1


@dataclass(frozen=True)
class GridReading:
    converged: bool
    v_pu: dict[int, float]  # case bus number → voltage magnitude
    p_slack_mw: float
    lines_out: tuple[str, ...]


class TransmissionPlant:
    def __init__(self, case: str, ties: dict[str, DsoTie]) -> None:
        self.case, self.ties = case, ties
        self.net: Any = load_case(case)
        self._bus = {name: bus_index(self.net, case, tie.bus) for name, tie in ties.items()}
        import pandapower as pp

        self._loads = {
            name: pp.create_load(self.net, bus=index, p_mw=0.0, q_mvar=0.0, name=f"dso {name}")
            for name, index in self._bus.items()
        }
        self.lines_out: set[str] = set()

    def take_out(self, branch: str) -> None:
        """A line outage: the branch named FROM-TO (case bus numbers) leaves service."""
        found = find_branch(self.net, self.case, branch)
        table = self.net.line if found.kind == "line" else self.net.trafo
        table.loc[list(found.indices), "in_service"] = False
        self.lines_out.add(branch)

    def restore(self, branch: str) -> None:
        found = find_branch(self.net, self.case, branch)
        table = self.net.line if found.kind == "line" else self.net.trafo
        table.loc[list(found.indices), "in_service"] = True
        self.lines_out.discard(branch)

    def step(self, heads_kw: dict[str, tuple[float, float]]) -> GridReading:
        """Solve with each DSO's feeders drawing (P kW, Q kvar) per feeder at the head."""
        import pandapower as pp

        for name, (p_kw, q_kvar) in heads_kw.items():
            count = self.ties[name].feeder_count
            self.net.load.loc[self._loads[name], ["p_mw", "q_mvar"]] = (
                p_kw * count / 1e3,
                q_kvar * count / 1e3,
            )
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pp.runpp(self.net, init="results" if self.net.converged else "auto", numba=False)
            converged = bool(self.net.converged)
        except Exception:  # pandapower raises when the case has no solution (an island, a collapse)
            converged = False
        numbers = {index: number for number, index in ((t.bus, self._bus[n]) for n, t in self.ties.items())}
        v_pu = {numbers[i]: float(self.net.res_bus.vm_pu.at[i]) for i in numbers} if converged else {}
        p_slack = float(self.net.res_ext_grid.p_mw.sum()) if converged else float("nan")
        return GridReading(converged, v_pu, p_slack, tuple(sorted(self.lines_out)))

    def source_pu(self, reading: GridReading, dso: str) -> float | None:
        """The voltage a DSO's feeders see at their source: the case bus's, None when unsolved."""
        return reading.v_pu.get(self.ties[dso].bus)
