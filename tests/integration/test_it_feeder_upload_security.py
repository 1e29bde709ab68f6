"""A feeder upload is a hostile script: each attack of issue #11 item 6, on the page and the API.

Every refusal is a 400 with a sentence, stores nothing, writes nothing outside the upload's
temporary folder and shows no content of a server file.
"""

from __future__ import annotations

import io
import stat
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from apps.dms.models import Feeder
from crest_web.launcher import DATA_DIR
from tests.conftest import FEEDERS, as_json

IEEE13 = FEEDERS / "13Bus"
PASSWD_FIRST_LINE = Path("/etc/passwd").read_text().splitlines()[0]


def dss(text: str, name: str = "attack.dss") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode())


def zipped(members: dict[str, bytes], external_attr: dict[str, int] | None = None) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (external_attr or {}).get(name, 0o644 << 16)
            zf.writestr(info, data, zipfile.ZIP_DEFLATED)
    return SimpleUploadedFile("feeder.zip", buffer.getvalue(), content_type="application/zip")


def feeder_folder(folder: str) -> dict[str, bytes]:
    """A public feeder's folder as zip members, with the line codes its own copy redirects to."""
    members = {f"feeders/{folder}/{p.name}": p.read_bytes() for p in (FEEDERS / folder).iterdir()}
    return {**members, "feeders/IEEELineCodes.DSS": (FEEDERS / "IEEELineCodes.DSS").read_bytes()}


def ieee13_with(master: str) -> SimpleUploadedFile:
    """The IEEE 13-node folder zipped with an extra master file `attack.dss` beside its own."""
    return zipped({**feeder_folder("13Bus"), "feeders/13Bus/attack.dss": master.encode()})


def page(client: Client, upload: SimpleUploadedFile, master: str = "") -> Any:
    return client.post("/feeders/import/", {"name": "evil", "file": upload, "master": master})


def api(client: Client, upload: SimpleUploadedFile, master: str = "") -> Any:
    return client.post("/api/feeders/import/", {"name": "evil", "file": upload, "master": master})


def refused_on_page(client: Client, upload: SimpleUploadedFile, reason: str, master: str = "") -> str:
    response = page(client, upload, master)
    text = response.content.decode()
    assert response.status_code == 400 and reason in text and "Nothing was stored" in text, text[-2000:]
    assert not Feeder.objects.exists()
    return text


def refused_by_api(client: Client, upload: SimpleUploadedFile, reason: str, master: str = "") -> str:
    response = api(client, upload, master)
    assert response.status_code == 400, response.content[:500]
    message: str = as_json(response)["errors"]["file"][0]
    assert reason in message and not Feeder.objects.exists()
    return message


@pytest.fixture
def secret_key_file() -> Iterator[Path]:
    """Where `make demo` keeps the site's secret key (crest_web/launcher.py), with a key in it."""
    path = DATA_DIR / "secret_key"
    made_dir, made_file = not DATA_DIR.exists(), not path.exists()
    if made_file:
        DATA_DIR.mkdir(exist_ok=True)
        path.write_text("test-secret-key-that-must-never-be-shown")
    yield path
    if made_file:
        path.unlink()
    if made_dir:
        DATA_DIR.rmdir()


def test_a_redirect_to_etc_passwd_is_refused_without_showing_it(admin_client: Client) -> None:
    attack = "clear\nnew circuit.x basekv=12.47\nredirect /etc/passwd\n"
    text = refused_on_page(
        admin_client, dss(attack), "attack.dss, line 3: &#x27;/etc/passwd&#x27; is an absolute"
    )
    message = refused_by_api(admin_client, dss(attack), "an uploaded feeder may only read its own files")
    assert PASSWD_FIRST_LINE not in text and PASSWD_FIRST_LINE not in message


