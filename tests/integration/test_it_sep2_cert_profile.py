"""Client certificates off the 2030.5 / CSIP device profile are refused (issue #16, CSIP error
handling). Before, any certificate the trusted CA signed was served as the device its LFDI names,
whatever its shape. Now a client whose certificate expires, whose subjectAltName is not critical or
names no hardware module, or which names no 2030.5 device policy gets 403 with the reason and
nothing is stored; `run_sep2_server --lenient-certificates` (a utility with devices on older
certificates) serves them again."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from apps.der_registry.engine.sep2 import certs
from apps.der_registry.engine.sep2.app import Sep2App
from apps.der_registry.engine.sep2.client import Answer
from apps.der_registry.engine.sep2.server import Sep2Server, ServerThread, server_context
from apps.der_registry.engine.sep2.simulator import SimDevice, end_device_doc
from apps.der_registry.engine.sep2_identity import lfdi_from_certificate, sfdi_from_lfdi
from apps.der_registry.models import Sep2EndDevice
from apps.der_registry.sep2_store import RegistryStore
from tests.integration import test_it_sep2_server as base
from tests.integration.test_it_sep2_server import Pki, connect, run

pki, server = base.pki, base.server  # the server module's fixtures: certificates, a server on loopback

pytestmark = pytest.mark.django_db(transaction=True)


def issue(ca: certs.CertFiles, folder: Path, stem: str, **off: bool) -> certs.CertFiles:
    """A device certificate from the CA's intermediate, on the profile except where `off` says."""
    mica = certs.mica_of(ca)
    mica_cert = x509.load_pem_x509_certificate(mica.cert.read_bytes())
    mica_key = serialization.load_pem_private_key(mica.key.read_bytes(), None)
    assert isinstance(mica_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [
        x509.DNSName(f"{stem}.example") if off.get("no_hmn") else certs.hardware_module_name(stem)
    ]
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(mica_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(dt.datetime(2036, 1, 1, tzinfo=dt.UTC) if off.get("expires") else certs.NEVER)
        .add_extension(x509.SubjectAlternativeName(names), critical=not off.get("san_not_critical"))
    )
    if not off.get("no_policy"):
        policies = x509.CertificatePolicies([x509.PolicyInformation(certs.POLICY_DEVICE, None)])
        builder = builder.add_extension(policies, critical=True)
    cert = builder.sign(mica_key, hashes.SHA256())
    path, key_path = folder / f"{stem}.crt", folder / f"{stem}.key"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + mica.cert.read_bytes())
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    lfdi = lfdi_from_certificate(cert.public_bytes(serialization.Encoding.DER))
    return certs.CertFiles(path, key_path, lfdi, sfdi_from_lfdi(lfdi))


async def _tries(url: str, ca: certs.CertFiles, who: certs.CertFiles, der_id: int) -> list[Answer]:
    conn = connect(url, ca, who)
    answers = [
        await conn.get("/dcap"),
        await conn.post("/edev", end_device_doc(SimDevice(who.lfdi, who.sfdi))),
        await conn.get(f"/edev/{der_id}"),
    ]
    await conn.close()
    return answers


OFF = [
    ("expires", "it expires (2036-01-01 00:00:00 UTC), where 2030.5 device certificates never do"),
    ("san_not_critical", "its subjectAltName is not marked critical"),
    ("no_hmn", "its subjectAltName carries no hardwareModuleName"),
    ("no_policy", "it names no certificate policy"),
]


@pytest.mark.parametrize(("off", "reason"), OFF, ids=[o[0] for o in OFF])
def test_it_refuses_a_certificate_off_the_profile_with_the_reason_and_stores_nothing(
    server: str, pki: Pki, enrolled: Callable[..., Any], tmp_path: Path, off: str, reason: str
) -> None:
    who = issue(pki.ca, tmp_path, "legacy", **{off: True})
    der = enrolled("active", lfdi=who.lfdi, sfdi=who.sfdi)  # a device the registry knows by that LFDI
    answers = run(_tries(server, pki.ca, who, der.pk))
    assert [a.status for a in answers] == [403, 403, 403]
    for answer in answers:
        assert answer.headers["content-type"] == "application/sep+xml"
        assert b"does not follow the IEEE 2030.5 device certificate profile" in answer.body
        assert reason.encode() in answer.body, answer.body
    assert not Sep2EndDevice.objects.filter(der=der).exists()


def test_a_certificate_on_the_profile_is_served(
    server: str, pki: Pki, enrolled: Callable[..., Any], tmp_path: Path
) -> None:
    who = issue(pki.ca, tmp_path, "current")
    assert (
        certs.profile_problem(
            x509.load_pem_x509_certificate(who.cert.read_bytes()).public_bytes(serialization.Encoding.DER)
        )
        == ""
    )
    der = enrolled("active", lfdi=who.lfdi, sfdi=who.sfdi)
    assert [a.status for a in run(_tries(server, pki.ca, who, der.pk))] == [200, 201, 200]


@pytest.fixture
def lenient(pki: Pki, transactional_db: None) -> Iterator[str]:
    folder = pki.ca.cert.parent
    ctx = server_context(folder / "server.crt", folder / "server.key", pki.ca.cert)
    app = Sep2App(RegistryStore(), poll_s=2)
    thread = ServerThread(Sep2Server(app, workers=2, enforce_profile=False), "127.0.0.1", 0, ctx).start()
    yield f"https://127.0.0.1:{thread.port}"
    thread.stop()


def test_a_lenient_server_serves_devices_on_older_certificates(
    lenient: str, pki: Pki, enrolled: Callable[..., Any], tmp_path: Path
) -> None:
    who = issue(pki.ca, tmp_path, "older", expires=True, no_policy=True)
    der = enrolled("active", lfdi=who.lfdi, sfdi=who.sfdi)
    assert [a.status for a in run(_tries(lenient, pki.ca, who, der.pk))] == [200, 201, 200]
