"""Bulk CSV import: a dry-run preview lists every bad row; nothing is written until confirmed."""

from __future__ import annotations

import csv
import io
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from apps.der_registry.engine.csv_format import write_csv
from apps.der_registry.models import DER, CsvImport
from crest_web.accounts.models import AuditRecord
from tests.conftest import as_json, make_record


def dnp3(i: int, **changes: Any) -> Any:
    fields = dict(
        name=f"dnp-{i}",
        serial_number=f"SN-D{i}",
        comm_path="dnp3_direct",
        lfdi="",
        sfdi=None,
        dnp3_host="10.0.0.7",
        dnp3_port=20000,
        dnp3_outstation_address=100 + i,
        dnp3_master_address=1,
        ownership="utility",
    )
    return make_record(**{**fields, **changes})


def csv_file(*records: Any, text: str | None = None) -> SimpleUploadedFile:
    if text is None:
        out = io.StringIO()
        write_csv(records, out)
        text = out.getvalue()
    return SimpleUploadedFile("ders.csv", text.encode(), content_type="text/csv")


def upload(client: Client, f: SimpleUploadedFile) -> Any:
    return client.post("/ders/import/", {"file": f}, follow=True)


def export(client: Client, query: str = "") -> str:
    response: Any = client.get(f"/ders/export.csv{query}")  # a StreamingHttpResponse
    return b"".join(response.streaming_content).decode()


def test_it_previews_then_imports_on_confirmation(admin_client: Client, ieee13: Any) -> None:
    page = upload(admin_client, csv_file(dnp3(1), dnp3(2), dnp3(3)))
    assert b"3 row(s) read" in page.content and b"Import 3 DERs" in page.content
    assert not DER.objects.exists()  # the preview wrote nothing
    imp = CsvImport.objects.get()
    done = admin_client.post(f"/ders/import/{imp.pk}/", follow=True)
    assert b"Imported 3 DERs" in done.content
    assert sorted(DER.objects.values_list("name", "status")) == [
        ("dnp-1", "pending"),
        ("dnp-2", "pending"),
        ("dnp-3", "pending"),
    ]
    assert AuditRecord.objects.filter(action="der.enroll").count() == 3


def test_it_lists_every_bad_row_with_its_reason_and_writes_nothing(
    admin_client: Client, enrolled: Any
) -> None:
    enrolled()  # holds serial SN-0001
    rows = [
        dnp3(1),
        dnp3(2, feeder="nowhere"),
        dnp3(3, serial_number="SN-0001"),
        make_record(
            name="bad-sfdi",
            serial_number="SN-X",
            sfdi=167261211392,
            lfdi="3E4F45AB31EDFE5B67E343E5E4562E31984E23E6",
        ),
        dnp3(5, serial_number="SN-D1"),
    ]
    page = upload(admin_client, csv_file(*rows))
    report = CsvImport.objects.get().report
    by_line = {r["line"]: [e["field"] for e in r["errors"]] for r in report["rows"]}
    assert by_line == {
        2: ["serial_number"],
        3: ["feeder"],
        4: ["serial_number"],
        5: ["sfdi"],
        6: ["serial_number"],
    }
    assert b"Nothing was imported" in page.content and b"There is no feeder named" in page.content
    assert DER.objects.count() == 1
    assert admin_client.post(f"/ders/import/{CsvImport.objects.get().pk}/").status_code == 302
    assert DER.objects.count() == 1  # a rejected upload cannot be confirmed


def test_it_reports_wrong_types_per_cell(admin_client: Client, ieee13: Any) -> None:
    out = io.StringIO()
    write_csv([dnp3(1)], out)
    text = out.getvalue().replace("10.0.0.7,20000,", "10.0.0.7,port-a,")
    upload(admin_client, csv_file(text=text))
    [row] = CsvImport.objects.get().report["rows"]
    assert row["errors"] == [{"field": "dnp3_port", "message": "Must be a whole number, not 'port-a'."}]


def test_it_rejects_a_malformed_file_with_a_plain_reason(admin_client: Client, ieee13: Any) -> None:
    page = upload(admin_client, csv_file(text="just,some\nwords,here\n"))
    assert b"Unknown column(s): just, some" in page.content
    binary = SimpleUploadedFile("x.csv", b"\xff\xfe\x00bad", content_type="text/csv")
    response = admin_client.post("/ders/import/", {"file": binary})
    assert response.status_code == 400 and b"not UTF-8 text" in response.content
    assert not DER.objects.exists()


