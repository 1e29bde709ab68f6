"""Small pieces of the server's answers: list paging, documents, Accept checks, created replies."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from apps.der_registry.engine.sep2.http import HttpError, Reply, Request
from apps.der_registry.engine.sep2.xmlcodec import CONTENT_TYPE, to_bytes

T = TypeVar("T")
MAX_LIMIT = 255  # List.results is a UInt8


@dataclass(frozen=True)
class Page:
    start: int
    limit: int

    def of(self, items: Sequence[T]) -> list[T]:
        return list(items[self.start : self.start + self.limit])


def page(req: Request) -> Page:
    """2030.5 list paging: s (first index, default 0) and l (how many, default 1)."""
    try:
        start, limit = int(req.query.get("s", "0")), int(req.query.get("l", "1"))
    except ValueError:
        raise HttpError(400, "The paging parameters s and l must be whole numbers.") from None
    if start < 0 or limit < 0:
        raise HttpError(400, "The paging parameters s and l cannot be negative.")
    return Page(start, min(limit, MAX_LIMIT))


def document(doc: ET.Element, status: int = 200) -> Reply:
    return Reply(status, to_bytes(doc), CONTENT_TYPE)


def accepts_xml(accept: str) -> bool:
    """An Accept header that admits application/sep+xml (or names no type at all)."""
    if not accept.strip():
        return True
    for part in accept.split(","):
        media, *params = (x.strip().lower() for x in part.split(";"))
        if (
            media in ("application/sep+xml", "application/*", "*/*", "application/xml")
            and "q=0" not in params
        ):
            return True
    return False


def one(found: Sequence[T], missing: str) -> T:
    if not found:
        raise HttpError(404, missing)
    return found[0]


def created(location: str) -> Reply:
    return Reply(201, headers={"Location": location})
