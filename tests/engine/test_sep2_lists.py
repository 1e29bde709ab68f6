"""2030.5 lists in the standard's order (issue #16 item 6), checked against the ordering keys EPRI's
reference client sorts each list type by (`se_list.txt` in its source: "DERControl: interval.start
ascending creationTime descending mRID descending" …). Before, DERControlList ran newest first and
carried every control the DER ever had (up to 255), which a restarting client walked in full."""

from __future__ import annotations

import datetime as dt
import itertools
import random
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from lxml import etree

from apps.der_registry.engine.sep2 import default_docs as dd
from apps.der_registry.engine.sep2 import lists
from apps.der_registry.engine.sep2 import mirror as mup
from apps.der_registry.engine.sep2 import resources as res
from apps.der_registry.engine.sep2.mirror import MirrorView
from apps.der_registry.engine.sep2.model import (
    CURVE_VOLT_VAR,
    ControlView,
    CurveView,
    EndDeviceView,
    LogEventView,
    ResponseView,
    SubscriptionView,
)
from apps.der_registry.engine.sep2.xmlcodec import NS, to_bytes
from tests.integration.epri_client import SOURCE as SOURCE_COPY

NOW = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)


def _keys() -> dict[str, list[tuple[str, bool]]]:
    """EPRI's se_list.txt: item type → [(key path, descending)]."""
    out = {}
    for line in (SOURCE_COPY / "se_list.txt").read_text().splitlines():
        name, _, spec = line.partition(":")
        words = spec.split()
        out[name.strip()] = [(words[i], words[i + 1].startswith("desc")) for i in range(0, len(words), 2)]
    return out


def _value(item: Any, path: str) -> int | str:
    if path == "href":
        return str(item.get("href"))
    node = item
    for part in path.split("."):
        node = node.find(f"{{{NS}}}{part}")
    text = (node.text or "").strip()
    return int(text) if text.lstrip("-").isdigit() else text


def assert_in_standard_order(body: bytes, item_tag: str) -> int:
    keys = _keys()[item_tag]
    items = etree.fromstring(body).findall(f"{{{NS}}}{item_tag}")
    for a, b in itertools.pairwise(items):
        for path, descending in keys:
            x, y = _value(a, path), _value(b, path)
            if x == y:
                continue
            assert (x > y) if descending else (x < y), (item_tag, path, x, y)  # type: ignore[operator]
            break
    return len(items)


def _t(minutes_ago: float) -> dt.datetime:
    return NOW - dt.timedelta(minutes=minutes_ago)


def _shuffled(items: Sequence[Any]) -> list[Any]:
    out = list(items)
    random.Random(7).shuffle(out)
    return out


CASES: dict[str, tuple[str, Callable[[], bytes]]] = {
    "controls": (
        "DERControl",
        lambda: to_bytes(
            res.der_control_list(
                5,
                served := lists.controls(
                    _shuffled(
                        [
                            ControlView(i, _t(m), "superseded", "x", None, 1.0)
                            for i, m in enumerate([50, 40, 40, 30, 10, 1], start=1)
                        ]
                    ),
                    NOW,
                ),
                len(served),
            )
        ),
    ),
    "curves": (
        "DERCurve",
        lambda: to_bytes(
            dd.der_curve_list(
                5,
                lists.curves(
                    _shuffled([CurveView(i, _t(i % 3), CURVE_VOLT_VAR, ((95.0, 5.0),)) for i in range(1, 7)])
                ),
                6,
            )
        ),
    ),
    "end devices": (
        "EndDevice",
        lambda: to_bytes(
            res.end_device_list(
                lists.end_devices(
                    _shuffled([EndDeviceView(i, "A" * 40, 900 - i % 3, NOW, NOW, None) for i in range(6)])
                ),
                6,
                20,
            )
        ),
    ),
    "responses": (
        "Response",
        lambda: to_bytes(
            res.response_list(
                lists.responses(
                    _shuffled([ResponseView(i, f"{i % 2:040d}", "0" * 32, 1, _t(i % 3)) for i in range(1, 7)])
                ),
                6,
            )
        ),
    ),
    "log events": (
        "LogEvent",
        lambda: to_bytes(
            res.log_event_list(
                5,
                lists.log_events(
                    _shuffled([LogEventView(i, _t(i % 3), 0, 0, 7 - i, 0, 0) for i in range(1, 7)])
                ),
                6,
                20,
            )
        ),
    ),
    "subscriptions": (
        "Subscription",
        lambda: to_bytes(
            res.subscription_list(
                5,
                lists.subscriptions(
                    5,
                    _shuffled([SubscriptionView(i, "/derp/5/derc", "https://x/n", 1) for i in range(1, 12)]),
                ),
                11,
                20,
            )
        ),
    ),
    "mirrors": (
        "MirrorUsagePoint",
        lambda: to_bytes(
            mup.mirror_list(
                lists.mirrors(
                    _shuffled([MirrorView(i, f"{i * 37 % 11:032X}", "A" * 40, 0, 0, 0) for i in range(1, 7)])
                ),
                6,
                20,
            )
        ),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_every_list_is_in_the_order_the_standard_gives(case: str) -> None:
    item_tag, build = CASES[case]
    assert assert_in_standard_order(build(), item_tag) >= 2


def test_a_der_control_list_keeps_the_control_in_force_and_the_last_hour_only() -> None:
    old = [ControlView(i, _t(m), "superseded", "x", None, 1.0) for i, m in enumerate([300, 200, 90], start=1)]
    recent = [
        ControlView(4, _t(50), "superseded", "x", None, 1.0),
        ControlView(5, _t(5), "issued", "x", None, 2.0),
    ]
    assert [v.setpoint_id for v in lists.controls(old + recent, NOW)] == [4, 5]
    # Days without a new set point: the one in force is still listed.
    assert [v.setpoint_id for v in lists.controls(old, NOW)] == [3]
    assert lists.controls([], NOW) == []
