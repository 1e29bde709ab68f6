"""sep+xml in and out: building documents in schema order, parsing untrusted bodies safely and
validating them against the 2030.5 schema of their edition (sep.xsd for 2013; the 2018/2023 schema
where the server was given one, `editions`)."""

from __future__ import annotations

import datetime as dt
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from lxml import etree

from apps.der_registry.engine.sep2.editions import NS_2013, NS_2018, shape_of, translate

NS = NS_2013  # the edition documents are built and read in; `editions` translates at the edges
CONTENT_TYPE = "application/sep+xml"
ET.register_namespace("", NS)

# IEEE 2030.5 (2013 namespace) as published, with its legal notice; set_schema_path may move it.
DEFAULT_XSD = Path(__file__).resolve().parent / "schema" / "sep.xsd"
# The 2018/2023 schema is IEEE's and not redistributable: none until the server is given a copy.
_schema_paths: dict[str, Path | None] = {NS_2013: DEFAULT_XSD, NS_2018: None}


class SepXmlError(ValueError):
    """A body that is not a well-formed, schema-valid 2030.5 document; the text says why."""


def set_schema_path(path: Path | None, ns: str = NS_2013) -> None:
    _schema_paths[ns] = path
    with _building:
        _built_schema.cache_clear()


def load_schemas() -> None:
    """Build the schemas of every edition the server was given, before it answers anyone."""
    for ns, path in _schema_paths.items():
        if path is not None:
            _schema(ns)


def schema_path(ns: str) -> Path | None:
    return _schema_paths.get(ns)


# libxml2 builds a schema with process-wide state (its built-in types) that is not safe to build from
# several threads at once: the server's request threads did, on their first documents, and one got
# "xmlSchemaPValAttrNodeValue, the given type is not a built-in type" (a registration answered 500).
_building = threading.Lock()
_validating = threading.Lock()


def _schema(ns: str = NS_2013) -> Any:
    with _building:  # one build at a time; built once per edition
        return _built_schema(ns)


@lru_cache(maxsize=2)
def _built_schema(ns: str) -> Any:
    path = _schema_paths.get(ns)
    if path is None:
        raise SepXmlError(
            f"This server has not been given the IEEE 2030.5-2018 schema, so it cannot check documents "
            f"in the namespace {ns}; send them in the 2013 namespace {NS_2013}."
        )
    return etree.XMLSchema(etree.parse(str(path)))


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
    if name.namespace not in (NS_2013, NS_2018):
        raise SepXmlError(
            f"The root element must be in a 2030.5 namespace ({NS_2013} or {NS_2018}), "
            f"not {name.namespace!r}."
        )
    if expected and name.localname not in expected:
        raise SepXmlError(f"Expected a {' or '.join(expected)} document, got {name.localname}.")
    problem = schema_problem_of(root)
    if problem:
        raise SepXmlError(f"The {name.localname} document does not follow the 2030.5 schema: {problem}")
    if name.namespace == NS_2018:  # read in 2013 terms from here on
        return translate(root, NS_2013, shape_of(DEFAULT_XSD))
    return root


def namespace_of(body: bytes) -> str | None:
    """The 2030.5 namespace a body's root element is in, or None (no body, not XML, another one)."""
    if not body:
        return None
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError:
        return None
    ns = etree.QName(root).namespace
    return ns if ns in (NS_2013, NS_2018) else None


def in_namespace(body: bytes, ns: str) -> bytes:
    """A document this server built (2013) or kept as a client wrote it, in the edition `ns`."""
    if ns == NS_2013 and NS_2018.encode() not in body:
        return body  # the common case, untouched
    root = etree.fromstring(body, _PARSER)
    if etree.QName(root).namespace == ns:
        return body
    path = _schema_paths.get(ns)
    if path is None:
        raise SepXmlError(f"This server has not been given the schema of the namespace {ns}.")
    translated: bytes = etree.tostring(translate(root, ns, shape_of(path)))
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + translated


def schema_problem_of(root: Any) -> str:
    schema = _schema(etree.QName(root).namespace)
    # A schema keeps its last validation's errors in one log, whichever thread validated: read it
    # in the same turn as the validation, or another thread's may have emptied it.
    with _validating:
        if schema.validate(root):
            return ""
        error = schema.error_log.last_error
    return f"line {error.line}: {error.message}" if error is not None else "not valid against the schema"


def schema_problem(body: bytes) -> str:
    """Why an emitted document does not validate against its edition's schema, or '' when it does."""
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
