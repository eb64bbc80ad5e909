from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render


def home(request: HttpRequest) -> HttpResponse:
    """Members go straight to the chat client; visitors get the node's landing page."""
    if request.user.is_authenticated:
        return redirect("web-home")
    return render(request, "home.html")
