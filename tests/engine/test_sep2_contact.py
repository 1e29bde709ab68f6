"""Which devices a 2030.5 request counts as heard from (communication supervision): an aggregator
speaks for a device only on that device's own paths. Before, its post to mirror 7 counted as
hearing from DER 7 — whichever DER that was — so a silent member could be kept alive by another's
metering."""

from __future__ import annotations

import pytest

from apps.der_registry.engine.sep2.contact import heard_from

MEMBERS = (7, 8)


@pytest.mark.parametrize(
    ("path", "ids", "heard"),
    [
        ("/edev/7/der/0/ders", (7,), (7,)),
        ("/derp/8/derc", (8,), (8,)),
        ("/edev/9", (9,), ()),  # not one of its devices
        ("/mup/7", (7,), ()),  # mirror 7 may be any member's
        ("/upt/8/mr/0", (8, 0), ()),
        ("/rsps/0/rsp", (), ()),
        ("/dcap", (), ()),
    ],
)
def test_an_aggregator_speaks_for_a_device_only_on_its_paths(
    path: str, ids: tuple[int, ...], heard: tuple[int, ...]
) -> None:
    assert heard_from(path, ids, MEMBERS, "aggregator") == heard


def test_a_device_s_own_client_is_heard_on_every_request() -> None:
    assert heard_from("/mup/3", (3,), (12,), "device") == (12,)
