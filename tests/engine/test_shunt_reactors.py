"""Shunt reactors (issue #15: they were refused): each phase to ground or between phases, given by
kvar at kV, by R and X in ohms, or with a parallel resistance. Read from OpenDSS's own primitive
admittance and checked against OpenDSS solving the original file: our export to 1e-6 pu (the same
physics written back), LinDist3Flow to seed 004's 0.07 %, and the reactive power each absorbs."""

from __future__ import annotations

from pathlib import Path

import pytest

from apps.dms.engine import lindist3flow, opendss_pf
from apps.dms.engine.dss_import import read_network
from apps.dms.engine.network import FeederImportError, Network
from tests.engine.test_opendss_pf import original_pu

CIRCUIT = """
clear
new circuit.shunts basekv=69 pu=1.0 phases=3 bus1=src mvasc3=1500 mvasc1=1200
new transformer.sub phases=3 windings=2 buses=(src, a) conns=(delta, wye)
~ kvs=(69, 12.47) kvas=(10000, 10000) xhl=7 %loadloss=0.6
new linecode.ph3 nphases=3 r1=0.25 x1=0.55 r0=0.55 x0=1.60 units=km
new line.l1 bus1=a bus2=b linecode=ph3 length=6 units=km
new load.b bus1=b phases=3 kv=12.47 kw=2500 kvar=-900 model=1
new reactor.wye bus1=b phases=3 kv=12.47 kvar=1200
new reactor.lossy bus1=b.2 phases=1 kv=7.2 kvar=300 r=4
new reactor.delta bus1=a phases=3 kv=12.47 kvar=600 conn=delta
new reactor.rp bus1=b phases=3 r=2 x=220 rp=9000
{extra}
set voltagebases=[69, 12.47]
calcvoltagebases
solve
"""


def _read(tmp_path: Path, extra: str = "") -> Network:
    path = tmp_path / "shunts.dss"
    path.write_text(CIRCUIT.format(extra=extra))
    return read_network(path, "shunts")


def test_shunt_reactors_solve_like_the_original_file(tmp_path: Path) -> None:
    net = _read(tmp_path)
    reference = original_pu(net)
    reactors = {x.name: x for x in net.shunt_reactors}
    assert sorted(reactors) == ["delta", "lossy", "rp", "wye"]
    assert (reactors["delta"].conn, reactors["lossy"].phases) == ("delta", (2,))
    # OpenDSS's kvar at its kV: 1200 at 12.47 kV; the series r=4 Ω takes a little off 300 kvar at 7.2 kV
    assert reactors["wye"].kvar == pytest.approx(1200 * (net.bus["b"].base_kv_ln * 3**0.5 / 12.47) ** 2)
    assert reactors["lossy"].kw > 0 and reactors["rp"].kw > reactors["wye"].kw == pytest.approx(0, abs=1e-9)
    ours = opendss_pf.solve(net)
    assert max(abs(ours.voltages_pu[k] - v) for k, v in reference.items()) < 1e-6
    assert min(reference.values()) < 0.97  # the reactors matter: they pull the far bus down
    linear = lindist3flow.build(net).solve(iterations=10)
    assert max(abs(linear.voltages_pu[k] - v) / v * 100 for k, v in reference.items()) <= 0.07
    # what the reactors take is demand, not a loss of the series elements, in both engines
    losses = (linear.losses_kw, linear.losses_kvar)
    assert (ours.losses_kw, ours.losses_kvar) == pytest.approx(losses, abs=0.5)
    assert ours.losses_kvar < 0.2 * sum(x.kvar for x in net.shunt_reactors)


def test_without_its_reactors_the_feeder_would_sit_higher(tmp_path: Path) -> None:
    """The reactors are not dropped silently: the same feeder without them solves visibly higher."""
    with_them = opendss_pf.solve(_read(tmp_path)).voltages_pu["b.1"]
    bare = _read(tmp_path, "\n".join(f"disable reactor.{x}" for x in ("wye", "rp", "lossy", "delta")))
    assert bare.shunt_reactors == () and opendss_pf.solve(bare).voltages_pu["b.1"] > with_them + 0.02


def test_a_coupled_shunt_reactor_is_refused_naming_it(tmp_path: Path) -> None:
    coupled = "new reactor.mutual bus1=b phases=3 rmatrix=[1|0.2 1|0.2 0.2 1] xmatrix=[90|20 90|20 20 90]"
    with pytest.raises(FeederImportError, match=r"Reactor\.mutual is an unbalanced or coupled shunt reactor"):
        _read(tmp_path, coupled)
