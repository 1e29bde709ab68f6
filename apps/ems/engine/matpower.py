"""An uploaded MATPOWER case file (``mpc.baseMVA``, ``mpc.bus``, ``mpc.gen``, ``mpc.branch``) as a
pandapower net whose buses keep the file's own bus numbers. Framework-free: no Django here.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np
from numpy.typing import NDArray

MIN_COLUMNS = {"bus": 13, "gen": 10, "branch": 13}  # MATPOWER format version 2
MAX_BUSES = 3000
_COMMENT = re.compile(r"%[^\n]*")
_BASE = re.compile(r"mpc\.baseMVA\s*=\s*([-+\d.eE]+)\s*;")
_MATRIX = r"mpc\.{}\s*=\s*\[(.*?)\]\s*;"


def _matrix(text: str, name: str) -> NDArray[np.float64]:
    match = re.search(_MATRIX.format(name), text, re.DOTALL)
    if match is None:
        raise ValueError(f"The MATPOWER file has no mpc.{name} matrix.")
    rows = [r for r in re.split(r"[;\n]", match.group(1)) if r.strip()]
    try:
        values = [[float(v) for v in re.split(r"[\s,]+", r.strip())] for r in rows]
    except ValueError:
        raise ValueError(f"mpc.{name} holds something that is not a number.") from None
    widths = {len(v) for v in values}
    if len(widths) != 1 or min(widths) < MIN_COLUMNS[name]:
        raise ValueError(f"Every row of mpc.{name} needs the same number (≥ {MIN_COLUMNS[name]}) of columns.")
    return np.array(values, dtype=float)


def parse_matpower(text: str) -> dict[str, Any]:
    """The case as a PYPOWER dict; ``ValueError`` saying what is missing or inconsistent."""
    body = _COMMENT.sub("", text)
    base = _BASE.search(body)
    if base is None:
        raise ValueError("The MATPOWER file has no mpc.baseMVA.")
    matrices = {name: _matrix(body, name) for name in ("bus", "gen", "branch")}
    buses = matrices["bus"][:, 0]
    if len(buses) > MAX_BUSES or len(set(buses)) != len(buses) or (buses < 1).any():
        raise ValueError(f"Bus numbers must be distinct positive whole numbers (at most {MAX_BUSES} buses).")
    known = set(buses.astype(int))
    for name, columns in (("gen", [0]), ("branch", [0, 1])):
        unknown = sorted(set(matrices[name][:, columns].astype(int).ravel()) - known)
        if unknown:
            raise ValueError(
                f"mpc.{name} names bus(es) {', '.join(map(str, unknown[:10]))} missing from mpc.bus."
            )
    if not (matrices["bus"][:, 1] == 3).any():
        raise ValueError("The MATPOWER case has no reference (type 3) bus.")
    return {"version": "2", "baseMVA": float(base.group(1)), **matrices}


def net_from_matpower(text: str) -> Any:
    """A pandapower net of the file; bus names are the file's bus numbers."""
    from pandapower.converter.pypower.from_ppc import from_ppc

    ppc = parse_matpower(text)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = from_ppc(ppc, f_hz=50, validate_conversion=False)
    net.bus["name"] = [str(int(i)) for i in net.bus.index]  # from_ppc indexes buses by their numbers
    return net
