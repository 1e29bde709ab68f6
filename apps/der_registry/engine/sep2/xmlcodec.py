"""sep+xml in and out: building documents in schema order, parsing untrusted bodies safely and
validating them against the 2030.5 schema (sep.xsd)."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from lxml import etree

NS = "http://ieee.org/2030.5"
CONTENT_TYPE = "application/sep+xml"
ET.register_namespace("", NS)

# IEEE 2030.5 (2013 namespace) as published, with its legal notice; set_schema_path may move it.
DEFAULT_XSD = Path(__file__).resolve().parent / "schema" / "sep.xsd"
_schema_path: list[Path] = [DEFAULT_XSD]


class SepXmlError(ValueError):
    """A body that is not a well-formed, schema-valid 2030.5 document; the text says why."""


def set_schema_path(path: Path) -> None:
    _schema_path[0] = path
    _schema.cache_clear()


@lru_cache(maxsize=1)
def _schema() -> Any:
    return etree.XMLSchema(etree.parse(str(_schema_path[0])))


def q(tag: str) -> str:
    return f"{{{NS}}}{tag}"


def element(
    tag: str, attrs: dict[str, str] | None = None, children: Iterable[ET.Element | None] = ()
) -> ET.Element:
    node = ET.Element(q(tag), attrs or {})
    node.extend(c for c in children if c is not None)
    return node


def leaf(tag: str, value: str | int | bool | None) -> ET.Element | None:
    """A simple-content child, or None (omitted) when the value is absent."""
    if value is None:
        return None
    node = ET.Element(q(tag))
    node.text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return node


def link(tag: str, href: str, count: int | None = None) -> ET.Element:
    attrs = {"href": href} if count is None else {"all": str(count), "href": href}
    return ET.Element(q(tag), attrs)


def to_bytes(doc: ET.Element) -> bytes:
    body: bytes = ET.tostring(doc, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body


def epoch(t: dt.datetime) -> int:
    """2030.5 TimeType: whole seconds since 1970-01-01 UTC."""
    return int(t.timestamp())


_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def parse(body: bytes, expected: tuple[str, ...] = ()) -> Any:
    """Parse and schema-validate a client's document; returns the root (an lxml element)."""
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise SepXmlError("Document type declarations are not allowed in 2030.5 messages.")
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise SepXmlError(f"The body is not well-formed XML: {exc}.") from None
    name = etree.QName(root)
    if name.namespace != NS:
        raise SepXmlError(f"The root element must be in the 2030.5 namespace {NS}, not {name.namespace!r}.")
    if expected and name.localname not in expected:
        raise SepXmlError(f"Expected a {' or '.join(expected)} document, got {name.localname}.")
    problem = schema_problem_of(root)
    if problem:
        raise SepXmlError(f"The {name.localname} document does not follow the 2030.5 schema: {problem}")
    return root


def schema_problem_of(root: Any) -> str:
    schema = _schema()
    if schema.validate(root):
        return ""
    error = schema.error_log.last_error
    return f"line {error.line}: {error.message}"


def schema_problem(body: bytes) -> str:
    """Why an emitted document does not validate against sep.xsd, or '' when it does."""
    try:
        return schema_problem_of(etree.fromstring(body, _PARSER))
    except etree.XMLSyntaxError as exc:
        return f"not well-formed: {exc}"


def text(root: Any, tag: str) -> str | None:
    found = root.find(q(tag))
    return None if found is None or found.text is None else str(found.text).strip()


def integer(root: Any, tag: str) -> int | None:
    value = text(root, tag)
    return None if value is None else int(value)


def scaled(root: Any, tag: str) -> float | None:
    """A 2030.5 value-with-multiplier (ActivePower, ReactivePower, ApparentPower, VoltageRMS)."""
    node = root.find(q(tag))
    if node is None:
        return None
    value, multiplier = integer(node, "value"), integer(node, "multiplier")
    return None if value is None else value * 10.0 ** (multiplier or 0)


def scaled_element(tag: str, amount: float) -> ET.Element:
    """value × 10^multiplier with value in Int16: the smallest multiplier that fits."""
    multiplier = 0
    while abs(round(amount / 10.0**multiplier)) > 32767 and multiplier < 9:
        multiplier += 1
    while multiplier > -3 and amount != 0 and abs(round(amount / 10.0 ** (multiplier - 1))) <= 32767:
        multiplier -= 1
    return element(
        tag, children=[leaf("multiplier", multiplier), leaf("value", round(amount / 10.0**multiplier))]
    )
