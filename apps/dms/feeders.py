"""Feeders: loading a stored feeder's network model (the one place that turns a FeederVersion into a
Network: as its file has it, or as dispatch and capability solve it, without the file's DERs the
registry models instead) and unpacking an uploaded one (a master .dss file or a .zip of the feeder's
folder).

An upload is hostile until read (docs/security.md): its size, a zip's member count and unpacked size
are capped (settings FEEDER_UPLOAD_MAX_BYTES, FEEDER_ZIP_MAX_MEMBERS, FEEDER_ZIP_MAX_UNPACKED_BYTES),
the unpacked size both as the zip's headers declare it and as it is written, and no member may land
outside the folder. The scripts are checked when read (`dss_sanitize`, given the folder).
"""

from __future__ import annotations

import re
import stat
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from apps.der_registry.engine.lifecycle import Status
from apps.der_registry.models import DER
from apps.dms.actions import FeederError
from apps.dms.engine.feeder_ders import without_elements
from apps.dms.engine.network import Network
from apps.dms.models import Feeder, FeederVersion

_CHUNK_BYTES = 1024 * 1024
_DRIVE = re.compile(r"^[A-Za-z]:")


def current_version(name: str) -> FeederVersion:
    feeder = Feeder.objects.filter(name=name).first()
    if feeder is None:
        known = ", ".join(Feeder.objects.values_list("name", flat=True)) or "none yet"
        raise FeederError(f"There is no feeder named {name!r} (known: {known}).")
    version = feeder.current_version()
    if version is None:
        raise FeederError(f"Feeder {name!r} has no imported model yet.")
    return version


def network_of(version: FeederVersion) -> Network:
    if not version.model:
        raise FeederError(
            f"Version {version.number} of feeder {version.feeder.name!r} holds only its bus list; "
            "import the feeder again from its OpenDSS file to get the full network model."
        )
    return Network.from_dict(version.model)


def replaced_elements(feeder: Feeder) -> list[str]:
    """Keys ("<class>.<name>") of the feeder file's elements whose enrolled DER is active. The DMS
    models such a DER from the registry (telemetry, set points), so the element's fixed injection
    leaves the network it solves, or the device would count twice; a DER not (or no longer) active
    leaves its element in: the device is still there."""
    active = DER.objects.filter(feeder=feeder, status=Status.ACTIVE).exclude(feeder_element="")
    return sorted(active.values_list("feeder_element", flat=True))


def dispatch_network(version: FeederVersion) -> tuple[Network, list[str]]:
    """The network dispatch and capability solve: the version's model without the elements
    `replaced_elements` names, and those names (stored with the result, so a replay drops the same)."""
    replaced = replaced_elements(version.feeder)
    return without_elements(network_of(version), replaced), replaced


def unpack_upload(upload: UploadedFile, master_name: str, folder: Path) -> tuple[Path, Path]:
    """Unpack `upload` under `folder`: the master .dss file, and the folder holding the feeder's
    files (all its scripts may read). FeederError when the upload is refused."""
    limit = settings.FEEDER_UPLOAD_MAX_BYTES
    if upload.size is None or upload.size > limit:
        raise FeederError(f"The upload is larger than {_mb(limit)}, the limit for a feeder.")
    root = folder / "feeder"
    root.mkdir()
    name = PurePosixPath(str(upload.name or "")).name
    if not name.lower().endswith(".zip"):
        master = root / (name if name not in ("", ".", "..") else "feeder.dss")
        _write(upload, master)
        return master, root
    archive = folder / "upload.zip"
    _write(upload, archive)
    try:
        _extract(archive, root)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
        # RuntimeError: an encrypted member; NotImplementedError: an unknown compression method.
        raise FeederError("The upload is not a readable .zip archive.") from exc
    candidates = sorted(
        p
        for p in root.rglob("*")
        if p.suffix.lower() == ".dss" and (not master_name or p.name == master_name)
    )
    if len(candidates) != 1:
        found = ", ".join(p.name for p in candidates) or "none"
        raise FeederError(
            f"Name the master file: the archive has {len(candidates)} matching .dss files ({found})."
        )
    return candidates[0], root


def _mb(n_bytes: int) -> str:
    return f"{n_bytes / (1024 * 1024):g} MB"


def _write(upload: UploadedFile, path: Path) -> None:
    with path.open("wb") as out:
        for chunk in upload.chunks():
            out.write(chunk)


def _extract(archive: Path, root: Path) -> None:
    """Unpack `archive` into `root`, counting what is written: a zip's headers can lie."""
    max_members, max_bytes = settings.FEEDER_ZIP_MAX_MEMBERS, settings.FEEDER_ZIP_MAX_UNPACKED_BYTES
    too_big = f"The archive unpacks to more than {_mb(max_bytes)}, the limit for a feeder."
    with zipfile.ZipFile(archive) as zf:
        members = [m for m in zf.infolist() if not m.is_dir()]
        if len(members) > max_members:
            raise FeederError(f"The archive holds {len(members)} files; a feeder may have {max_members}.")
        if sum(m.file_size for m in members) > max_bytes:
            raise FeederError(too_big)
        left = max_bytes
        for member in members:
            target = _member_path(root, member)
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                out = target.open("xb")
            except OSError as exc:  # two members of one name, or a file where a folder is
                raise FeederError(f"The archive holds {member.filename!r} more than once.") from exc
            with zf.open(member) as src, out:
                while chunk := src.read(_CHUNK_BYTES):
                    left -= len(chunk)
                    if left < 0:
                        raise FeederError(too_big)
                    out.write(chunk)


def _member_path(root: Path, member: zipfile.ZipInfo) -> Path:
    name = member.filename.replace("\\", "/")
    path = PurePosixPath(name)
    if path.is_absolute() or _DRIVE.match(name) or ".." in path.parts:
        raise FeederError(f"The archive holds {member.filename!r}, a path outside its own folder.")
    if stat.S_ISLNK(member.external_attr >> 16):
        raise FeederError(f"The archive holds a link ({member.filename!r}); links are not accepted.")
    target = (root / path).resolve()
    if not target.is_relative_to(root.resolve()):
        raise FeederError(f"The archive holds {member.filename!r}, a path outside its own folder.")
    return target
