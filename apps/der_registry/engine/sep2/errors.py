"""Errors as IEEE 2030.5 `Error` resources (2030.5-2018 §B / the schema's Error): application/sep+xml
with a reasonCode, never text/plain. The reason in words rides along as an XML comment, which every
2030.5 parser skips and a person reading a trace or log sees."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from apps.der_registry.engine.sep2.http import Reply
from apps.der_registry.engine.sep2.xmlcodec import CONTENT_TYPE, q, to_bytes

# The schema's Error.reasonCode values.
INVALID_FORMAT, INVALID_VALUES, RESOURCE_LIMIT, NOT_SUPPORTED, TOO_FREQUENT = 0, 1, 2, 3, 4
_BY_STATUS = {413: RESOURCE_LIMIT, 431: RESOURCE_LIMIT, 429: TOO_FREQUENT, 422: INVALID_VALUES}


def error_reply(status: int, message: str, reason_code: int | None = None) -> Reply:
    doc = ET.Element(q("Error"))
    # A comment may not contain "--"; the words are for people, the code for the client.
    doc.append(ET.Comment(" " + message.replace("--", "- -").strip() + " "))
    ET.SubElement(doc, q("reasonCode")).text = str(
        _BY_STATUS.get(status, INVALID_FORMAT) if reason_code is None else reason_code
    )
    return Reply(status, to_bytes(doc), CONTENT_TYPE)
