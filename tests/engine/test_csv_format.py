"""The registry CSV format: every bad row is reported with its line and field; round trip."""

from __future__ import annotations

import io

import pytest

from apps.der_registry.engine.csv_format import (
    COLUMNS,
    from_spreadsheet_safe,
    parse_csv,
    spreadsheet_safe,
    validate_file,
    write_csv,
)
from apps.der_registry.engine.ieee1547 import RegistryContext
from tests.conftest import make_record

CTX = RegistryContext(
    bus_phases={("ieee13", "675"): frozenset({1, 2, 3})}, known_feeders=frozenset({"ieee13"})
)


def csv_of(*records: object) -> str:
    out = io.StringIO()
    write_csv(records, out)  # type: ignore[arg-type]
    return out.getvalue()


def test_it_round_trips_a_record_through_csv() -> None:
    rec = make_record()
    parsed = parse_csv(csv_of(rec))
    assert parsed.ok and parsed.rows[0].record == rec


def test_it_reports_wrong_types_per_row_and_field() -> None:
    text = csv_of(make_record()).replace(",10,11,", ",ten,11,")
    parsed = parse_csv(text)
    [row] = parsed.rows
    assert row.line == 2 and row.record is None
    assert [(i.field, i.message) for i in row.issues] == [("active_power_kw", "Must be a number, not 'ten'.")]


def test_it_rejects_unknown_and_missing_columns_before_reading_rows() -> None:
    parsed = parse_csv("name,serial_number,colour\nx,y,red\n")
    assert parsed.rows == []
    assert "Unknown column(s): colour" in parsed.problems[0]
    assert "Missing required column(s): active_power_kw" in parsed.problems[1]


def test_it_reports_rows_with_too_many_cells() -> None:
    text = csv_of(make_record()).rstrip("\r\n") + ",extra\r\n"
    parsed = parse_csv(text)
    assert parsed.rows[0].issues[0].field == "row"
    assert "more cells" in parsed.rows[0].issues[0].message


def test_it_flags_duplicate_serials_inside_one_file() -> None:
    a = make_record(name="a", lfdi="", sfdi=None, comm_path="via_aggregator", aggregator="g")
    b = make_record(name="b", lfdi="", sfdi=None, comm_path="via_aggregator", aggregator="g")
    ctx = RegistryContext(**{**CTX.__dict__, "known_aggregators": frozenset({"g"})})
    parsed = validate_file(parse_csv(csv_of(a, b)), ctx)
    assert [r.line for r in parsed.rows if not r.ok] == [2, 3]
    assert all("more than once" in r.issues[0].message for r in parsed.rows)


def test_it_rejects_an_empty_file_and_a_header_only_file() -> None:
    assert parse_csv("").problems == ["The file is empty or has no header row."]
    assert parse_csv(",".join(COLUMNS) + "\n").problems == ["The file has a header but no rows."]


def test_it_reports_malformed_quoting() -> None:
    text = ",".join(COLUMNS) + '\n"unterminated\n'
    parsed = parse_csv(text)
    assert not parsed.ok


@pytest.mark.parametrize(
    ("text", "exported"),
    [
        ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
        ("+1", "'+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("'=x", "''=x"),  # its own ' kept: the import takes only the added one off
        ("'quoted", "'quoted"),
        ("Invertix", "Invertix"),
        ("", ""),
    ],
)
def test_text_cells_are_exported_spreadsheet_safe_and_read_back_exactly(text: str, exported: str) -> None:
    assert spreadsheet_safe(text) == exported
    assert from_spreadsheet_safe(exported) == text


def test_a_formula_in_a_text_cell_round_trips_and_numbers_stay_numbers() -> None:
    rec = make_record(manufacturer='=HYPERLINK("http://x")', model="-X1")
    text = csv_of(rec)
    assert "'=HYPERLINK" in text and ",'-X1," in text and ",10,11," in text
    assert parse_csv(text).rows[0].record == rec
