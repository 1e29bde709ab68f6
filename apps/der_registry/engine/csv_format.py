"""The registry's CSV format: one DER a row, the same columns for import and export.

Parsing never raises on bad data: every row comes back with its per-field problems.

Text cells a spreadsheet would run as a formula (starting with = + - @, tab or CR) are exported
with a leading ' (OWASP CSV injection); number cells never are, so -5.2 stays a number. Import
takes off exactly the ' the export adds (`from_spreadsheet_safe`), so an exported file imports
as the original text; a ' before anything else belongs to the cell.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields, replace
from typing import Any

from apps.der_registry.engine.ieee1547 import (
    RATING_FIELDS,
    DERRecord,
    Issue,
    Ratings,
    RegistryContext,
    complete_identity,
    validate_der,
)

IDENTITY_COLUMNS = ["name", "serial_number", "der_type", "manufacturer", "model", "firmware_version"]
CATEGORY_COLUMNS = ["normal_category", "abnormal_category", "supported_modes", "control_mode"]
LOCATION_COLUMNS = ["feeder", "bus", "phases", "ownership", "comm_path", "aggregator"]
COMM_COLUMNS = [
    "dnp3_host",
    "dnp3_port",
    "dnp3_outstation_address",
    "dnp3_master_address",
    "dnp3_tls",
    "dnp3_point_map",
    "dnp3_ao_variation",
    "lfdi",
    "sfdi",
    "registration_pin",
    "expected_update_s",
]
RATING_COLUMNS = list(RATING_FIELDS)
CONFIG_COLUMNS = [f"cfg_{name}" for name in RATING_FIELDS]
COLUMNS = (
    IDENTITY_COLUMNS + RATING_COLUMNS + CATEGORY_COLUMNS + LOCATION_COLUMNS + COMM_COLUMNS + CONFIG_COLUMNS
)
REQUIRED_COLUMNS = [
    "name",
    "serial_number",
    "active_power_kw",
    "apparent_power_kva",
    "feeder",
    "bus",
    "phases",
]
MAX_ROWS = 200_000
# A spreadsheet takes a cell starting with one of these for a formula (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: str) -> str:
    """A text cell as exported: with a leading ' when a spreadsheet would run it as a formula. Also
    when it already starts with ' before such a character, so `from_spreadsheet_safe` is exact."""
    return "'" + text if text.lstrip("'").startswith(FORMULA_STARTS) else text


def from_spreadsheet_safe(text: str) -> str:
    """The text `spreadsheet_safe` was given: its ' dropped where it added one. A ' before anything
    else is the cell's own."""
    return text[1:] if text.startswith("'") and text.lstrip("'").startswith(FORMULA_STARTS) else text


