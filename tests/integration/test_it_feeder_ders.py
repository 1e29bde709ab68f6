"""DERs in the feeder file: the feeder page lists a feeder's PVSystem, Generator and Storage elements
with their registry state, an admin enrols one through the registry's form filled in from it, bad
requests store nothing, and once the DER is active the network dispatch and capability solve has the
element's fixed injection taken out."""

from __future__ import annotations

import dataclasses
import io
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection, transaction
from django.test import Client

from apps.capability.actions import do_start_study
from apps.der_registry import actions as registry
from apps.der_registry.engine.sep2_identity import sfdi_from_lfdi
from apps.der_registry.models import DER
from apps.dms.actions import do_request_dispatch
from apps.dms.feeder_ders import enrolment_of
from apps.dms.feeders import dispatch_network
from apps.dms.models import Feeder
from crest_web.accounts.models import AuditRecord
from tests.conftest import FILE_DERS_DSS, LFDI

ENROL = "/feeders/small/ders/pvsystem.pv1/enroll/"


def import_small(client: Client, text: str = FILE_DERS_DSS) -> None:
    upload = SimpleUploadedFile("small.dss", text.encode())
    response = client.post("/feeders/import/", {"name": "small", "file": upload})
    assert response.status_code == 302, response.content


@pytest.fixture
def small(admin_client: Client) -> Feeder:
    import_small(admin_client)
    return Feeder.objects.get(name="small")


