"""The API's JSON parser: DRF's, after a check that the body is not nested absurdly deep.

Python's JSON decoder recurses once per level: a body of 100,000 `[` ends in a RecursionError,
which DRF does not catch (HTTP 500), and a body just under the interpreter's limit would recurse
again wherever the data is walked later. No request of ours nests more than a few levels.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError

MAX_JSON_DEPTH = 64  # levels of [ and { in one request body
# A JSON string (its brackets are text) or one bracket; the string pattern never backtracks.
_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


def json_depth_exceeds(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when `body` opens more than `limit` arrays and objects inside one another."""
    depth = 0
    for token in _TOKENS.finditer(body):
        bracket = token.group()
        if bracket in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        elif bracket in (b"]", b"}"):
            depth -= 1
    return False


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser that answers 400 "JSON too deeply nested" instead of recursing."""

    def parse(
        self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        body = stream.read()
        if json_depth_exceeds(body):
            raise ParseError(f"JSON too deeply nested: more than {MAX_JSON_DEPTH} levels of [ and {{.")
        return super().parse(io.BytesIO(body), media_type, parser_context)
