"""One place decides between a full page and its HTMX fragment (STYLE.md item 24)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def render_page(
    request: HttpRequest,
    page: str,
    fragment: str,
    context: dict[str, Any],
    *,
    status: int = 200,
) -> HttpResponse:
    """`fragment` (templates/web/_thing.html) for HTMX requests, else the whole `page`."""
    template = fragment if getattr(request, "htmx", False) else page
    return render(request, template, context, status=status)


def render_fragment(
    request: HttpRequest, fragment: str, context: dict[str, Any], *, status: int = 200
) -> HttpResponse:
    return render(request, fragment, context, status=status)
