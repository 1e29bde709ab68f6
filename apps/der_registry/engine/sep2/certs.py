"""ECDSA P-256 certificates for tests and demos on the IEEE 2030.5 / CSIP certificate profile
(2030.5-2018 §6.11.8–6.11.10): a root (the SERCA, `ca.crt`), an intermediate (the MICA, `mica.crt`,
which signs every leaf and is sent with it), and leaf certificates for the server and the devices —
the device's identity being its certificate's fingerprint (LFDI).

Every certificate never expires (notAfter 99991231235959Z, GeneralizedTime). A leaf has an empty
subject and a critical subjectAltName carrying a hardwareModuleName otherName (RFC 4108: hwType,
hwSerialNum), critical keyUsage (digitalSignature, keyAgreement), critical certificatePolicies (the
2030.5 device policy and, these being demo certificates, the test policy) and a non-critical authority
key identifier; the CAs have critical basicConstraints and keyUsage. The EPRI reference client checks
exactly these criticalities before it accepts a server."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID, ObjectIdentifier

from apps.der_registry.engine.sep2_identity import lfdi_from_certificate, sfdi_from_lfdi


@dataclass(frozen=True)
class CertFiles:
    cert: Path
    key: Path
    lfdi: str
    sfdi: int


# IEEE 2030.5 certificate policies (arc 1.3.6.1.4.1.40732): a generic device, and a test certificate.
POLICY_DEVICE = ObjectIdentifier("1.3.6.1.4.1.40732.1.1")
POLICY_TEST = ObjectIdentifier("1.3.6.1.4.1.40732.2.1")
DEVICE_POLICY_ARC = "1.3.6.1.4.1.40732.1."  # the 2030.5 device certificate policies (device, mobile, …)
HARDWARE_MODULE_NAME = ObjectIdentifier("1.3.6.1.5.5.7.8.4")  # id-on-hardwareModuleName, RFC 4108
# hwType: a device-type OID under the documentation PEN 32473 (RFC 5612), these being demo devices.
HW_TYPE = "1.3.6.1.4.1.32473.2030.5"
NEVER = dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC)  # 2030.5: certificates do not expire


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _der(tag: int, body: bytes) -> bytes:
    n = len(body)
    length = (
        bytes([n])
        if n < 0x80
        else bytes([0x80 | ((n.bit_length() + 7) // 8)]) + n.to_bytes((n.bit_length() + 7) // 8, "big")
    )
    return bytes([tag]) + length + body


def _oid_der(dotted: str) -> bytes:
    first, second, *rest = (int(x) for x in dotted.split("."))
    out = bytearray([40 * first + second])
    for arc in rest:
        chunk = [arc & 0x7F]
        while arc > 0x7F:
            arc >>= 7
            chunk.append(0x80 | (arc & 0x7F))
        out.extend(reversed(chunk))
    return _der(0x06, bytes(out))


def hardware_module_name(serial: str) -> x509.OtherName:
    """HardwareModuleName ::= SEQUENCE { hwType OBJECT IDENTIFIER, hwSerialNum OCTET STRING }."""
    return x509.OtherName(HARDWARE_MODULE_NAME, _der(0x30, _oid_der(HW_TYPE) + _der(0x04, serial.encode())))


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
    subject: x509.Name, issuer: x509.Name, public: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5))
        .not_valid_after(NEVER)
    )


def _ca_extensions(builder: x509.CertificateBuilder, path_length: int | None) -> x509.CertificateBuilder:
    return builder.add_extension(
        x509.BasicConstraints(ca=True, path_length=path_length), critical=True
    ).add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)


def _policies() -> x509.CertificatePolicies:
    return x509.CertificatePolicies([x509.PolicyInformation(p, None) for p in (POLICY_DEVICE, POLICY_TEST)])


def make_ca(folder: Path, name: str = "CReST 2030.5 test CA") -> CertFiles:
    """The root (SERCA), self-signed, and its intermediate (MICA) beside it in `mica.crt`."""
    key = ec.generate_private_key(ec.SECP256R1())
    builder = _builder(_name(name), _name(name), key.public_key()).add_extension(
        x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
    )
    root = _write(folder, "ca", _ca_extensions(builder, None).sign(key, hashes.SHA256()), key)
    _make_mica(root)
    return root


def _make_mica(root: CertFiles) -> CertFiles:
    """The manufacturing intermediate that signs every leaf: policies critical, no further CAs."""
    root_cert, root_key = _load(root)
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        _builder(_name(f"{_cn(root_cert)} MICA"), root_cert.subject, key.public_key())
        .add_extension(_policies(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False
        )
    )
    return _write(root.cert.parent, "mica", _ca_extensions(builder, 0).sign(root_key, hashes.SHA256()), key)


def _cn(cert: x509.Certificate) -> str:
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def mica_of(root: CertFiles) -> CertFiles:
    """The intermediate beside a root, made when missing (a root made before the profile)."""
    folder = root.cert.parent
    if (folder / "mica.crt").is_file() and (folder / "mica.key").is_file():
        return load(folder / "mica.crt", folder / "mica.key")
    return _make_mica(root)


def trust_bundle(root: CertFiles) -> Path:
    """`ca-bundle.crt` beside the root: root and intermediate, what a peer is verified against (a
    client that sends its leaf alone, as the EPRI client does, still chains to the root)."""
    bundle = root.cert.parent / "ca-bundle.crt"
    bundle.write_bytes(root.cert.read_bytes() + mica_of(root).cert.read_bytes())
    return bundle


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


def make_cert(ca: CertFiles, folder: Path, stem: str, server: bool = False) -> CertFiles:
    """A leaf on the 2030.5 profile, signed by the root's intermediate: a server's (its SAN also names
    the loopback host) or a device's. The file holds the leaf and then the intermediate: the chain a
    TLS peer presents."""
    mica = mica_of(ca)
    mica_cert, mica_key = _load(mica)
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [hardware_module_name(stem)]
    if server:
        names += [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    leaf = (
        _builder(x509.Name([]), mica_cert.subject, key.public_key())
        .add_extension(x509.SubjectAlternativeName(names), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, True, False, False, False, False), critical=True
        )
        .add_extension(_policies(), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(mica_key.public_key()), critical=False
        )
        .sign(mica_key, hashes.SHA256())
    )
    files = _write(folder, stem, leaf, key)
    files.cert.write_bytes(files.cert.read_bytes() + mica.cert.read_bytes())
    return files


def profile_problem(der: bytes) -> str:
    """Why a client's certificate is off the 2030.5 / CSIP device certificate profile, in words, or ""
    when it is on it: it never expires, its critical subjectAltName names the hardware module, and
    it names a 2030.5 device certificate policy."""
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        return "it cannot be read as an X.509 certificate"
    if cert.not_valid_after_utc != NEVER:
        return (
            f"it expires ({cert.not_valid_after_utc:%Y-%m-%d %H:%M:%S} UTC), where 2030.5 device "
            "certificates never do (notAfter 99991231235959Z)"
        )
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return "it has no subjectAltName naming its hardware module"
    if not san.critical:
        return "its subjectAltName is not marked critical"
    if not any(isinstance(n, x509.OtherName) and n.type_id == HARDWARE_MODULE_NAME for n in san.value):
        return "its subjectAltName carries no hardwareModuleName"
    try:
        policies = cert.extensions.get_extension_for_class(x509.CertificatePolicies).value
    except x509.ExtensionNotFound:
        return "it names no certificate policy"
    if not any(p.policy_identifier.dotted_string.startswith(DEVICE_POLICY_ARC) for p in policies):
        return f"it names no 2030.5 device certificate policy ({DEVICE_POLICY_ARC}x)"
    return ""


def on_profile(cert_path: Path) -> bool:
    """Whether a certificate file's leaf (its first certificate) follows the 2030.5 profile."""
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return not profile_problem(cert.public_bytes(serialization.Encoding.DER))


def demo_set(folder: Path) -> CertFiles:
    """The demo CA (`ca.crt`/`ca.key`) and the server's certificate (`server.crt`/`.key`) in
    `folder`, made when missing, as `run_sep2_server --demo-certs` expects them; returns the CA.
    An existing CA is kept: the device certificates it signed stay valid."""
    ca_cert, ca_key = folder / "ca.crt", folder / "ca.key"
    ca = load(ca_cert, ca_key) if ca_cert.is_file() and ca_key.is_file() else make_ca(folder)
    server = folder / "server.crt"
    # A server certificate from before the profile is replaced: the EPRI client refuses it.
    if not (server.is_file() and (folder / "server.key").is_file() and on_profile(server)):
        make_cert(ca, folder, "server", server=True)
    trust_bundle(ca)
    return ca
