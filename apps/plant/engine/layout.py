"""The plant's layout: the as-built description of the grid it simulates — feeders (their network
models), the transmission case and where each feeder hangs from it, every DER with its ratings and
where it answers (DNP3 port and address, or the LFDI of its 2030.5 device), and each feeder's RTU.
The control room writes it from its own records (`manage.py export_plant_layout`), as a training
simulator is built from a utility's network model; the plant reads nothing else. A layout file is
input: everything in it is checked, and a fault is explained in words."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apps.dms.engine.dnp3.points import DERLimits
from apps.dms.engine.network import FeederImportError, Network
from apps.plant.engine import shapes
from apps.plant.engine.feeder import PlantDER
from apps.standards.dnp3_profile import DEFAULT_POINT_MAP, point_map_problem
from apps.standards.scenarios import NETWORK_TIERS

MAX_LAYOUT_BYTES = 64 * 1024 * 1024


class LayoutError(ValueError):
    """The layout cannot be simulated; the message says where and why."""


@dataclass(frozen=True)
class Endpoint:
    port: int
    address: int


@dataclass(frozen=True)
class DerSpec:
    der: PlantDER
    feeder: str
    dnp3: Endpoint | None = None
    lfdi: str = ""
    tier: str = ""  # the network tier its link crosses (the plant can cut it); "" direct
    dnp3_map: str = DEFAULT_POINT_MAP  # the point map its DNP3 outstation serves (registry names)


@dataclass(frozen=True)
class FeederSpec:
    net: Network
    tie_bus: int | None  # the transmission case's bus it hangs from; None: a stiff source
    feeder_count: int
    sky: str
    commercial_share: float
    rtu: Endpoint | None


@dataclass(frozen=True)
class Layout:
    case: str
    feeders: dict[str, FeederSpec]
    ders: list[DerSpec]

    @classmethod
    def read(cls, path: Path) -> Layout:
        try:
            if path.stat().st_size > MAX_LAYOUT_BYTES:
                raise LayoutError(f"{path} is larger than {MAX_LAYOUT_BYTES // 2**20} MiB")
            doc = json.loads(path.read_text())
        except OSError as exc:
            raise LayoutError(f"cannot read the layout {path}: {exc.strerror or exc}") from exc
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise LayoutError(f"{path} is not a JSON layout: {exc}") from exc
        return cls.from_doc(doc)

    @classmethod
    def from_doc(cls, doc: Any) -> Layout:
        if not isinstance(doc, dict):
            raise LayoutError("a layout is a JSON object with case, feeders and ders")
        feeders = {f.net.name: f for f in (_feeder(x, i) for i, x in enumerate(_list(doc, "feeders")))}
        if not feeders:
            raise LayoutError("the layout has no feeders")
        ders = [_der(x, i, feeders) for i, x in enumerate(_list(doc, "ders"))]
        _unique([(d.der.name, f"DER {d.der.name}") for d in ders], "name")
        endpoints = [((d.dnp3.port, d.dnp3.address), f"DER {d.der.name}") for d in ders if d.dnp3]
        endpoints += [((f.rtu.port, f.rtu.address), f"the RTU of {n}") for n, f in feeders.items() if f.rtu]
        _unique(endpoints, "DNP3 port and address")
        _unique([(d.lfdi, f"DER {d.der.name}") for d in ders if d.lfdi], "2030.5 LFDI")
        case = str(doc.get("case") or "case9")
        return cls(case, feeders, ders)


def _list(doc: dict[str, Any], key: str) -> list[Any]:
    value = doc.get(key, [])
    if not isinstance(value, list):
        raise LayoutError(f"'{key}' must be a list")
    return value


def _unique(values: list[tuple[Any, str]], what: str) -> None:
    """Each value once; else which two devices share it."""
    seen: dict[Any, str] = {}
    for value, owner in values:
        if value in seen:
            raise LayoutError(f"{seen[value]} and {owner} share the {what} {value!r}")
        seen[value] = owner


def _number(x: dict[str, Any], key: str, where: str, low: float = 0.0, default: float | None = None) -> float:
    value = x.get(key, default)
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < low
    ):
        raise LayoutError(f"{where}: '{key}' must be a number of at least {low:g}, not {value!r}")
    return float(value)


def _endpoint(x: Any, where: str) -> Endpoint | None:
    if x is None:
        return None
    if not isinstance(x, dict):
        raise LayoutError(f"{where}: an endpoint is an object with port and address")
    port, address = x.get("port"), x.get("address")
    if not isinstance(port, int) or not 1024 <= port <= 65535:
        raise LayoutError(f"{where}: port must be within 1024…65535, not {port!r}")
    if not isinstance(address, int) or not 0 <= address <= 65519:
        raise LayoutError(f"{where}: DNP3 address must be within 0…65519, not {address!r}")
    return Endpoint(port, address)


def _feeder(x: Any, i: int) -> FeederSpec:
    if not isinstance(x, dict) or not isinstance(x.get("model"), dict):
        raise LayoutError(f"feeder {i + 1}: needs a 'model' (the network as the control room imported it)")
    try:
        net = Network.from_dict(x["model"])
    except (FeederImportError, KeyError, TypeError, ValueError) as exc:
        raise LayoutError(f"feeder {i + 1}: its model cannot be read: {exc}") from exc
    where = f"feeder {net.name}"
    tie = x.get("tie_bus")
    if tie is not None and (not isinstance(tie, int) or tie < 1):
        raise LayoutError(f"{where}: 'tie_bus' is a bus number of the case, not {tie!r}")
    sky = x.get("sky", shapes.SKY_CLEAR)
    if sky not in shapes.SKIES:
        raise LayoutError(f"{where}: unknown sky {sky!r}; choose {' or '.join(shapes.SKIES)}")
    share = _number(x, "commercial_share", where, default=0.3)
    if share > 1.0:
        raise LayoutError(f"{where}: 'commercial_share' is a share within 0…1, not {share!r}")
    count = _number(x, "feeder_count", where, low=1.0, default=1)
    return FeederSpec(net, tie, int(count), sky, share, _endpoint(x.get("rtu"), f"{where} RTU"))


def _der(x: Any, i: int, feeders: dict[str, FeederSpec]) -> DerSpec:
    if not isinstance(x, dict):
        raise LayoutError(f"DER {i + 1}: must be an object")
    name, feeder, bus = str(x.get("name") or ""), str(x.get("feeder") or ""), str(x.get("bus") or "")
    where = f"DER {name or i + 1}"
    if not name:
        raise LayoutError(f"{where}: needs a name")
    if feeder not in feeders:
        raise LayoutError(f"{where}: no feeder named {feeder!r} in the layout")
    net = feeders[feeder].net
    if bus not in net.bus:
        raise LayoutError(f"{where}: feeder {feeder} has no bus {bus!r}")
    phases = tuple(x.get("phases") or ())
    if not phases or not set(phases) <= set(net.bus[bus].phases):
        raise LayoutError(
            f"{where}: phases {list(phases)} are not among bus {bus}'s {list(net.bus[bus].phases)}"
        )
    limits = DERLimits(
        _number(x, "p_max_kw", where),
        _number(x, "q_inj_max_kvar", where),
        _number(x, "q_abs_max_kvar", where),
        _number(x, "s_max_kva", where),
    )
    der = PlantDER(name, bus, phases, _number(x, "array_kw", where, default=limits.p_max_kw), limits)
    lfdi = str(x.get("lfdi") or "").upper()
    # Neither: a DER the control room cannot reach; it follows the sky at unity power factor.
    dnp3 = _endpoint(x.get("dnp3"), where)
    tier = str(x.get("tier") or "")
    if tier and (tier not in NETWORK_TIERS or (dnp3 is None and not lfdi)):
        raise LayoutError(
            f"{where}: a tier is one of {', '.join(NETWORK_TIERS)}, for a DER reached over DNP3 or 2030.5"
        )
    return DerSpec(der, feeder, dnp3, lfdi, tier, _point_map(x.get("dnp3"), where))


def _point_map(x: Any, where: str) -> str:
    """The `map` of a DNP3 endpoint, as the registry names it (absent: the compact map)."""
    name = x.get("map", DEFAULT_POINT_MAP) if isinstance(x, dict) else DEFAULT_POINT_MAP
    if problem := point_map_problem(name if isinstance(name, str) else repr(name)):
        raise LayoutError(f"{where}: {problem}")
    return str(name)
