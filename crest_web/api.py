"""API plumbing shared by every app: pagination and error bodies an operator can read."""

from __future__ import annotations

from typing import Any

from rest_framework.pagination import PageNumberPagination
from rest_framework.renderers import BrowsableAPIRenderer
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from crest_web.pagination import DeferredJoinPaginator


class Pagination(PageNumberPagination):
    django_paginator_class = DeferredJoinPaginator
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 1000


class ReadOnlyBrowsableAPIRenderer(BrowsableAPIRenderer):
    """The browsable API for reading; writes are documented at /api/docs/ and made by scripts
    (write serializers take CSV-style fields that a model instance cannot pre-fill)."""

    def show_form_for_method(self, view: Any, method: str, request: Any, obj: Any) -> bool:
        return False


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, plus a top-level `detail` sentence on field-validation errors."""
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(response.data, dict) and "detail" not in response.data:
        response.data = {"detail": "The request has invalid fields; see `errors`.", "errors": response.data}
    return response
