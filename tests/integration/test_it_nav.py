"""The main navigation shows each person only what they may open, and the capability index."""

from __future__ import annotations

import json
import re

from django.contrib.auth.models import User

from apps.capability.models import CapabilityStudy
from apps.dms.actions import do_add_feeder_version
from apps.dms.engine.network import Network
from apps.dms.models import Feeder
from tests.conftest import ROOT, client_for

NAV = re.compile(r'<nav aria-label="Main">(.*?)</nav>', re.S)


def _nav_links(user: User) -> dict[str, str]:
    html = client_for(user).get("/").content.decode()
    nav = NAV.search(html)
    assert nav is not None
    links = re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)', nav.group(1))
    return {label.strip(): href for href, label in links}


def test_it_shows_each_role_only_links_it_may_open(
    operator: User, planner: User, admin_user: User, outsider: User
) -> None:
    everyone = {"Overview", "API docs"}
    readers = everyone | {"DER registry", "Feeders", "Capability", "Alarms", "Transmission what-if"}
    admins = readers | {"Audit log", "Users and roles"}
    expected = {operator: readers, planner: readers, admin_user: admins}
    for user, labels in expected.items():
        links = _nav_links(user)
        assert labels <= set(links), f"{user}: {sorted(links)}"
        client = client_for(user)
        for label, href in links.items():
            assert client.get(href).status_code == 200, (
                f"{user} is shown {label} ({href}) but may not open it"
            )
    no_role = client_for(outsider).get("/")  # no role: no navigation at all, only the no-role page
    assert no_role.status_code == 403 and not NAV.search(no_role.content.decode())
    assert client_for(outsider).get("/ems/whatif/").status_code == 403
    assert "Audit log" not in _nav_links(operator)


def test_it_lists_each_feeder_with_its_latest_study(ieee13: Feeder, planner: User, outsider: User) -> None:
    text = (ROOT / "apps" / "dms" / "fixtures" / "ieee123.json").read_text()
    do_add_feeder_version(None, "system", Network.from_dict(json.loads(text)), source_name="x")
    version = ieee13.current_version()
    assert version is not None
    old, new = (
        CapabilityStudy.objects.create(
            kind=kind, feeder=ieee13, feeder_version=version, status=status, params={"headroom": "0:1:0.5"}
        )
        for kind, status in (("headroom", "done"), ("vtm", "failed"))
    )
    page = client_for(planner).get("/capability/")
    assert page.status_code == 200
    html = page.content.decode()
    row13 = re.search(r'<tr id="feeder-ieee13">(.*?)</tr>', html, re.S)
    row123 = re.search(r'<tr id="feeder-ieee123">(.*?)</tr>', html, re.S)
    assert row13 is not None and row123 is not None
    assert 'href="/capability/feeder/ieee13/"' in row13.group(1)
    assert f'href="/capability/{new.pk}/">#{new.pk} Transmission-voltage sweep</a>' in row13.group(1)
    assert "Failed" in row13.group(1)
    assert f"/capability/{old.pk}/" not in html
    assert '<td class="num">2</td>' in row13.group(1)
    assert 'href="/capability/feeder/ieee123/"' in row123.group(1)
    assert "no studies yet" in row123.group(1)
    assert 'aria-current="page">Capability</a>' in html
    assert client_for(outsider).get("/capability/").status_code == 403
