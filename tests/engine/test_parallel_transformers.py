"""Transformers in parallel between the same two buses (issue #15; EPRI ckt7 runs three at its
substation): imported as one equivalent branch that solves like the bank. Checked against OpenDSS
on the original file — the export to 1e-6 pu (the same physics written back), LinDist3Flow to seed
004's 0.07 % — and a bank at different taps refused, naming its units."""

from __future__ import annotations

from pathlib import Path

import pytest

from apps.dms.engine import lindist3flow, opendss_pf
from apps.dms.engine.dss_import import read_network
from apps.dms.engine.network import FeederImportError
from apps.dms.engine.studies import validate
from tests.conftest import FEEDERS
from tests.engine.test_opendss_pf import original_pu

BANK = """
clear
new circuit.bank basekv=115 pu=1.03 phases=3 bus1=src mvasc3=3000 mvasc1=2500
new transformer.t1 phases=3 windings=2 buses=(src, sub) conns=(delta, wye)
~ kvs=(115, 12.47) kvas=(20000, 20000) xhl=8 %loadloss=0.5 %imag=0.3
new transformer.t2 phases=3 windings=2 buses=(src, sub) conns=(delta, wye)
~ kvs=(115, 12.47) kvas=(10000, 10000) xhl=6 %loadloss=0.8 {t2_extra}
new linecode.ph3 nphases=3 r1=0.30 x1=0.60 r0=0.60 x0=1.80 units=km
new line.l1 bus1=sub bus2=a linecode=ph3 length=3 units=km
new load.a bus1=a phases=3 kv=12.47 kw=9000 kvar=3500 model=1
new load.a1 bus1=a.1 phases=1 kv=7.2 kw=1200 kvar=300 model=2
set voltagebases=[115, 12.47]
calcvoltagebases
solve
"""


def test_a_bank_in_parallel_is_one_branch_that_solves_like_the_bank(tmp_path: Path) -> None:
    path = tmp_path / "bank.dss"
    path.write_text(BANK.format(t2_extra=""))
    net = read_network(path, "bank")
    reference = original_pu(net)
    (bank,) = net.transformers
    assert bank.name == "t1+t2" and bank.kva == 30000 and bank.is_feeder_head
    ours = opendss_pf.solve(net).voltages_pu
    assert max(abs(ours[k] - v) for k, v in reference.items()) < 1e-6
    assert reference["a.1"] < 1.0  # the bank's impedance matters: the load pulls the bus down
    linear = lindist3flow.build(net).solve(iterations=10).voltages_pu
    assert max(abs(linear[k] - v) / v * 100 for k, v in reference.items()) <= 0.07


def test_a_bank_at_different_taps_is_refused_naming_its_units(tmp_path: Path) -> None:
    path = tmp_path / "bank.dss"
    path.write_text(BANK.format(t2_extra="taps=[1.0 1.025]"))
    with pytest.raises(FeederImportError, match=r"Transformer\.t1 and Transformer\.t2 are in parallel"):
        read_network(path, "bank")


def test_epri_ckt7_imports_and_meets_the_base_case_targets() -> None:
    """ckt7 was refused for its three substation transformers in parallel."""
    net = read_network(FEEDERS / "epri_ckt7" / "Master_ckt7.dss", "ckt7")
    reference = original_pu(net)
    assert len(net.buses) > 1200 and [t.name for t in net.transformers if "+" in t.name] == ["sub1+sub2+sub3"]
    ours = opendss_pf.solve(net).voltages_pu
    assert max(abs(ours[k] - v) for k, v in reference.items()) < 1e-6
    (base,) = validate(net, sweep=False)
    assert base.mean_v_err_pct <= 0.02 and base.max_v_err_pct <= 0.07