def completed(initial: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A DER form as the page fills it in (`initial`), plus what only the admin knows: the device's
    serial number, its owner and its IEEE 2030.5 identity."""
    data = {k: v for k, v in initial.items() if v is not None}
    data.update(serial_number="INV-0042", ownership="customer", comm_path="sep2_direct", lfdi=LFDI)
    data.update(sfdi=sfdi_from_lfdi(LFDI), **changes)
    return data


def enrol_pv(client: Client, **changes: Any) -> Any:
    return client.post(ENROL, completed(client.get(ENROL).context["form"].initial, **changes))


def test_it_lists_the_file_ders_with_an_enroll_action_for_admins(admin_client: Client, small: Feeder) -> None:
    page = admin_client.get("/feeders/small/")
    rows = {r.key: r for r in page.context["file_ders"]}
    assert set(rows) == {"pvsystem.pv1", "generator.g1", "storage.bess"}
    assert (rows["storage.bess"].label, rows["storage.bess"].element.p_rated_kw) == ("Storage", 30.0)
    assert b"DERs in the feeder file" in page.content and ENROL.encode() in page.content
    assert all(r.der is None for r in rows.values())


def test_it_shows_operators_the_list_without_the_action(operator_client: Client, small: Feeder) -> None:
    page = operator_client.get("/feeders/small/")
    assert len(page.context["file_ders"]) == 3 and b"not enrolled" in page.content
    assert b"/enroll/" not in page.content


def test_it_enrols_the_pv_as_a_pending_der_built_from_the_element(
    admin_client: Client, small: Feeder
) -> None:
    form = admin_client.get(ENROL).context["form"]
    assert form.initial["name"] == "pvsystem-pv1" and form.initial["np_apparent_power_kva"] == 60.0
    response = admin_client.post(
        ENROL, completed(form.initial, bus="src", phases=["3"])
    )  # the place is fixed
    assert response.status_code == 302 and response["Location"] == "/feeders/small/#file-ders"
    der = DER.objects.get()
    assert (der.name, der.der_type, der.status, der.feeder_element) == (
        "pvsystem-pv1",
        "pv",
        "pending",
        "pvsystem.pv1",
    )
    assert (der.bus, der.phases, der.np_apparent_power_kva, der.np_active_power_kw) == ("b1", [1], 60.0, 50.0)
    assert der.np_reactive_injected_kvar == der.np_reactive_absorbed_kvar == pytest.approx(26.4)
    assert der.np_v_nominal_v == 7200.0 and der.serial_number == "INV-0042"
    record = AuditRecord.objects.get(action="der.enroll", object_id=str(der.pk))
    assert record.actor_name == "adm1" and record.after["feeder_element"] == "pvsystem.pv1"


def test_it_shows_the_element_as_enrolled_with_the_ders_status(admin_client: Client, small: Feeder) -> None:
    enrol_pv(admin_client)
    der = DER.objects.get()
    page = admin_client.get("/feeders/small/").content.decode()
    assert f'enrolled as <a href="/ders/{der.pk}/">pvsystem-pv1</a>' in page
    assert 'status-pending">pending' in page and ENROL not in page
    assert "pvsystem.pv1" in admin_client.get(f"/ders/{der.pk}/").content.decode()


def test_it_refuses_to_enrol_an_element_twice(admin_client: Client, small: Feeder) -> None:
    enrol_pv(admin_client)
    form = completed(admin_client.get("/feeders/small/ders/storage.bess/enroll/").context["form"].initial)
    again = admin_client.post(ENROL, {**form, "name": "another", "serial_number": "SN-2"}, follow=True)
    assert (
        b"Nothing was enrolled: PVSystem pv1 is already enrolled as pvsystem-pv1 (pending)" in again.content
    )
    assert DER.objects.count() == 1


def test_it_refuses_operators(operator_client: Client, admin_client: Client, small: Feeder) -> None:
    data = completed(admin_client.get(ENROL).context["form"].initial)
    assert operator_client.get(ENROL).status_code == 403
    assert operator_client.post(ENROL, data).status_code == 403
    assert not DER.objects.exists()


def test_it_refuses_an_unknown_element(admin_client: Client, small: Feeder) -> None:
    response = admin_client.post("/feeders/small/ders/pvsystem.nosuch/enroll/", {}, follow=True)
    assert b"Version 1 of feeder small has no PVSystem, Generator or Storage element" in response.content
    assert b"pvsystem.nosuch" in response.content and not DER.objects.exists()
    assert admin_client.get("/feeders/nosuch/ders/pvsystem.pv1/enroll/").status_code == 404


def test_it_refuses_an_element_the_current_version_lacks(admin_client: Client, small: Feeder) -> None:
    initial = admin_client.get(ENROL).context["form"].initial  # the page opened before the re-import
    import_small(admin_client, FILE_DERS_DSS.replace("new pvsystem.pv1", "!new pvsystem.pv1"))
    response = admin_client.post(ENROL, completed(initial), follow=True)
    assert b"Version 2 of feeder small has no PVSystem, Generator or Storage element" in response.content
    assert not DER.objects.exists()


def test_it_keeps_the_derived_place_when_the_der_is_edited(admin_client: Client, small: Feeder) -> None:
    enrol_pv(admin_client)
    der = DER.objects.get()
    data = completed(admin_client.get(f"/ders/{der.pk}/edit/").context["form"].initial, phases=["2"])
    response = admin_client.post(f"/ders/{der.pk}/edit/", data)
    assert response.status_code == 400 and b"was enrolled from pvsystem.pv1" in response.content
    assert DER.objects.get().phases == [1]


def test_it_takes_the_element_out_of_the_network_once_the_der_is_active(
    admin_client: Client, small: Feeder
) -> None:
    enrol_pv(admin_client)
    der, version = DER.objects.get(), small.current_version()
    assert version is not None
    net, replaced = dispatch_network(version)  # pending: the device is there, as the file has it
    assert replaced == [] and "pvsystem.pv1" in [g.element for g in net.generators]
    for target in ("approved", "active"):
        registry.do_transition_der(None, "test", der.pk, target, "commissioned")
    net, replaced = dispatch_network(version)
    assert replaced == ["pvsystem.pv1"]
    assert [g.element for g in net.generators] == ["generator.g1", "storage.bess"]
    study = do_start_study(None, "test", "small", headroom="0:1:0.5", enqueue=False)
    assert study.params["replaced_elements"] == ["pvsystem.pv1"]
    assert [u["name"] for u in study.params["pv_units"]] == ["pvsystem-pv1"]


def test_it_exports_the_plant_with_the_active_der_as_its_only_copy(
    admin_client: Client, small: Feeder, tmp_path: Path
) -> None:
    enrol_pv(admin_client)
    for target in ("approved", "active"):
        registry.do_transition_der(None, "test", DER.objects.get().pk, target, "commissioned")
    call_command("export_plant_layout", "--out", str(tmp_path / "layout.json"), stdout=io.StringIO())
    layout = json.loads((tmp_path / "layout.json").read_text())
    assert [g["name"] for g in layout["feeders"][0]["model"]["generators"]] == ["g1", "bess"]
    assert [d["name"] for d in layout["ders"]] == ["pvsystem-pv1"]


def test_it_puts_the_element_back_while_the_der_is_suspended(admin_client: Client, small: Feeder) -> None:
    enrol_pv(admin_client)
    der, version = DER.objects.get(), small.current_version()
    assert version is not None
    for target in ("approved", "active", "suspended"):
        registry.do_transition_der(None, "test", der.pk, target, "maintenance")
    assert dispatch_network(version)[1] == []


@pytest.mark.django_db(transaction=True)
def test_a_dispatch_on_the_workers_models_the_active_der_in_the_elements_place(
    worker: Any, admin_client: Client, small: Feeder
) -> None:
    enrol_pv(admin_client)
    der = DER.objects.get()
    for target in ("approved", "active"):
        registry.do_transition_der(None, "test", der.pk, target, "commissioned")
    registry.do_record_monitoring(None, "test", der.pk, {"p_kw": 40.0, "q_kvar": 0.0})
    run = do_request_dispatch(None, "test", "small", q_kvar=50.0, v_sub_pu=1.0)
    deadline = time.monotonic() + 120
    while run.status not in ("done", "failed") and time.monotonic() < deadline:
        time.sleep(0.2)
        run.refresh_from_db()
    assert run.status == "done", run.error
    assert run.result["replaced_elements"] == ["pvsystem.pv1"]
    shown = admin_client.get("/feeders/small/").context["dispatched"]  # the state the run left
    assert "pvsystem.pv1" not in [g.element for g in shown.net.generators]
    assert list(shown.state.ders) == ["pvsystem-pv1"]


@pytest.mark.django_db(transaction=True)
def test_two_admins_enrolling_one_element_at_once_get_one_der_and_a_refusal(
    admin_client: Client, small: Feeder
) -> None:
    """The second enrolment waits for the first to commit, then is refused in words. Without that
    wait both passed the 'already enrolled' check and the second hit the database's unique
    constraint: a server error on the form."""
    found = enrolment_of(small, "pvsystem.pv1")
    mine = dataclasses.replace(
        found.record, serial_number="INV-0042", ownership="customer", comm_path="sep2_direct", lfdi=LFDI
    )
    first_in = threading.Event()
    outcome: dict[str, Any] = {}

    def first() -> None:
        with transaction.atomic():  # holds the enrolment uncommitted a while, as a slow request would
            registry.do_enroll_der(None, "web", mine, feeder_element="pvsystem.pv1")
            first_in.set()
            time.sleep(1.0)
        connection.close()

    def second() -> None:
        first_in.wait(10)
        other = dataclasses.replace(mine, name="pv1-again", serial_number="INV-0043", lfdi=LFDI[:-1] + "0")
        try:
            registry.do_enroll_der(None, "web", other, feeder_element="pvsystem.pv1")
        except registry.RegistryError as exc:
            outcome["refused"] = str(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert "is already enrolled as pvsystem-pv1" in outcome["refused"]
    assert list(DER.objects.values_list("name", flat=True)) == ["pvsystem-pv1"]
