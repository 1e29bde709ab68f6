"""IEEE 2030.5 device identity: LFDI and SFDI from a certificate fingerprint (2030.5 §6.3.4)."""

from __future__ import annotations

import hashlib


def lfdi_from_certificate(der_bytes: bytes) -> str:
    """LFDI: the leftmost 160 bits of the SHA-256 hash of the DER-encoded certificate, as hex."""
    return hashlib.sha256(der_bytes).hexdigest()[:40].upper()


def sfdi_check_digit(value: int) -> int:
    """The digit that makes the sum of all decimal digits a multiple of ten."""
    return (10 - sum(int(d) for d in str(value)) % 10) % 10


def sfdi_from_lfdi(lfdi: str) -> int:
    """SFDI: the leftmost 36 bits of the fingerprint in decimal, followed by a check digit."""
    leading = int(lfdi[:9], 16)
    return leading * 10 + sfdi_check_digit(leading)


def sfdi_problem(sfdi: int) -> str:
    """Why an SFDI is malformed, or '' when its form and check digit are right."""
    if sfdi < 0 or sfdi >= 10**12:
        return "The SFDI must be a whole number of at most 12 digits."
    leading, check = divmod(sfdi, 10)
    if sfdi_check_digit(leading) != check:
        return (
            f"The SFDI's last digit ({check}) is not its check digit "
            f"({sfdi_check_digit(leading)}); the number was probably mistyped."
        )
    return ""


def sfdi_matches_lfdi(sfdi: int, lfdi: str) -> bool:
    return len(lfdi) >= 9 and sfdi_from_lfdi(lfdi) == sfdi
