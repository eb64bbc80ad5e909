from __future__ import annotations

import sys

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views import defaults

from united import errors
from united.middleware import outage_response


def home(request: HttpRequest) -> HttpResponse:
    """Members go straight to the chat client; visitors get the node's landing page."""
    if request.user.is_authenticated:
        return redirect("web-home")
    return render(request, "home.html")


def server_error(request: HttpRequest) -> HttpResponse:
    """Django's handler500, reached by what fails outside a view (a middleware reading the
    session, the database dropping while a response is finished). Django calls it while the
    exception is being handled, so it can tell an outage (503) from a bug (500)."""
    exception = sys.exc_info()[1]
    if exception is not None and errors.is_outage(exception):
        return outage_response(request, exception)
    if request.path.startswith("/api/"):
        return errors.json_error(500, errors.GENERAL, "Internal server error")
    return defaults.server_error(request)
