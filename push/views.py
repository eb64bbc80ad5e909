"""The member's Notifications page, and what makes the client an installable app: the web app
manifest, the service worker (served from the root so its scope is the whole node) and the
page it shows when the network is down."""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.staticfiles import finders
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.views.decorators.http import require_GET, require_POST

from accounts.requests import AuthedHttpRequest
from push import services, webpush
from united.errors import NotFound

APP_NAME = "UNITED"
THEME_COLOR = "#5865f2"
BACKGROUND_COLOR = "#1e1f22"
ICON_SIZES = (48, 72, 96, 128, 192, 256, 384, 512)
# What the service worker keeps for offline use: the page it shows, and what that page and the
# client load (the bundle, the stylesheets, the icon).
SHELL = [
    "/offline/",
    "dist/app.js",
    "css/united.css",
    "css/app.css",
    "css/chat-extras.css",
    "css/members.css",
    "img/favicon.svg",
    "img/icons/icon-192.png",
]


@login_required
def notifications(request: AuthedHttpRequest) -> HttpResponse:
    rows = request.user.push_subscriptions.order_by("created_at")
    return render(
        request,
        "push/settings.html",
        {
            "subscriptions": [services.serialize_subscription(r) for r in rows],
            "vapid_key": webpush.public_key(),
        },
    )


@login_required
@require_POST
def remove_device(request: AuthedHttpRequest, subscription_id: int) -> HttpResponse:
    try:
        row = services.access_subscription(request.user, subscription_id)
    except NotFound:
        raise Http404("Unknown push subscription") from None
    services.do_unsubscribe(row)
    messages.success(request, "That device will get no more notifications.")
    return redirect("notifications")


@require_GET
def manifest(request: HttpRequest) -> HttpResponse:
    icons = [
        {"src": static(f"img/icons/icon-{n}.png"), "sizes": f"{n}x{n}", "type": "image/png"}
        for n in ICON_SIZES
    ]
    icons.append(
        {
            "src": static("img/icons/maskable-512.png"),
            "sizes": "512x512",
            "type": "image/png",
            "purpose": "maskable",
        }
    )
    body = {
        "id": "/app/",
        "name": APP_NAME,
        "short_name": APP_NAME,
        "description": "Community chat on this UNITED node",
        "start_url": "/app/",
        "scope": "/",
        "display": "standalone",
        "theme_color": THEME_COLOR,
        "background_color": BACKGROUND_COLOR,
        "icons": icons,
    }
    response = JsonResponse(body, content_type="application/manifest+json")
    response["Cache-Control"] = "no-cache"
    return response


def _bundle(name: str) -> Path:
    found = finders.find(f"dist/{name}")
    if found:
        return Path(str(found))
    return Path(settings.STATIC_ROOT) / "dist" / name


@require_GET
def service_worker(request: HttpRequest) -> HttpResponse:
    path = _bundle("sw.js")
    try:
        code = path.read_text()
        version = str(int(path.stat().st_mtime))
    except OSError:
        raise Http404("The service worker is not built (npm run build).") from None
    shell = [url if url.startswith("/") else static(url) for url in SHELL]
    # The list and a version ride ahead of the bundled code: a new build changes the version,
    # so browsers install the new worker and refresh the cached shell.
    head = f"self.UNITED_SHELL={json.dumps(shell)};self.UNITED_VERSION={json.dumps(version)};\n"
    response = HttpResponse(head + code, content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    response["Service-Worker-Allowed"] = "/"
    return response


@require_GET
def offline(request: HttpRequest) -> HttpResponse:
    return render(request, "push/offline.html")
