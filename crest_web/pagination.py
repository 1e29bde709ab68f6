"""A paginator for wide, joined querysets (the DER registry at 100k rows)."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet


class DeferredJoinPaginator(Paginator):
    """Find the page's primary keys on the narrow table first (an index-only scan of the
    ordering index), then fetch only those rows with their joins. A plain OFFSET on the joined
    query makes PostgreSQL sort every matching wide row before skipping them."""

    def page(self, number: Any) -> Page:
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        qs = self.object_list
        if not isinstance(qs, QuerySet):
            return super().page(number)
        # LIMIT stays the page size on a short last page: with LIMIT = a handful of rows the
        # planner walks the whole ordering index hoping to meet them early (search terms).
        limit = max(top, bottom + self.per_page)
        ids = list(qs.prefetch_related(None).values_list("pk", flat=True)[bottom:limit])
        return Page(qs.filter(pk__in=ids), number, self)
