"""ECDSA P-256 certificates for tests and demos: a CA, the server's certificate and device
certificates, as 2030.5 uses them (the device's identity is its certificate's fingerprint)."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from apps.der_registry.engine.sep2_identity import lfdi_from_certificate, sfdi_from_lfdi


@dataclass(frozen=True)
class CertFiles:
    cert: Path
    key: Path
    lfdi: str
    sfdi: int


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write(folder: Path, stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> CertFiles:
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / f"{stem}.crt", folder / f"{stem}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_path.chmod(0o600)
    lfdi = lfdi_from_certificate(cert.public_bytes(serialization.Encoding.DER))
    return CertFiles(cert_path, key_path, lfdi, sfdi_from_lfdi(lfdi))


def _builder(
    subject: str, issuer: str, public: ec.EllipticCurvePublicKey, days: int
) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
    )


def make_ca(folder: Path, name: str = "CReST 2030.5 test CA") -> CertFiles:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        _builder(name, name, key.public_key(), 3650)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(key, hashes.SHA256())
    )
    return _write(folder, "ca", cert, key)


def load(cert_path: Path, key_path: Path) -> CertFiles:
    """Certificate files made earlier, with the identity computed from the certificate."""
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    lfdi = lfdi_from_certificate(cert.public_bytes(serialization.Encoding.DER))
    return CertFiles(cert_path, key_path, lfdi, sfdi_from_lfdi(lfdi))


def _load(files: CertFiles) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
    key = serialization.load_pem_private_key(files.key.read_bytes(), None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{files.key} is not an elliptic-curve key.")
    return cert, key


def make_cert(ca: CertFiles, folder: Path, stem: str, server: bool = False, days: int = 825) -> CertFiles:
    """A leaf certificate signed by the CA: a server's (with loopback names) or a device's."""
    ca_cert, ca_key = _load(ca)
    key = ec.generate_private_key(ec.SECP256R1())
    issuer = ca_cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    builder = _builder(stem, str(issuer), key.public_key(), days).add_extension(
        x509.BasicConstraints(ca=False, path_length=None), critical=True
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    return _write(folder, stem, builder.sign(ca_key, hashes.SHA256()), key)


def demo_set(folder: Path) -> CertFiles:
    """The demo CA (`ca.crt`/`ca.key`) and the server's certificate (`server.crt`/`.key`) in
    `folder`, made when missing, as `run_sep2_server --demo-certs` expects them; returns the CA.
    An existing CA is kept: the device certificates it signed stay valid."""
    ca_cert, ca_key = folder / "ca.crt", folder / "ca.key"
    ca = load(ca_cert, ca_key) if ca_cert.is_file() and ca_key.is_file() else make_ca(folder)
    if not ((folder / "server.crt").is_file() and (folder / "server.key").is_file()):
        make_cert(ca, folder, "server", server=True)
    return ca
