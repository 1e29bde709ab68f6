"""The registered DSO interface as the OPF sees it (issue #11 items 3 and 9): a sane feeder count, the
DSO lines defaulted from what each DSO registered and last reported, a typed line that disagrees with
the registration refused in words naming both counts."""

from __future__ import annotations

import math

import pytest

from apps.ems.engine.dso import (
    MAX_FEEDER_COUNT,
    DsoInterface,
    RegisteredInterface,
    check_dso,
    default_interfaces,
    feeder_count,
    format_dso,
    parse_dso,
    reconcile,
)

IEEE123 = RegisteredInterface(
    bus=5, name="ieee123", count=1, p_base_kw=3615.3, q_base_kvar=1311.5, q_min_kvar=-420.0, q_max_kvar=380.0
)


@pytest.mark.parametrize("count", [0, -3, 2.5, math.nan, math.inf, 1e30, 10**30, "two", True, None])
def test_an_absurd_feeder_count_is_refused_in_words(count: object) -> None:
    with pytest.raises(ValueError, match=f"whole number from 1 to {MAX_FEEDER_COUNT:,}"):
        feeder_count(count, "DSO at bus 5")


def test_a_whole_feeder_count_is_taken_whatever_it_is_written_as() -> None:
    assert [feeder_count(v, "x") for v in (22, 22.0, "22", " 7 ")] == [22, 22, 22, 7]


@pytest.mark.parametrize(
    "text", ["5x1e30:-700:700", "5x0:-1:1", "5x-2:-1:1", "5x2.5:-1:1", "5x99999999999:-1:1"]
)
def test_a_dso_line_with_an_absurd_count_is_refused_before_any_solve(text: str) -> None:
    with pytest.raises(ValueError, match="feeder count must be a whole number from 1 to"):
        parse_dso(text)


def test_check_refuses_a_huge_count_built_in_code() -> None:
    with pytest.raises(ValueError, match="feeder count"):
        check_dso(DsoInterface(5, MAX_FEEDER_COUNT + 1, -1.0, 1.0))


def test_a_dso_line_reads_back_as_written() -> None:
    for d in (
        DsoInterface(9, 25, -700.0, 700.0),
        DsoInterface(5, 1, -420.5, 380.0, p_kw=3615.3, q_kvar=1311.5),
        DsoInterface(7, 3, -10.0, 10.0, p_kw=100.0, q_kvar=-20.0, pv_kw=5.0, dr_kw=2.5),
    ):
        assert parse_dso(format_dso(d)) == d
    assert format_dso(DsoInterface(9, 25, -700.0, 700.0)) == "9x25:-700:700"


def test_defaults_come_from_the_registered_interfaces_and_their_last_range() -> None:
    never_answered = RegisteredInterface(bus=9, name="dso-9", count=25)
    assert default_interfaces([IEEE123, never_answered]) == [
        DsoInterface(5, 1, -420.0, 380.0, p_kw=3615.3, q_kvar=1311.5),
        DsoInterface(9, 25, 0.0, 0.0),  # no range reported yet: no flexibility is claimed
    ]


def test_a_line_whose_count_disagrees_with_the_registration_is_refused_naming_both() -> None:
    with pytest.raises(ValueError) as err:
        reconcile([DsoInterface(5, 22, -700.0, 700.0)], {5: IEEE123})
    message = str(err.value)
    assert "bus 5" in message and "22 feeders" in message and "ieee123" in message
    assert "registered with 1 feeder" in message


def test_a_line_without_a_base_takes_the_registered_one_and_unregistered_buses_pass() -> None:
    typed = [DsoInterface(5, 1, -100.0, 100.0), DsoInterface(9, 25, -700.0, 700.0)]
    assert reconcile(typed, {5: IEEE123}) == [
        DsoInterface(5, 1, -100.0, 100.0, p_kw=3615.3, q_kvar=1311.5),
        DsoInterface(9, 25, -700.0, 700.0),
    ]
    own_base = DsoInterface(5, 1, -100.0, 100.0, p_kw=3000.0, q_kvar=900.0)
    assert reconcile([own_base], {5: IEEE123}) == [own_base]  # the operator's own base stands