def test_a_redirect_to_the_secret_key_is_refused_without_showing_it(
    admin_client: Client, secret_key_file: Path
) -> None:
    key = secret_key_file.read_text().strip()
    absolute = f"clear\nnew circuit.x basekv=12.47\nredirect {secret_key_file}\n"
    assert key not in refused_by_api(admin_client, dss(absolute), "is an absolute path")
    climbing = "clear\nnew circuit.x basekv=12.47\nredirect " + "../" * 12 + f"{secret_key_file}\n"
    assert key not in refused_on_page(
        admin_client, ieee13_with(climbing), "points outside the upload", "attack.dss"
    )


def test_compiling_a_server_file_by_its_absolute_path_imports_nothing(admin_client: Client) -> None:
    attack = dss(f"compile {IEEE13 / 'IEEE13Nodeckt.dss'}\n")
    refused_by_api(admin_client, attack, "is an absolute path")


def test_export_and_save_in_a_zip_write_no_file_anywhere(admin_client: Client, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    attack = ieee13_with(f"redirect IEEE13Nodeckt.dss\nsolve\nsave circuit dir={outside / 'saved'}\n")
    refused_on_page(admin_client, attack, "writes files", "attack.dss")
    # A report is skipped, never run: the feeder imports and the file is not written.
    report = ieee13_with(f"redirect IEEE13Nodeckt.dss\nsolve\nexport voltages {outside / 'v.csv'}\n")
    assert page(admin_client, report, "attack.dss").status_code == 302 and Feeder.objects.count() == 1
    assert list(outside.iterdir()) == []


def test_a_zip_bomb_is_refused_from_its_headers(admin_client: Client, settings: Any) -> None:
    settings.FEEDER_ZIP_MAX_UNPACKED_BYTES = 1024 * 1024
    bomb = zipped({"bomb.dss": b"!" * (8 * 1024 * 1024)})  # 8 MB of comment, ~8 kB zipped
    assert bomb.size is not None and bomb.size < 64 * 1024
    refused_by_api(admin_client, bomb, "The archive unpacks to more than 1 MB")


def test_an_archive_with_too_many_files_is_refused(admin_client: Client, settings: Any) -> None:
    settings.FEEDER_ZIP_MAX_MEMBERS = 3
    many = zipped({f"part{i}.dss": b"! part\n" for i in range(5)})
    refused_on_page(admin_client, many, "The archive holds 5 files; a feeder may have 3.")


def test_an_upload_over_the_size_limit_is_refused(admin_client: Client, settings: Any) -> None:
    settings.FEEDER_UPLOAD_MAX_BYTES = 1024 * 1024
    big = dss((IEEE13 / "IEEE13Nodeckt.dss").read_text() + "!\n" * (1024 * 1024), "IEEE13Nodeckt.dss")
    refused_by_api(admin_client, big, "The upload is larger than 1 MB, the limit for a feeder.")


@pytest.mark.parametrize("name", ["../escape.dss", "/tmp/escape.dss", "..\\escape.dss"])
def test_zip_members_named_outside_the_archive_are_refused(admin_client: Client, name: str) -> None:
    refused_on_page(admin_client, zipped({name: b"clear\n"}), "a path outside its own folder")


def test_a_link_in_a_zip_is_refused(admin_client: Client) -> None:
    link = zipped({"feeder.dss": b"/etc/passwd"}, {"feeder.dss": (stat.S_IFLNK | 0o777) << 16})
    refused_by_api(admin_client, link, "links are not accepted")


@pytest.mark.parametrize(
    ("folder", "master", "buses"), [("13Bus", "IEEE13Nodeckt.dss", 16), ("123Bus", "IEEE123Master.dss", 132)]
)
def test_the_public_ieee_feeders_still_import_as_uploads(
    admin_client: Client, folder: str, master: str, buses: int
) -> None:
    upload = zipped(feeder_folder(folder))
    made = admin_client.post("/api/feeders/import/", {"name": "ieee", "file": upload, "master": master})
    assert made.status_code == 201, made.content[:500]
    assert as_json(made)["summary"]["buses"] == buses