def decode_upload(raw: bytes) -> str:
    """An uploaded CSV as text; ValueError saying what to do when it is not UTF-8 text."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"The file is not UTF-8 text (byte {exc.start} cannot be read). Save it as 'CSV UTF-8' and "
            "upload again."
        ) from None
    if "\x00" in text:  # never in a text file, and PostgreSQL cannot store it
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise ValueError(
            f"The file contains a NUL byte (line {line}), so it is not a text CSV. Save it as "
            "'CSV UTF-8' and upload again."
        )
    return text


@dataclass
class ParsedRow:
    line: int
    record: DERRecord | None
    issues: list[Issue] = field(default_factory=list)
    name: str = ""  # as written in the file, so a row that did not parse can still be named

    @property
    def ok(self) -> bool:
        return self.record is not None and not any(i.severity == "error" for i in self.issues)


@dataclass
class ParsedFile:
    rows: list[ParsedRow]
    problems: list[str]  # file-level problems (encoding, header); when present no row is read

    @property
    def ok(self) -> bool:
        return not self.problems and all(r.ok for r in self.rows)


def _float(text: str) -> float:
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError
    return value


def _int(text: str) -> int:
    return int(text)


def _phases(text: str) -> tuple[int, ...]:
    parts = [p for p in text.replace(";", ".").replace(",", ".").split(".") if p.strip()]
    phases = tuple(sorted({int(p) for p in parts}))
    if any(p not in (1, 2, 3) for p in phases):
        raise ValueError
    return phases


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "yes", "1"):
        return True
    if lowered in ("false", "no", "0", ""):
        return False
    raise ValueError


_CONVERTERS: dict[str, tuple[Callable[[str], Any], str]] = {
    "phases": (_phases, "phases such as 1, 2, 3 or 1.2.3"),
    "dnp3_port": (_int, "a whole number"),
    "dnp3_outstation_address": (_int, "a whole number"),
    "dnp3_master_address": (_int, "a whole number"),
    "sfdi": (_int, "a whole number"),
    "expected_update_s": (_int, "a whole number of seconds"),
    "dnp3_tls": (_bool, "true or false"),
    **{name: (_float, "a number") for name in RATING_COLUMNS + CONFIG_COLUMNS},
}


def _convert(column: str, raw: str, issues: list[Issue]) -> Any:
    text = raw.strip()
    if text == "":
        return None
    converter, expected = _CONVERTERS.get(column, (from_spreadsheet_safe, "text"))
    try:
        return converter(text)
    except ValueError:
        issues.append(Issue(column, f"Must be {expected}, not {text!r}."))
        return None


def record_from_row(row: dict[str, str]) -> tuple[DERRecord | None, list[Issue]]:
    issues: list[Issue] = []
    values = {col: _convert(col, row.get(col) or "", issues) for col in COLUMNS}
    for col in REQUIRED_COLUMNS:
        if values[col] is None and not any(i.field == col for i in issues):
            issues.append(Issue(col, "Required, but empty."))
    if issues:
        return None, issues
    modes = tuple(m.strip() for m in (values["supported_modes"] or "active_reactive").split(";") if m.strip())
    plain = {f.name for f in fields(DERRecord)} - {"nameplate", "configuration", "supported_modes"}
    kwargs = {k: values[k] for k in plain if values.get(k) is not None}
    record = DERRecord(
        nameplate=Ratings(**{k: values[k] for k in RATING_COLUMNS}),
        configuration=Ratings(**{k: values[f"cfg_{k}"] for k in RATING_COLUMNS}),
        supported_modes=modes,
        **kwargs,
    )
    if values["control_mode"] is None:
        record = replace(record, control_mode=modes[0])
    return complete_identity(record), issues


def parse_csv(text: str) -> ParsedFile:
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if not header:
        return ParsedFile([], ["The file is empty or has no header row."])
    reader.fieldnames = header
    unknown = [h for h in header if h not in COLUMNS]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    problems = []
    if unknown:
        problems.append(f"Unknown column(s): {', '.join(unknown)}. Known: {', '.join(COLUMNS)}.")
    if missing:
        problems.append(f"Missing required column(s): {', '.join(missing)}.")
    if problems:
        return ParsedFile([], problems)
    rows = []
    try:
        for index, row in enumerate(reader):
            if index >= MAX_ROWS:
                return ParsedFile([], [f"The file has more than {MAX_ROWS} rows; split it."])
            if None in row:
                rows.append(
                    ParsedRow(
                        reader.line_num,
                        None,
                        [
                            Issue(
                                "row",
                                f"This row has more cells ({len(header) + len(row[None])}) than the "
                                f"header ({len(header)}).",
                            )
                        ],
                    )
                )
                continue
            record, issues = record_from_row(row)
            rows.append(ParsedRow(reader.line_num, record, issues, (row.get("name") or "").strip()))
    except csv.Error as exc:
        return ParsedFile([], [f"The file is not valid CSV near line {reader.line_num}: {exc}."])
    if not rows:
        return ParsedFile([], ["The file has a header but no rows."])
    return ParsedFile(rows, [])


def _duplicates(values: Iterable[Any]) -> set[Any]:
    return {v for v, n in Counter(v for v in values if v not in (None, "")).items() if n > 1}


def validate_file(parsed: ParsedFile, ctx: RegistryContext) -> ParsedFile:
    """Validate every parsed row against the registry and against the other rows of the file."""
    records = [r.record for r in parsed.rows if r.record is not None]
    dup_serials = _duplicates(r.serial_number for r in records)
    dup_names = _duplicates(r.name for r in records)
    dup_lfdis = _duplicates(r.lfdi.upper() for r in records)
    dup_dnp3 = _duplicates(
        (r.dnp3_host, r.dnp3_port, r.dnp3_outstation_address) for r in records if r.comm_path == "dnp3_direct"
    )
    for row in parsed.rows:
        rec = row.record
        if rec is None:
            continue
        row.issues += validate_der(rec, ctx)
        if rec.serial_number in dup_serials:
            row.issues.append(
                Issue(
                    "serial_number",
                    f"Serial number {rec.serial_number!r} appears more than once in this file.",
                )
            )
        if rec.name in dup_names:
            row.issues.append(Issue("name", f"The name {rec.name!r} appears more than once in this file."))
        if rec.lfdi and rec.lfdi.upper() in dup_lfdis:
            row.issues.append(Issue("lfdi", "This LFDI appears more than once in this file."))
        key = (rec.dnp3_host, rec.dnp3_port, rec.dnp3_outstation_address)
        if rec.comm_path == "dnp3_direct" and key in dup_dnp3:
            row.issues.append(
                Issue(
                    "dnp3_outstation_address",
                    "This DNP3 channel and outstation address appear more than once in this file.",
                )
            )
    return parsed


def record_to_row(rec: DERRecord) -> dict[str, str]:
    """The record's CSV cells; text cells spreadsheet-safe, numbers as they are (-5.2 stays -5.2)."""

    def text(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float):
            return f"{value:g}"
        return spreadsheet_safe(value) if isinstance(value, str) else str(value)

    row = {col: text(getattr(rec, col, None)) for col in COLUMNS if hasattr(rec, col)}
    row.update({k: text(getattr(rec.nameplate, k)) for k in RATING_COLUMNS})
    row.update({f"cfg_{k}": text(getattr(rec.configuration, k)) for k in RATING_COLUMNS})
    row["phases"] = ".".join(str(p) for p in rec.phases)
    row["supported_modes"] = spreadsheet_safe(";".join(rec.supported_modes))
    return row


def write_csv(records: Iterable[DERRecord], out: io.TextIOBase | Any) -> None:
    writer = csv.DictWriter(out, fieldnames=COLUMNS)
    writer.writeheader()
    for rec in records:
        writer.writerow(record_to_row(rec))
