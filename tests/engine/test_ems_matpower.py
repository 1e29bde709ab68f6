"""Uploaded MATPOWER case files: the IEEE 9-bus case renumbered ×10 gives pandapower's case9 answers
under the file's own bus numbers; malformed files are refused with the reason."""

from __future__ import annotations

import pytest

from apps.ems.engine.case import register_upload
from apps.ems.engine.dso import DsoInterface
from apps.ems.engine.opf import run_opf
from apps.ems.engine.whatif import run_whatif

CASE9_X10 = """function mpc = case9x10
% IEEE 9-bus (MATPOWER case9), buses renumbered 10..90
mpc.version = '2';
mpc.baseMVA = 100;
mpc.bus = [
\t10\t3\t0\t0\t0\t0\t1\t1\t0\t345\t1\t1.1\t0.9;
\t20\t2\t0\t0\t0\t0\t1\t1\t0\t345\t1\t1.1\t0.9;
\t30\t2\t0\t0\t0\t0\t1\t1\t0\t345\t1\t1.1\t0.9;
\t40\t1\t0\t0\t0\t0\t1\t1\t0\t345\t1\t1.1\t0.9;
\t50\t1\t90\t30\t0\t0\t1\t1\t0\t345\t1\t1.1\t0.9;
\t60\t1\t0\t0\t0\t0\t1\t1\t0\t345\t1\t1.1\t0.9;
\t70\t1\t100\t35\t0\t0\t1\t1\t0\t345\t1\t1.1\t0.9;
\t80\t1\t0\t0\t0\t0\t1\t1\t0\t345\t1\t1.1\t0.9;
\t90\t1\t125\t50\t0\t0\t1\t1\t0\t345\t1\t1.1\t0.9;
];
mpc.gen = [
\t10\t72.3\t27.03\t300\t-300\t1\t100\t1\t250\t10;
\t20\t163\t6.54\t300\t-300\t1\t100\t1\t300\t10;
\t30\t85\t-10.95\t300\t-300\t1\t100\t1\t270\t10;
];
mpc.branch = [
\t10\t40\t0\t0.0576\t0\t250\t250\t250\t0\t0\t1\t-360\t360;
\t40\t50\t0.017\t0.092\t0.158\t250\t250\t250\t0\t0\t1\t-360\t360;
\t50\t60\t0.039\t0.17\t0.358\t150\t150\t150\t0\t0\t1\t-360\t360;
\t30\t60\t0\t0.0586\t0\t300\t300\t300\t0\t0\t1\t-360\t360;
\t60\t70\t0.0119\t0.1008\t0.209\t150\t150\t150\t0\t0\t1\t-360\t360;
\t70\t80\t0.0085\t0.072\t0.149\t250\t250\t250\t0\t0\t1\t-360\t360;
\t80\t20\t0\t0.0625\t0\t250\t250\t250\t0\t0\t1\t-360\t360;
\t80\t90\t0.032\t0.161\t0.306\t250\t250\t250\t0\t0\t1\t-360\t360;
\t90\t40\t0.01\t0.085\t0.176\t250\t250\t250\t0\t0\t1\t-360\t360;
];
"""


def test_an_uploaded_case_answers_like_the_standard_one_under_its_own_numbers() -> None:
    key = register_upload(CASE9_X10)
    assert key.startswith("upload-") and register_upload(CASE9_X10) == key
    mine, standard = run_whatif(key, (), ["50-60"]), run_whatif("case9", (), ["5-6"])
    assert list(mine.buses) == [str(10 * n) for n in range(1, 10)]
    for n in range(1, 10):
        assert mine.buses[str(10 * n)] == pytest.approx(standard.buses[str(n)], abs=1e-6)
    assert mine.losses_mw == pytest.approx(standard.losses_mw, abs=1e-4)
    result = run_opf(key, [DsoInterface(50, 22, -700, 700), DsoInterface(90, 25, -700, 700)], ["50-60"])
    assert min(result.buses.values()) >= 0.95 and [d.bus for d in result.dsos] == [50, 90]
    with pytest.raises(ValueError, match="bus 5 does not exist"):
        run_opf(key, [DsoInterface(5, 22, -700, 700)])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("mpc.bus = [1 3 0];", "no mpc.baseMVA"),
        (CASE9_X10.replace("mpc.gen", "mpc.generators"), "no mpc.gen matrix"),
        (CASE9_X10.replace("\t80\t90\t", "\t80\t95\t"), "mpc.branch names bus(es) 95 missing from mpc.bus"),
        (CASE9_X10.replace("\t10\t3\t", "\t10\t2\t"), "no reference (type 3) bus"),
        (CASE9_X10.replace("72.3", "x"), "mpc.gen holds something that is not a number"),
        (
            CASE9_X10.replace("\t345\t1\t1.1\t0.9;\n\t20", "\t345\t1\t1.1;\n\t20"),
            "same number (≥ 13) of columns",
        ),
        (CASE9_X10.replace("\t20\t2\t0", "\t10\t2\t0", 1), "Bus numbers must be distinct"),
    ],
)
def test_malformed_case_files_are_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(ValueError) as err:
        register_upload(text)
    assert message in str(err.value)