def test_it_revalidates_at_confirmation(admin_client: Client, ieee13: Any, enrolled: Any) -> None:
    upload(admin_client, csv_file(make_record(name="late", serial_number="SN-0001")))
    imp = CsvImport.objects.get()
    assert imp.status == "previewed"
    enrolled()  # someone enrolls the same serial meanwhile
    page = admin_client.post(f"/ders/import/{imp.pk}/", follow=True)
    assert b"no longer validates" in page.content
    assert DER.objects.count() == 1


def test_it_exports_what_it_imports(admin_client: Client, ieee13: Any) -> None:
    upload(admin_client, csv_file(dnp3(1), dnp3(2)))
    admin_client.post(f"/ders/import/{CsvImport.objects.get().pk}/")
    exported = export(admin_client, "?protocol=dnp3_direct")
    DER.objects.all().delete()
    upload(admin_client, csv_file(text=exported))
    assert CsvImport.objects.order_by("-id").first().status == "previewed"  # type: ignore[union-attr]


def test_it_offers_the_same_dry_run_in_the_api(admin_client: Client, ieee13: Any) -> None:
    response = admin_client.post("/api/ders/import/", {"file": csv_file(dnp3(1), dnp3(1))})
    assert response.status_code == 400
    assert as_json(response)["bad"] == 2 and not DER.objects.exists()
    ok = as_json(admin_client.post("/api/ders/import/", {"file": csv_file(dnp3(1))}))
    done = as_json(admin_client.post(f"/api/ders/import/{ok['id']}/confirm/"))
    assert done["created"] == 1


def test_it_forbids_import_to_an_operator(operator_client: Client, ieee13: Any) -> None:
    assert operator_client.get("/ders/import/").status_code == 403
    assert operator_client.post("/api/ders/import/", {"file": csv_file(dnp3(1))}).status_code == 403


def test_it_refuses_a_file_with_a_nul_byte_and_stores_nothing(admin_client: Client, ieee13: Any) -> None:
    """PostgreSQL cannot store a NUL in text: the upload used to fail with HTTP 500."""
    out = io.StringIO()
    write_csv([dnp3(1)], out)
    text = out.getvalue().replace("dnp-1", "dnp\x00-1")
    page = admin_client.post("/ders/import/", {"file": csv_file(text=text)})
    assert page.status_code == 400 and b"contains a NUL byte (line 2)" in page.content
    api = admin_client.post("/api/ders/import/", {"file": csv_file(text=text)})
    assert api.status_code == 400 and "contains a NUL byte (line 2)" in as_json(api)["errors"]["file"][0]
    assert not CsvImport.objects.exists() and not DER.objects.exists()


FORMULAS = ("=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR")


def test_it_exports_text_cells_so_spreadsheets_do_not_run_them(admin_client: Client, ieee13: Any) -> None:
    """OWASP CSV injection: a text cell starting with = + - @ tab or CR gets a leading '; numbers
    stay numbers; importing the export gives the original text back."""
    upload(admin_client, csv_file(*(dnp3(i) for i in range(len(FORMULAS)))))
    admin_client.post(f"/ders/import/{CsvImport.objects.get().pk}/")
    for der, formula in zip(DER.objects.order_by("name"), FORMULAS, strict=True):
        DER.objects.filter(pk=der.pk).update(manufacturer=formula, model=f"{formula} model")
    exported = export(admin_client)
    cells = list(csv.DictReader(io.StringIO(exported)))
    assert sorted(c["manufacturer"] for c in cells) == sorted(f"'{f}" for f in FORMULAS)
    assert all(c["model"].startswith("'") for c in cells)
    DER.objects.all().delete()
    upload(admin_client, csv_file(text=exported))
    admin_client.post(f"/ders/import/{CsvImport.objects.order_by('-id')[0].pk}/")
    assert sorted(DER.objects.values_list("manufacturer", flat=True)) == sorted(FORMULAS)
    DER.objects.update(np_reactive_absorbed_kvar=-5.2)  # a negative number is data, not a formula
    cells = list(csv.DictReader(io.StringIO(export(admin_client))))
    assert {c["reactive_absorbed_kvar"] for c in cells} == {"-5.2"}
