"""DNS-SD for the IEEE 2030.5 server, the registry's side: which EndDevice an `edev-<sFDI>` query
finds, and starting the responder beside a server (apps/der_registry/engine/sep2/dnssd.py)."""

from __future__ import annotations

import logging
import socket

from django.db import connection

from apps.der_registry.engine.lifecycle import Status
from apps.der_registry.engine.sep2.dnssd import Advertisement, Responder, Zone, advertised_addresses
from apps.der_registry.models import DER

log = logging.getLogger(__name__)
INSTANCE = "CReST Control Room"


def edev_path(sfdi: int) -> str | None:
    """The EndDevice path of the enrolled DER with this sFDI; None when the registry has none (a
    decommissioned DER is not served, as the server does not identify it either)."""
    try:
        der_id = (
            DER.objects.filter(sfdi=sfdi)
            .exclude(status=Status.DECOMMISSIONED)
            .values_list("pk", flat=True)
            .first()
        )
    finally:
        connection.close()  # the responder's thread asks rarely: no connection kept open between queries
    return None if der_id is None else f"/edev/{der_id}"


def start_dnssd(interface: str, host: str, port: int, instance: str = INSTANCE) -> Responder:
    """Answer DNS-SD queries for the server listening on `host`:`port` (TLS), on `interface`.
    OSError when the interface does not exist or cannot carry multicast DNS; ValueError when the
    server's address or name cannot be advertised."""
    addresses = advertised_addresses(host, interface)
    if not addresses:
        raise ValueError(f"The interface {interface} has no address the server listens on ({host}).")
    host_name = socket.gethostname().split(".")[0] or "crest"
    ad = Advertisement(instance, f"{host_name}.local", port, addresses, edev_path=edev_path)
    responder = Responder(Zone(ad), interface).start()
    log.info("DNS-SD on %s: %s at %s port %d", interface, instance, ", ".join(addresses), port)
    return responder
