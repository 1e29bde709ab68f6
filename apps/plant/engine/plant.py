"""The whole plant: its feeders, the transmission case they hang from, the sky over each feeder and
the events a trainer injects. One `step` advances it to a simulated time and returns its true state
(`Truth`), which the protocols then publish and which is kept beside what the control room saw.

Within a step the feeders solve at the transmission voltage of the step before (10 s earlier at the
default step): the two sides are coupled through the DSO buses without iterating to a joint fixed
point, as a real grid's meters would not tell the difference at that resolution. Between the two
sits each feeder's substation tap changer (apps/plant/engine/ltc.py), which holds the feeder's source
at its controller's set point — the voltage the EMS asked the DSO for, once the DMS has written it."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from apps.plant.engine import shapes
from apps.plant.engine.clock import hour_of_day
from apps.plant.engine.feeder import Conditions, FeederPlant, FeederReading
from apps.plant.engine.ltc import TapChanger, check_set_point
from apps.plant.engine.transmission import GridReading, TransmissionPlant


@dataclass
class Weather:
    """What the sky and the customers do on one feeder, on top of the day's shapes."""

    sky: str = shapes.SKY_CLEAR
    cloud_seed: int = 1
    cloud_factor: float = 1.0  # a trainer's cloud passage: the share of the sun left (0 … 1)
    load_factor: float = 1.0  # a trainer's load step: the feeder's load times this


@dataclass(frozen=True)
class Truth:
    """The plant's true state after one step."""

    at: dt.datetime
    feeders: dict[str, FeederReading]
    grid: GridReading | None
    irradiance: dict[str, float] = field(default_factory=dict)

    def as_record(self) -> dict[str, Any]:
        """A JSON-ready summary (per DER P, Q, V; per feeder head and voltage extremes)."""
        return {
            "at": self.at.isoformat(),
            "grid": asdict(self.grid) if self.grid is not None else None,
            "feeders": {
                name: {
                    **{k: v for k, v in asdict(r).items() if k not in ("ders", "loads")},
                    "irradiance": self.irradiance.get(name),
                    "ders": {d: [x.p_kw, x.q_kvar, x.v_pu] for d, x in r.ders.items()},
                }
                for name, r in self.feeders.items()
            },
        }


class Plant:
    def __init__(
        self,
        feeders: dict[str, FeederPlant],
        transmission: TransmissionPlant | None = None,
        dso_of: dict[str, str] | None = None,
    ) -> None:
        """`dso_of` maps each feeder to the DSO tie of the transmission case it hangs from."""
        self.feeders, self.transmission = feeders, transmission
        self.dso_of = dso_of or {}
        unknown = set(self.dso_of) - set(feeders)
        if unknown:
            raise ValueError(f"no feeder named {', '.join(sorted(unknown))} in the plant")
        self.weather = {name: Weather() for name in feeders}
        # the transmission voltage at each feeder's substation; None until the case has solved
        self._v_source: dict[str, float | None] = {name: None for name in feeders}
        self.ltc = {name: TapChanger(feeder.net.source_pu) for name, feeder in feeders.items()}
        self._settled: set[str] = set()
        self._last_at: dt.datetime | None = None

    def set_voltage(self, feeder: str, v_pu: float) -> float:
        """A new set point for a feeder's tap changer controller (ValueError in words if refused)."""
        if feeder not in self.ltc:
            raise ValueError(f"no feeder named {feeder} in the plant")
        self.ltc[feeder].v_set_pu = check_set_point(v_pu)
        return self.ltc[feeder].v_set_pu

    def step(self, at: dt.datetime) -> Truth:
        hour = hour_of_day(at)
        seconds = hour * 3600.0
        dt_s = (at - self._last_at).total_seconds() if self._last_at is not None else 0.0
        self._last_at = at
        readings, sun = {}, {}
        for name in self.feeders:
            w = self.weather[name]
            sun[name] = shapes.irradiance(seconds, w.sky, w.cloud_seed) * w.cloud_factor
            readings[name] = self._feeder_step(name, Conditions(hour, sun[name], w.load_factor), dt_s)
        grid = self._grid(readings)
        return Truth(at, readings, grid, sun)

    def _feeder_step(self, name: str, conditions: Conditions, dt_s: float) -> FeederReading:
        """Solve one feeder at the source voltage its tap changer delivers, then let the changer's
        controller act on what the bus reads (its step shows in the next solve, as in the field)."""
        feeder, ltc = self.feeders[name], self.ltc[name]
        upstream = self._v_source[name]
        upstream = feeder.net.source_pu if upstream is None else upstream
        tap = ltc.tap
        reading = feeder.step(replace(conditions, v_source_pu=upstream * ltc.ratio))
        if reading.converged:
            ltc.control(reading.v_pu, dt_s)
        return replace(reading, tap=tap, v_set_pu=ltc.v_set_pu)

    def _grid(self, readings: dict[str, FeederReading]) -> GridReading | None:
        """Solve the transmission side with every tied feeder's head and keep its voltages for the
        next step; a feeder not tied keeps its model's source voltage."""
        if self.transmission is None or not self.dso_of:
            return None
        heads: dict[str, tuple[float, float]] = {}
        for feeder, dso in self.dso_of.items():
            p, q = heads.get(dso, (0.0, 0.0))
            heads[dso] = (p + readings[feeder].p_kw, q + readings[feeder].q_kvar)
        grid = self.transmission.step(heads)
        for feeder, dso in self.dso_of.items():
            v = self._v_source[feeder] = self.transmission.source_pu(grid, dso)
            if v is not None and feeder not in self._settled:  # the first transmission voltage
                self.ltc[feeder].settle(v)
                self._settled.add(feeder)
        return grid
