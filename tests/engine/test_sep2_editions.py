"""IEEE 2030.5-2013 and -2018/2023 documents (issue #16 item 1): the server builds and reads 2013, and
translates at its edges. Checked against IEEE's own 2018/2023 schema (the independent reference; the
server is given it, `CREST_SEP2_SCHEMA_2018`) and documents written by hand from it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from lxml import etree

from apps.der_registry.engine.group_controls import GroupControlRequest
from apps.der_registry.engine.sep2 import default_docs as dd
from apps.der_registry.engine.sep2 import groups, xmlcodec
from apps.der_registry.engine.sep2 import resources as res
from apps.der_registry.engine.sep2.editions import NS_2013, NS_2018
from apps.der_registry.engine.sep2.model import (
    CURVE_VOLT_VAR,
    CURVE_VOLT_WATT,
    ControlView,
    CurveView,
    DefaultControlView,
    EndDeviceView,
    GroupControlView,
    GroupProgramView,
    LogEventView,
    ResponseView,
    SubscriptionView,
)
from apps.der_registry.engine.sep2.xmlcodec import SepXmlError, in_namespace, parse, schema_problem, to_bytes

T0 = dt.datetime(2026, 12, 6, 8, 0, tzinfo=dt.UTC)
CONTROL = ControlView(7, T0, "issued", "Operator set point", 80.0, -1500.0, -0.9)
# A volt–var set point with a P limit: the curve link after opModMaxLimW (schema order).
CURVE_CONTROL = ControlView(8, T0, "issued", "Volt–var", 50.0, curve="opModVoltVar", curve_id=108)


def test_the_server_was_given_ieee_s_2018_schema() -> None:
    path = xmlcodec.schema_path(NS_2018)
    assert path is not None and path.is_file(), (
        "IEEE 2030.5-2018/2023's schema (sep-2023.xsd) was not found: set CREST_SEP2_SCHEMA_2018"
    )


PROGRAM = GroupProgramView(7, "north", 5)
# A group program with a default: its DefaultDERControl and DERCurve links, a volt–watt curve beside.
VV_B = {
    "curve": [[0.92, 0.44], [0.98, 0.0], [1.02, 0.0], [1.08, -0.44]],
    "volt_watt": [[1.06, 1.0], [1.1, 0.2]],
}
WITH_DEFAULT = GroupProgramView(7, "north", 5, "volt_var", VV_B, T0)
EVERY_MODE = GroupControlRequest(T0, 600, 60, 30, False, False, 50.0, -25.5, 10.0, "Feeder north", 3.5)
GROUP_CONTROLS = (
    GroupControlView(1, 7, T0, EVERY_MODE),
    GroupControlView(2, 7, T0, GroupControlRequest(T0, 60, connect=True), cancelled_at=T0),
    GroupControlView(3, 7, T0, GroupControlRequest(T0, 60, fixed_pf=-0.95)),  # 2018: opModFixedPFAbsorbW
)


def _documents() -> Iterator[tuple[str, bytes]]:
    edev = EndDeviceView(5, "A" * 40, 123456789, T0, T0, 111115, True)
    sub = SubscriptionView(1, "/derp/5/derc", "https://x/n", 1, 0, "+S1", NS_2018)
    docs = [
        res.device_capability(20, 1, 1),
        res.self_device("A" * 40, 123456789, 20),
        res.self_log_event_list(20),
        res.time_resource(T0, 20),
        res.end_device_list([edev], 1, 20),
        res.registration(edev, 20),
        res.fsa_list(5, 20, 0, 1),
        res.der_program_list(5, 1, 1, 20, 0, 1),
        res.der_control_list(5, (CONTROL,), 1),
        res.der_control_list(5, (CURVE_CONTROL,), 1),
        dd.default_der_control(DefaultControlView(5, "Connected, energized")),
        dd.default_der_control(DefaultControlView(5, "Default: Constant power factor", fixed_pf=-0.95)),
        dd.default_der_control(DefaultControlView(5, "Default: Constant var", target_var=-2000.0)),
        dd.default_der_control(DefaultControlView(5, "Default: Volt–var", curve="opModVoltVar")),
        dd.default_der_control(DefaultControlView(5, "Default: Watt–var", curve="opModWattVar")),
        dd.default_der_control(DefaultControlView(5, "VV + VW", curve="opModVoltVar", volt_watt=True)),
        dd.default_der_control(DefaultControlView(5, "WV + VW", curve="opModWattVar", volt_watt=True)),
        dd.default_der_control(DefaultControlView(5, "VW only", volt_watt=True)),
        dd.der_curve_list(5, [CurveView(2, T0, CURVE_VOLT_WATT, ((106.0, 100.0), (110.0, 20.0)), 1)], 1),
        dd.der_curve_list(5, [CurveView(1, T0, CURVE_VOLT_VAR, ((95.0, 50.0), (105.0, -50.0)))], 1),
        res.der_list(5, 20, 0, 1),
        res.response_list([ResponseView(1, "A" * 40, "0" * 32, 1, T0)], 1),
        res.response_set_list(20, 1),
        res.log_event_list(5, [LogEventView(1, T0, 0, 0, 0, 1, 0)], 1, 20),
        res.subscription_list(5, [sub], 1, 20),
        res.notification(5, sub, res.der_control_list(5, (CONTROL,), 1)),
        res.fsa_list(5, 20, 0, 2, [groups.group_fsa(5, PROGRAM)]),
        groups.group_program(PROGRAM, 2, 1),
        groups.group_program(WITH_DEFAULT, 2, 1),
        dd.default_der_control(groups.group_default(WITH_DEFAULT), "/gderp/7", groups.KIND_GROUP_DEFAULT),
        dd.der_curve_list(7, groups.group_curves(WITH_DEFAULT), 2, "/gderp/7", groups.KIND_GROUP_CURVE),
        groups.group_control_list(7, GROUP_CONTROLS, 2, T0),
    ]
    for doc in docs:
        yield etree.QName(doc.tag).localname, to_bytes(doc)


@pytest.mark.parametrize(("name", "body"), list(_documents()), ids=lambda x: x if isinstance(x, str) else "")
def test_every_document_in_the_2018_edition_is_valid_against_its_schema(name: str, body: bytes) -> None:
    assert schema_problem(body) == ""  # the 2013 document, against sep.xsd
    translated = in_namespace(body, NS_2018)
    assert etree.fromstring(translated).tag == f"{{{NS_2018}}}{name}"
    assert schema_problem(translated) == "", translated.decode()
    assert in_namespace(translated, NS_2018) == translated  # already in that edition: untouched


def test_the_fixed_power_factor_keeps_its_direction_in_both_editions() -> None:
    """2013: a signed displacement (EEI: negative while absorbing vars); 2018: unsigned, with
    excitation true while absorbing (under-excited)."""
    body = to_bytes(res.der_control_list(5, (CONTROL,), 1))
    pf = etree.fromstring(body).find(f".//{{{NS_2013}}}opModFixedPF")
    assert [c.text for c in pf] == ["-90", "-2"]
    pf18 = etree.fromstring(in_namespace(body, NS_2018)).find(f".//{{{NS_2018}}}opModFixedPFInjectW")
    assert [(etree.QName(c).localname, c.text) for c in pf18] == [
        ("displacement", "90"),
        ("excitation", "true"),
        ("multiplier", "-2"),
    ]


def _curve_types(body: bytes, ns: str) -> list[str]:
    return [node.text or "" for node in etree.fromstring(body).iter(f"{{{ns}}}curveType")]


def _curve_type_documentation(ns: str) -> str:
    xsd = xmlcodec.schema_path(ns)
    assert xsd is not None
    text = xsd.read_text()
    block = text[text.index('<xs:complexType name="DERCurveType">') :].split("</xs:documentation>")[0]
    return "\n" + block.split("<xs:documentation>")[1]  # one number per line


@pytest.mark.parametrize(
    ("number_2013", "number_2018", "mode"),
    [
        (0, 11, "opModVoltVar"),
        (1, 0, "opModFreqWatt"),
        (2, 13, "opModWattPF"),
        (3, 12, "opModVoltWatt"),
        (10, 14, "opModWattVar"),
    ],
)
def test_a_curve_s_type_is_numbered_as_its_edition_numbers_it(
    number_2013: int, number_2018: int, mode: str
) -> None:
    """DERCurveType names the curve's mode by a number, and the editions number the modes
    differently (each schema's documentation of DERCurveType, the reference here). Seen before:
    every device was sent its volt-var curve as 11, a reserved number in 2013."""
    assert f"\n{number_2013} - {mode} (" in _curve_type_documentation(NS_2013)
    assert f"\n{number_2018} - {mode} (" in _curve_type_documentation(NS_2018)
    body = to_bytes(dd.der_curve_list(5, [CurveView(1, T0, number_2013, ((95.0, 50.0), (105.0, -50.0)))], 1))
    assert _curve_types(body, NS_2013) == [str(number_2013)]
    translated = in_namespace(body, NS_2018)
    assert _curve_types(translated, NS_2018) == [str(number_2018)]
    assert _curve_types(in_namespace(translated, NS_2013), NS_2013) == [str(number_2013)]


def test_the_volt_var_curve_the_server_builds_is_2013_s_volt_var() -> None:
    assert f"\n{CURVE_VOLT_VAR} - opModVoltVar (" in _curve_type_documentation(NS_2013)


CAPABILITY_2018 = f"""<?xml version="1.0" encoding="UTF-8"?>
<DERCapability xmlns="{NS_2018}">
  <modesSupported>00003000</modesSupported>
  <rtgMaxA><multiplier>0</multiplier><value>46</value></rtgMaxA>
  <rtgMaxV><multiplier>0</multiplier><value>264</value></rtgMaxV>
  <rtgMaxVA><multiplier>0</multiplier><value>12000</value></rtgMaxVA>
  <rtgMaxVar><multiplier>0</multiplier><value>5280</value></rtgMaxVar>
  <rtgMaxW><multiplier>0</multiplier><value>12000</value></rtgMaxW>
  <rtgMinPFOverExcited><displacement>90</displacement><multiplier>-2</multiplier></rtgMinPFOverExcited>
  <rtgVNom><multiplier>0</multiplier><value>240</value></rtgVNom>
  <type>4</type>
</DERCapability>""".encode()


def test_a_2018_document_is_read_in_2013_terms() -> None:
    assert schema_problem(CAPABILITY_2018) == ""  # written by hand from IEEE's schema
    root = parse(CAPABILITY_2018, ("DERCapability",))
    assert etree.QName(root).namespace == NS_2013
    assert xmlcodec.scaled(root, "rtgW") == 12000 and xmlcodec.scaled(root, "rtgVar") == 5280
    assert xmlcodec.text(root, "rtgMinPF") is None and root.find(f"{{{NS_2013}}}rtgMinPF") is not None
    assert root.find(f"{{{NS_2013}}}rtgVNom") is None  # 2018 only: not in the 2013 reading
    assert schema_problem(etree.tostring(root)) == ""  # and what is left is a valid 2013 document


def test_2018_documents_are_checked_against_the_2018_schema() -> None:
    bad = CAPABILITY_2018.replace(b"<rtgMaxW>", b"<rtgW>").replace(b"</rtgMaxW>", b"</rtgW>")
    with pytest.raises(SepXmlError, match=r"does not follow the 2030\.5 schema"):
        parse(bad)
    with pytest.raises(SepXmlError, match=r"http://ieee\.org/2030\.5 or urn:ieee:std:2030\.5:ns"):
        parse(b'<DERCapability xmlns="urn:example"/>')


def test_without_the_2018_schema_a_2018_document_is_refused_in_words() -> None:
    path = xmlcodec.schema_path(NS_2018)
    xmlcodec.set_schema_path(None, NS_2018)
    try:
        with pytest.raises(SepXmlError, match=r"has not been given the IEEE 2030\.5-2018 schema"):
            parse(CAPABILITY_2018)
    finally:
        xmlcodec.set_schema_path(path, NS_2018)
