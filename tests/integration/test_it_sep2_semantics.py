"""What the 2030.5 server's documents mean, as a CSIP lab checks it (issue #16 item 6): a DER the
registry suspends is served `enabled=false` on its EndDevice, with a new changedTime, and `true`
again once resumed. Before, every EndDevice said `enabled=true` whatever the registry held."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from apps.der_registry import actions
from apps.der_registry.engine.sep2.xmlcodec import q
from tests.integration.test_it_sep2_server import Pki, connect, pki, run, server, valid_get  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_suspended_der_is_served_disabled_and_enabled_again_when_resumed(
    server: str,  # noqa: F811
    pki: Pki,  # noqa: F811
    enrolled: Callable[..., Any],
) -> None:
    der = enrolled("active", lfdi=pki.device.lfdi, sfdi=pki.device.sfdi)

    def edev() -> tuple[str, int]:
        async def get() -> tuple[str, int]:
            conn = connect(server, pki.ca, pki.device)
            doc = (await valid_get(conn, f"/edev/{der.pk}")).doc()
            await conn.close()
            return doc.findtext(q("enabled")) or "", int(doc.findtext(q("changedTime")) or 0)

        answer: tuple[str, int] = run(get())
        return answer

    enabled, changed = edev()
    assert enabled == "true"
    actions.do_transition_der(None, "test", der.pk, "suspended", "inverter fault")
    suspended, changed_then = edev()
    assert suspended == "false" and changed_then >= changed
    actions.do_transition_der(None, "test", der.pk, "active", "repaired")
    assert edev()[0] == "true"
