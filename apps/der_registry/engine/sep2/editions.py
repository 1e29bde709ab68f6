"""The two editions of the 2030.5 schema a client may speak, and translation between them.

IEEE 2030.5-2013 (namespace `http://ieee.org/2030.5`, the schema shipped in `schema/sep.xsd`) and
IEEE 2030.5-2018/2023 (`urn:ieee:std:2030.5:ns`; its schema is IEEE's, which may not be
redistributed, so the operator points the server at a copy: `run_sep2_server --schema-2018`).
The resource logic reads and builds 2013 documents; a 2018 client's documents are translated to
2013 after they validate against the 2018 schema, and the answers back to 2018 before they go out.
Between the editions, besides the namespace:

* some elements were renamed (DERCapability's ratings `rtgW` → `rtgMaxW` …, the power-factor
  limits `setMinPF` → `setMinPFOverExcited` …) — `RENAMES`;
* the fixed power factor became one control per direction of active power with an excitation flag
  instead of a sign: 2013's `opModFixedPF` (a signed displacement, EEI convention: negative when the
  DER absorbs vars while it injects watts) is 2018's `opModFixedPFInjectW` (unsigned displacement,
  `excitation` true when absorbing) — `_fixed_pf_to_2018` and back;
* the curve modes were renumbered: DERCurveType 0 is volt-var in 2013 and frequency-watt in 2018,
  where volt-var is 11 — `CURVE_TYPES`;
* elements one edition has and the other has not are dropped, and children are put in the
  target schema's order (2018 inserted elements in the middle of sequences).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from lxml import etree

NS_2013 = "http://ieee.org/2030.5"
NS_2018 = "urn:ieee:std:2030.5:ns"
EDITIONS = {"2013": NS_2013, "2018": NS_2018}  # the registry's name for an edition → its namespace
_XS = "{http://www.w3.org/2001/XMLSchema}"
_XSI = "http://www.w3.org/2001/XMLSchema-instance"
_NSMAP = {"xsi": _XSI}

# 2013 name → 2018 name (each name occurs once in each schema, so no context is needed).
RENAMES = {
    "rtgA": "rtgMaxA",
    "rtgAh": "rtgMaxAh",
    "rtgVA": "rtgMaxVA",
    "rtgVar": "rtgMaxVar",
    "rtgVarNeg": "rtgMaxVarNeg",
    "rtgW": "rtgMaxW",
    "rtgWh": "rtgMaxWh",
    "rtgMinPF": "rtgMinPFOverExcited",
    "rtgMinPFNeg": "rtgMinPFUnderExcited",
    "setMinPF": "setMinPFOverExcited",
    "setMinPFNeg": "setMinPFUnderExcited",
    "opModFixedPF": "opModFixedPFInjectW",
}
_BACK = {new: old for old, new in RENAMES.items()}

# DERCurveType, 2013 number → 2018/2023 number (each schema's documentation of DERCurveType): volt-var
# 0 → 11, frequency-watt 1 → 0, watt-PF 2 → 13, volt-watt 3 → 12, the ride-through curves 4–9 → the
# 2018 ones of the same name, watt-var 10 → 14. 2018's "may trip" curves (1, 3, 6, 8) have no 2013
# number; only the server writes curves, in 2013 terms, so they never need one.
CURVE_TYPES = {0: 11, 1: 0, 2: 13, 3: 12, 4: 9, 5: 10, 6: 4, 7: 5, 8: 7, 9: 2, 10: 14}
_CURVE_TYPES_BACK = {new: old for old, new in CURVE_TYPES.items()}


@dataclass(frozen=True)
class Shape:
    """A schema's structure as far as translation needs it: each complex type's child elements in
    sequence order (inherited ones first) with their types, and the types of the global elements."""

    children: dict[str, tuple[tuple[str, str], ...]]
    roots: dict[str, str]

    def order(self, type_name: str) -> dict[str, tuple[int, str]]:
        return {name: (i, t) for i, (name, t) in enumerate(self.children.get(type_name, ()))}


@lru_cache(maxsize=4)
def shape_of(xsd: Path) -> Shape:
    root = etree.parse(str(xsd)).getroot()
    types = {ct.get("name"): ct for ct in root.iterchildren(f"{_XS}complexType")}

    def children(name: str) -> tuple[tuple[str, str], ...]:
        ct = types.get(name)
        if ct is None:
            return ()
        out: list[tuple[str, str]] = []
        ext = ct.find(f"{_XS}complexContent/{_XS}extension")
        if ext is not None:
            out += children(ext.get("base", ""))
        for el in ct.iter(f"{_XS}element"):
            out.append((el.get("name", ""), el.get("type", "")))
        return tuple(out)

    roots = {el.get("name", ""): el.get("type", "") for el in root.iterchildren(f"{_XS}element")}
    return Shape({name: children(name) for name in types if name}, roots)


def translate(doc: Any, to_ns: str, target: Shape) -> Any:
    """`doc` (an lxml element in the other edition's namespace) rewritten in `to_ns` (a new tree)."""
    to_2018 = to_ns == NS_2018
    names = RENAMES if to_2018 else _BACK
    for node in doc.iter(tag=etree.Element):
        local = etree.QName(node).localname
        node.tag = f"{{{to_ns}}}{names.get(local, local)}"
    for node in list(doc.iter(f"{{{to_ns}}}opModFixedPF{'InjectW' if to_2018 else ''}")):
        (_fixed_pf_to_2018 if to_2018 else _fixed_pf_to_2013)(node, to_ns)
    numbers = CURVE_TYPES if to_2018 else _CURVE_TYPES_BACK
    for node in doc.iter(f"{{{to_ns}}}curveType"):
        number = int((node.text or "").strip() or -1)
        node.text = str(numbers.get(number, number))
    _conform(doc, target.roots.get(etree.QName(doc).localname, ""), target)
    return _rebuilt(
        doc, {None: to_ns, **({"xsi": _XSI} if doc.find(".//*[@xsi:type]", _NSMAP) is not None else {})}
    )


def _rebuilt(node: Any, nsmap: dict[str | None, str], parent: Any = None) -> Any:
    """A copy with the namespace as the default one: xsi:type names ("DERControlList") resolve
    against the default namespace, so a prefixed copy would point them at no namespace."""
    if parent is None:
        copy = etree.Element(node.tag, dict(node.attrib), nsmap=nsmap)
    else:
        copy = etree.SubElement(parent, node.tag, dict(node.attrib))
    copy.text, copy.tail = node.text, node.tail
    for child in node:
        if isinstance(child.tag, str):
            _rebuilt(child, nsmap, copy)
        else:
            copy.append(etree.Comment(child.text))
            copy[-1].tail = child.tail
    return copy


def _conform(node: Any, type_name: str, target: Shape) -> None:
    """Drop children the target type has not, put the rest in its sequence order, recursively."""
    order = target.order(type_name)
    if not order:
        return
    kept = []
    for child in node:
        if not isinstance(child.tag, str):
            continue  # comments stay where they were relative to the end
        place = order.get(etree.QName(child).localname)
        if place is None:
            node.remove(child)
            continue
        kept.append((place[0], child))
        # A Notification's Resource names its concrete type (xsi:type="DERControlList").
        _conform(child, child.get(f"{{{_XSI}}}type") or place[1], target)
    for _, child in sorted(kept, key=lambda pair: pair[0]):
        node.append(child)  # appending an existing child moves it: the result is in sequence order


def _value(node: Any, ns: str, tag: str) -> int:
    found = node.find(f"{{{ns}}}{tag}")
    return int(found.text.strip()) if found is not None and found.text else 0


def _replace(node: Any, ns: str, fields: list[tuple[str, str]]) -> None:
    for child in list(node):
        node.remove(child)
    for tag, text in fields:
        etree.SubElement(node, f"{{{ns}}}{tag}").text = text


def _fixed_pf_to_2018(node: Any, ns: str) -> None:
    """Signed displacement (EEI) → unsigned displacement with excitation (true: absorbing vars)."""
    displacement, multiplier = _value(node, ns, "displacement"), _value(node, ns, "multiplier")
    _replace(
        node,
        ns,
        [
            ("displacement", str(abs(displacement))),
            ("excitation", "true" if displacement < 0 else "false"),
            ("multiplier", str(multiplier)),
        ],
    )


def _fixed_pf_to_2013(node: Any, ns: str) -> None:
    excitation = node.find(f"{{{ns}}}excitation")
    absorbing = excitation is not None and (excitation.text or "").strip() in ("true", "1")
    displacement, multiplier = _value(node, ns, "displacement"), _value(node, ns, "multiplier")
    sign = -1 if absorbing else 1
    _replace(node, ns, [("displacement", str(sign * displacement)), ("multiplier", str(multiplier))])
