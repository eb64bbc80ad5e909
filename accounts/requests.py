"""Request types for views that only a signed-in member reaches.

The stubs type `request.user` as `User | AnonymousUser`, which is right for a request in general.
A DRF view behind IsAuthenticated (the project default) and a page behind `login_required` only
ever see a User, and these types say so, so mypy checks what those views do with it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import HttpRequest
from rest_framework.request import Request

if TYPE_CHECKING:
    from accounts.models import User


class AuthedRequest(Request):
    """A DRF request that passed IsAuthenticated."""

    user: User


class AuthedHttpRequest(HttpRequest):
    """A Django request of a page behind `login_required`, `member_view` or the admin site."""

    user: User
