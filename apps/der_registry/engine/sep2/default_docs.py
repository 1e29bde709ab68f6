"""The documents of a program's defaults: its DefaultDERControl and the DERCurves its modes link —
a DER's own program (/derp/{id}) or a group's (/gderp/{group})."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from apps.der_registry.engine.sep2.model import CURVE_ID, VOLT_WATT_CURVE_ID, CurveView, DefaultControlView
from apps.der_registry.engine.sep2.resources import KIND_CURVE, KIND_DEFAULT, derp, fixed_pf, list_doc, mrid
from apps.der_registry.engine.sep2.xmlcodec import element, epoch, leaf, link, scaled_element


def default_der_control(
    view: DefaultControlView, program: str = "", mrid_kind: int = KIND_DEFAULT
) -> ET.Element:
    """The DefaultDERControl of a DER's own program (`program` empty: /derp/{der_id}) or of a
    group's (its href, and its own mRID kind)."""
    base = program or derp(view.der_id)
    return element(
        "DefaultDERControl",
        {"href": f"{base}/dderc", "subscribable": "0"},
        [
            leaf("mRID", mrid(mrid_kind, view.der_id)),
            leaf("description", view.description[:32]),
            element(
                "DERControlBase",
                children=[  # in the schema's order
                    leaf("opModConnect", view.connect),
                    leaf("opModEnergize", view.energize),
                    fixed_pf(view.fixed_pf),
                    None if view.target_var is None else scaled_element("opModTargetVar", view.target_var),
                    *_curve_links(view, f"{base}/dc"),
                ],
            ),
        ],
    )


def _curve_links(view: DefaultControlView, base: str) -> list[ET.Element]:
    """The curve modes' links in the schema's order: opModVoltVar, opModVoltWatt, opModWattVar."""
    links = [(view.curve, link(view.curve, f"{base}/{CURVE_ID}"))] if view.curve else []
    if view.volt_watt:
        links.append(("opModVoltWatt", link("opModVoltWatt", f"{base}/{VOLT_WATT_CURVE_ID}")))
    order = ("opModVoltVar", "opModVoltWatt", "opModWattVar")
    return [element for _, element in sorted(links, key=lambda pair: order.index(pair[0]))]


def der_curve(der_id: int, view: CurveView, program: str = "", mrid_kind: int = KIND_CURVE) -> ET.Element:
    """A DERCurve of a DER's own program (`program` empty) or of a group's; its mRID names the
    program's owner and the curve, so no two programs' curves share one."""
    points = [
        element("CurveData", children=[leaf("xvalue", round(x * 100)), leaf("yvalue", round(y * 100))])
        for x, y in view.points[:10]
    ]
    return element(
        "DERCurve",
        {"href": f"{program or derp(der_id)}/dc/{view.curve_id}"},
        [
            leaf("mRID", mrid(mrid_kind, (der_id << 32) | view.curve_id)),
            leaf("creationTime", epoch(view.created_at)),
            *points,
            leaf("curveType", view.curve_type),
            leaf("xMultiplier", -2),
            leaf("yMultiplier", -2),
            leaf("yRefType", view.y_ref_type),
        ],
    )


def der_curve_list(
    der_id: int, views: Sequence[CurveView], total: int, program: str = "", mrid_kind: int = KIND_CURVE
) -> ET.Element:
    items = [der_curve(der_id, v, program, mrid_kind) for v in views]
    return list_doc("DERCurveList", f"{program or derp(der_id)}/dc", total, items, None)
