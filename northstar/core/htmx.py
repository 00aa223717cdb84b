"""Rendering for pages that htmx updates in place, and the parts every list page shares.

A page that htmx updates in place has two templates: the full page, and the
partial that htmx swaps in (the full page includes the partial). `render_page`
picks one per request and marks the response `Vary: HX-Request`, so that no
cache ever serves a fragment as a page or a page as a fragment.

List pages sort with `?sort=<key>` or `?sort=-<key>` (`sort_rows`), paginate with
`?page=<n>` (`paginate`) and export the same rows as CSV (`csv_response`).
"""

import csv
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.paginator import Page, Paginator
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers

PER_PAGE = 50


def wants_partial(request) -> bool:
    """True for htmx requests that replace part of a page.

    Boosted links and history restores (the back button after htmx's history
    cache missed) need the whole page.
    """
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def render_page(request, template: str, context: dict, *, partial: str | None = None, status: int = 200):
    """The full page, or only `partial` when htmx asks for a part of it."""
    chosen = partial if partial is not None and wants_partial(request) else template
    response = render(request, chosen, context, status=status)
    patch_vary_headers(response, ("HX-Request",))
    return response


# -- lists -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SortColumn:
    """A sortable table header: its label, the `?sort=` value a click asks for, its state."""

    label: str
    next: str
    aria_sort: str  # "ascending", "descending" or "none", for the header's aria-sort


def sort_rows(request, rows, sorts: dict[str, tuple[str, tuple[str, ...]]], default: str):
    """Order `rows` by `?sort=`; returns (rows, {key: SortColumn}) for the table headers.

    `sorts` maps a key to (label, fields); the primary key is always the last
    field, so pages never overlap. Unknown keys fall back to `default`.
    """
    requested = request.GET.get("sort", "")
    key = requested.removeprefix("-")
    if key not in sorts:
        requested, key = default, default
    descending = requested.startswith("-")
    fields = (*sorts[key][1], "pk")
    rows = rows.order_by(*(f"-{name}" if descending else name for name in fields))
    columns = {}
    for name, (label, _fields) in sorts.items():
        if name != key:
            columns[name] = SortColumn(label, name, "none")
        elif descending:
            columns[name] = SortColumn(label, name, "descending")
        else:
            columns[name] = SortColumn(label, f"-{name}", "ascending")
    return rows, columns


def paginate(request, rows, per_page: int = PER_PAGE) -> Page:
    """The `?page=` page of `rows`; out-of-range or malformed numbers give the nearest page."""
    return Paginator(rows, per_page).get_page(request.GET.get("page"))


class _Echo:
    """A file-like object whose write() returns the line, for streaming csv.writer output."""

    def write(self, value):
        return value


def _cell(value) -> str:
    if value is None:
        return ""
    text = str(value)
    # A spreadsheet would run a cell starting with these as a formula.
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def csv_response(filename: str, header: list[str], rows: Iterable[Iterable]) -> StreamingHttpResponse:
    """Stream `rows` as a CSV download; rows are produced lazily, so exports of any size are cheap."""
    writer = csv.writer(_Echo())

    def lines():
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow([_cell(value) for value in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response
