"""What a device reports about itself (DERCapability, DERSettings) is kept and served back even when
the registry cannot take it (issue #16 items 4 and 6). Seen with the EPRI reference client: its
sample settings (no reactive capability, a 480 V reference) and capability (2 kVA, no var rating)
conflict with the DER's enrolled record, and the server answered 400 — the device's report was lost
and the client stopped. Now the report is stored and round-trips, the registry record stays as it
was, and an operator sees an alarm naming the DER and the conflict; a later report the registry can
take is applied and clears it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from lxml import etree

from apps.alarms.models import Alarm
from apps.der_registry.engine.sep2.xmlcodec import element, leaf, scaled_element
from tests.conftest import ROOT
from tests.integration.test_it_sep2_server import Pki, connect, pki, run, server, valid_get  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)
SAMPLES = ROOT / "tests" / "data" / "sep2"


def test_a_report_the_registry_cannot_take_is_kept_served_back_and_alarmed(
    server: str,  # noqa: F811
    pki: Pki,  # noqa: F811
    enrolled: Callable[..., Any],
) -> None:
    der = enrolled("active", lfdi=pki.device.lfdi, sfdi=pki.device.sfdi)
    before = (der.np_apparent_power_kva, der.np_reactive_injected_kvar, der.cfg_reactive_injected_kvar)
    base = f"/edev/{der.pk}/der/0"
    fine = element(
        "DERSettings",
        {},
        [leaf("setGradW", 100), scaled_element("setMaxW", 9000), leaf("updatedTime", 1780000000)],
    )

    async def session() -> dict[str, Any]:
        conn = connect(server, pki.ca, pki.device)
        out: dict[str, Any] = {}
        for kind, name in (("derg", "DERSettings"), ("dercap", "DERCapability")):
            body = (SAMPLES / f"epri_{name}.xml").read_bytes()
            out[kind] = (await conn.request("PUT", f"{base}/{kind}", body)).status
            out[f"{kind} back"] = (await valid_get(conn, f"{base}/{kind}")).body
        out["alarms"] = await _alarms(der.pk)
        out["fine"] = (await conn.put(f"{base}/derg", fine)).status
        await conn.close()
        return out

    got = run(session())
    assert (got["derg"], got["dercap"]) == (204, 204)
    for kind, name in (("derg", "DERSettings"), ("dercap", "DERCapability")):
        sent = fields((SAMPLES / f"epri_{name}.xml").read_bytes())
        assert fields(got[f"{kind} back"]) == sent, kind  # every field the device reported, its value
    der.refresh_from_db()
    assert (
        der.np_apparent_power_kva,
        der.np_reactive_injected_kvar,
        der.cfg_reactive_injected_kvar,
    ) == before
    messages = got["alarms"]
    assert len(messages) == 2 and all(der.name in m for m in messages)
    assert any("DERSettings" in m and "greater than zero" in m for m in messages)
    assert any("DERCapability" in m and "cannot exceed the apparent power" in m for m in messages)
    assert got["fine"] == 204
    der.refresh_from_db()
    assert der.cfg_active_power_kw == 9.0  # a report the registry can take is applied …
    open_ = Alarm.objects.filter(kind="der_report", cleared_at__isnull=True)
    assert [a.source_id for a in open_] == [f"{der.pk}:dercap"]  # … and clears its own alarm


def fields(body: bytes) -> dict[str, object]:
    """Each child of a DER resource: a number for a scaled value (value × 10^multiplier) or a power
    factor (displacement × 10^multiplier), else its text."""
    out: dict[str, object] = {}
    for child in etree.fromstring(body):
        tag = etree.QName(child).localname
        parts = {etree.QName(c).localname: c.text for c in child}
        if "multiplier" in parts:
            mantissa = parts.get("value", parts.get("displacement"))
            out[tag] = round(float(mantissa or 0) * 10 ** int(parts["multiplier"] or 0), 9)
        else:
            out[tag] = (child.text or "").strip()
    return out


async def _alarms(der_id: int) -> list[str]:
    from asgiref.sync import sync_to_async

    rows = await sync_to_async(
        lambda: list(
            Alarm.objects.filter(kind="der_report", cleared_at__isnull=True).values_list("message", flat=True)
        )
    )()
    return rows
