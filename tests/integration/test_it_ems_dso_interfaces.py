"""DSO interfaces (/ems/dsos/): admins by role list, add, edit and delete where the EMS reaches each
DSO's DMS, each change audited before → after; bad input is refused in words and stores nothing;
only admins see the page; superusers still edit them in /admin/, through the same audited action."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from apps.ems.actions import do_save_dso_endpoint
from apps.ems.models import DsoEndpoint
from crest_web.accounts.models import AuditRecord
from tests.conftest import client_for

FORM = {
    "bus": "5",
    "name": "ieee123",
    "host": "127.0.0.1",
    "port": "20500",
    "address": "10",
    "feeder_count": "22",
    "p_base_kw": "",
    "q_base_kvar": "",
}
REPORTED_AT = dt.datetime(2026, 3, 1, 12, 30, 15, tzinfo=dt.UTC)


def text(response: Any) -> str:
    return str(response.content.decode())


def registered(**changes: Any) -> DsoEndpoint:
    fields: dict[str, Any] = {
        "bus": 5,
        "name": "ieee123",
        "host": "127.0.0.1",
        "port": 20500,
        "feeder_count": 22,
    }
    return do_save_dso_endpoint(None, "test", **{**fields, **changes})


def audits() -> list[AuditRecord]:
    return list(AuditRecord.objects.filter(object_type="ems.dsoendpoint").order_by("id"))


def change(record: AuditRecord, field: str) -> tuple[Any, Any]:
    """A field before → after in an audit record (None where the interface did not exist)."""
    return (record.before or {}).get(field), (record.after or {}).get(field)


def test_it_lets_an_admin_add_edit_and_delete_an_interface_each_audited(
    admin_client: Client, admin_user: User
) -> None:
    added = admin_client.post("/ems/dsos/add/", FORM)
    assert added.status_code == 302
    endpoint = DsoEndpoint.objects.get()
    assert (endpoint.bus, endpoint.name, endpoint.port, endpoint.feeder_count, endpoint.tls) == (
        5, "ieee123", 20500, 22, False,
    )  # fmt: skip
    edited = admin_client.post(f"/ems/dsos/{endpoint.pk}/", {**FORM, "port": "20501", "tls": "on"})
    assert edited.status_code == 302
    endpoint.refresh_from_db()
    assert (endpoint.port, endpoint.tls) == (20501, True)
    assert admin_client.post(f"/ems/dsos/{endpoint.pk}/delete/").status_code == 302
    assert not DsoEndpoint.objects.exists()
    assert admin_client.get(f"/ems/dsos/{endpoint.pk}/").status_code == 404  # gone, not an error
    assert admin_client.post(f"/ems/dsos/{endpoint.pk}/delete/").status_code == 404
    add, edit, delete = audits()
    assert all(r.actor == admin_user and r.source == "web" for r in (add, edit, delete))
    assert add.before is None and change(add, "port") == (None, 20500)
    assert (change(edit, "port"), change(edit, "tls")) == ((20500, 20501), (False, True))
    assert change(delete, "name") == ("ieee123", None) and delete.after is None


def test_it_lists_each_interface_with_its_last_reported_range_and_when(admin_client: Client) -> None:
    reported = registered()
    DsoEndpoint.objects.filter(pk=reported.pk).update(
        q_min_kvar=-650.0, q_max_kvar=480.5, range_reported_at=REPORTED_AT
    )
    registered(bus=9, name="dso-9", port=20509, feeder_count=25)
    html = text(admin_client.get("/ems/dsos/"))
    assert "ieee123" in html and "127.0.0.1:20500" in html and "dso-9" in html
    assert "[-650.0, 480.5]" in html and "2026-03-01 12:30:15" in html
    assert "none reported yet" in html  # dso-9 has not answered


def test_it_keeps_the_bus_of_an_interface_it_edits(admin_client: Client) -> None:
    endpoint = registered()
    html = text(admin_client.get(f"/ems/dsos/{endpoint.pk}/"))
    assert 'name="bus" value="5"' in html and "disabled" in html.split('name="bus"')[1].split(">")[0]
    admin_client.post(f"/ems/dsos/{endpoint.pk}/", {**FORM, "bus": "9", "host": "10.0.0.7"})
    endpoint.refresh_from_db()
    assert (endpoint.bus, endpoint.host) == (5, "10.0.0.7")


BAD = [
    ({"port": "0"}, "Port 0 is not a TCP port (1–65535)"),
    ({"port": "70000"}, "Port 70000 is not a TCP port (1–65535)"),
    ({"port": "1e30"}, "The port must be a whole number"),
    ({"feeder_count": "0"}, "the feeder count must be a whole number from 1 to 10,000, not &#x27;0&#x27;"),
    ({"feeder_count": "1e30"}, "the feeder count must be a whole number from 1 to 10,000"),
    ({"feeder_count": "2.5"}, "the feeder count must be a whole number from 1 to 10,000"),
    ({"bus": "0"}, "Bus numbers start at 1, not 0"),
    ({"bus": "1e30"}, "The bus must be a whole number"),
    ({"bus": "99999999999"}, "Bus numbers go up to"),
    ({"host": ""}, "the host name or address where the DSO&#x27;s DMS listens"),
    ({"host": "no host"}, "is not a host name or address"),
    ({"name": " "}, "A DSO interface needs a name"),
    ({"address": "70000"}, "DNP3 link address 70000 is outside 0–65519"),
    ({"p_base_kw": "3600"}, "give both the base P and the base Q per feeder, or neither"),
    ({"p_base_kw": "1e400", "q_base_kvar": "1"}, "Enter a number"),
]


@pytest.mark.parametrize(
    ("bad", "words"), BAD, ids=[next(iter(b)) + "=" + next(iter(b.values())) for b, _ in BAD]
)
def test_it_refuses_bad_input_in_words_and_stores_nothing(
    admin_client: Client, bad: dict[str, str], words: str
) -> None:
    response = admin_client.post("/ems/dsos/add/", {**FORM, **bad})
    assert response.status_code == 400
    assert words in text(response) and "Nothing was saved" in text(response)
    assert not DsoEndpoint.objects.exists() and not audits()


def test_it_refuses_a_second_interface_at_a_bus_or_with_a_name_already_registered(
    admin_client: Client,
) -> None:
    first = registered()
    duplicate_bus = admin_client.post("/ems/dsos/add/", {**FORM, "name": "other", "port": "20600"})
    assert duplicate_bus.status_code == 400
    assert "Bus 5 already has a DSO interface, ieee123; edit that one instead." in text(duplicate_bus)
    duplicate_name = admin_client.post("/ems/dsos/add/", {**FORM, "bus": "9"})
    assert duplicate_name.status_code == 400
    assert "The name &#x27;ieee123&#x27; is already used by the DSO at bus 5." in text(duplicate_name)
    first_after = DsoEndpoint.objects.get()
    assert (first_after.pk, first_after.name, first_after.port) == (first.pk, "ieee123", 20500)
    assert len(audits()) == 1  # the set-up's


def test_it_leaves_an_interface_untouched_when_an_edit_is_refused(admin_client: Client) -> None:
    endpoint = registered()
    response = admin_client.post(f"/ems/dsos/{endpoint.pk}/", {**FORM, "port": "70000", "host": "10.0.0.7"})
    assert response.status_code == 400
    endpoint.refresh_from_db()
    assert (endpoint.port, endpoint.host) == (20500, "127.0.0.1") and len(audits()) == 1


def test_it_shows_the_page_to_admins_only_and_lets_no_one_else_change_anything(
    operator: User, planner: User, outsider: User
) -> None:
    endpoint = registered()
    for person in (operator, planner, outsider):
        client = client_for(person)
        assert client.get("/ems/dsos/").status_code == 403
        assert client.post("/ems/dsos/add/", {**FORM, "bus": "9", "name": "dso-9"}).status_code == 403
        assert client.post(f"/ems/dsos/{endpoint.pk}/", {**FORM, "port": "20501"}).status_code == 403
        assert client.post(f"/ems/dsos/{endpoint.pk}/delete/").status_code == 403
    endpoint.refresh_from_db()
    assert DsoEndpoint.objects.count() == 1 and endpoint.port == 20500 and len(audits()) == 1


def test_it_is_linked_from_the_nav_and_the_runs_page_for_admins_only(
    admin_client: Client, operator: User
) -> None:
    for page in ("/", "/ems/runs/"):
        assert 'href="/ems/dsos/"' in text(admin_client.get(page))
        assert 'href="/ems/dsos/"' not in text(client_for(operator).get(page))


def test_it_still_lets_a_superuser_edit_interfaces_in_the_admin_audited(admin_user: User) -> None:
    superuser = User.objects.create_superuser("root", password="root-Password-123")
    form = {k: v for k, v in FORM.items() if v}
    refused_admin = client_for(admin_user).post("/admin/ems/dsoendpoint/add/", form, follow=True)
    assert refused_admin.status_code == 403 and 'href="/ems/dsos/"' in text(refused_admin)  # go there
    client = client_for(superuser)
    refused = client.post("/admin/ems/dsoendpoint/add/", {**form, "port": "0"})
    assert refused.status_code == 200 and "Port 0 is not a TCP port (1–65535)." in text(refused)
    assert not DsoEndpoint.objects.exists()
    assert client.post("/admin/ems/dsoendpoint/add/", form).status_code == 302
    endpoint = DsoEndpoint.objects.get()
    assert (endpoint.bus, endpoint.port, endpoint.feeder_count) == (5, 20500, 22)
    change_page = f"/admin/ems/dsoendpoint/{endpoint.pk}/change/"
    assert client.get(change_page).status_code == 200
    assert client.post(change_page, {**form, "bus": "9", "port": "20501"}).status_code == 302
    endpoint.refresh_from_db()
    assert (endpoint.bus, endpoint.port) == (5, 20501)  # the bus is the interface's identity
    deleted = client.post(f"/admin/ems/dsoendpoint/{endpoint.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 302 and not DsoEndpoint.objects.exists()
    add, edit, delete = audits()
    assert (add.actor, add.source, change(add, "port")) == (superuser, "admin", (None, 20500))
    assert (edit.source, change(edit, "port")) == ("admin", (20500, 20501))
    assert (delete.actor, delete.source, delete.after) == (superuser, "admin", None)
