"""Terminals written with their ground node (`bus.1.0`, `bus.1.2.3.0`, and `bus.0.1`, the same
one-phase connection written the other way round), as utility feeder files have them on loads,
capacitors, lines, transformers and DERs (issue #15: a feeder with `bus.0.1` ended in
`KeyError: '…0'`). Checked against OpenDSS solving the original file: our export to 1e-6 pu (the
same physics written back) and LinDist3Flow to seed 004's 0.07 %."""

from __future__ import annotations

from pathlib import Path

import pytest

from apps.dms.engine import lindist3flow, opendss_pf
from apps.dms.engine.dss_import import read_network
from apps.dms.engine.network import FeederImportError
from tests.engine.test_opendss_pf import original_pu

CIRCUIT = """
clear
new circuit.grounded basekv=12.47 pu=1.02 phases=3 bus1=src mvasc3=2000 mvasc1=1800
new linecode.ph3 nphases=3 r1=0.30 x1=0.60 r0=0.60 x0=1.80 units=km
new linecode.ph1 nphases=1 r1=0.50 x1=0.50 units=km
new line.trunk bus1=src.1.2.3.0 bus2=a.1.2.3.0 linecode=ph3 length=2 units=km
new line.tap bus1=a.2.0 bus2=b.2.0 linecode=ph1 length=0.8 units=km
new transformer.svc phases=3 windings=2 buses=(a.1.2.3.0, lv.1.2.3.0) conns=(wye, wye)
~ kvs=(12.47, 0.48) kvas=(500, 500) xhl=4 %loadloss=1
new load.ab bus1=a.1.0 phases=1 kv=7.2 kw=400 kvar=120 model=1
new load.rev bus1=a.0.3 phases=1 kv=7.2 kw=250 kvar=60 model=2
new load.b bus1=b.2.0 phases=1 kv=7.2 kw=150 kvar=50 model=5
new load.lv bus1=lv.1.2.3.0 phases=3 kv=0.48 kw=300 kvar=90 model=1
new capacitor.cb bus1=a.3.0 phases=1 kv=7.2 kvar=100
new pvsystem.pv bus1=b.0.2 phases=1 kv=7.2 kva=60 pmpp=50 irradiance=0.9
set voltagebases=[12.47, 0.48]
calcvoltagebases
solve
"""


def test_ground_nodes_in_any_order_import_and_solve_like_the_original(tmp_path: Path) -> None:
    path = tmp_path / "grounded.dss"
    path.write_text(CIRCUIT)
    net = read_network(path, "grounded")
    reference = original_pu(net)
    loads = {x.name: (x.phases, x.conn) for x in net.loads}
    assert loads["rev"] == ((3,), "wye") and loads["ab"] == ((1,), "wye")
    assert [(g.name, g.phases, g.conn) for g in net.generators] == [("pv", (2,), "wye")]
    ours = opendss_pf.solve(net).voltages_pu
    assert max(abs(ours[k] - v) for k, v in reference.items()) < 1e-6
    assert min(reference.values()) < 1.0  # the loads matter: the far bus sags 2 % below the source
    linear = lindist3flow.build(net).solve(iterations=10).voltages_pu
    assert max(abs(linear[k] - v) / v * 100 for k, v in reference.items()) <= 0.07


@pytest.mark.parametrize(
    ("element", "message"),
    [
        ("new load.fl bus1=a.1.2.3.4 phases=3 kv=12.47 kw=90", r"Load\.fl has an ungrounded wye neutral"),
        ("new load.nothing bus1=a.0.0 phases=1 kv=7.2 kw=10", r"Load\.nothing connects ground to ground"),
        (  # a floating neutral on a wye–wye unit: its zero sequence has nowhere to go
            "new transformer.yy phases=3 windings=2 buses=[a.1.2.3.4 lv] conns=[wye wye] kvs=[12.47 4.16] "
            "kvas=[500 500]",
            r"Transformer\.yy has an ungrounded wye neutral, which is supported only on a wye–delta unit",
        ),
    ],
)
def test_a_terminal_that_cannot_be_modelled_is_refused_naming_it(
    tmp_path: Path, element: str, message: str
) -> None:
    path = tmp_path / "grounded.dss"
    path.write_text(CIRCUIT.replace("set voltagebases", f"{element}\nset voltagebases"))
    with pytest.raises(FeederImportError, match=message):
        read_network(path, "grounded")
