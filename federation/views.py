"""HTTP doors of federation: discovery documents, actors, collections and the inbox.

Only HTTP lives here; each view calls one module of the app. GETs of user actors and their
collections verify an HTTP signature when one is present (authorized fetch): a bad signature
or a refused signer gets 401/403. The node actor and discovery documents are served to
anybody, so a peer can always fetch the key it needs to check our signatures.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from federation import (
    actors,
    delivery,
    inbox,
    inboxgate,
    manifest,
    moves,
    nodeinfo,
    policy,
    remote,
    webfinger,
)
from federation.inboxgate import rate_limit_headers
from federation.models import Activity, Follow
from federation.signatures import SignatureError
from united.clientaddr import client_address
from united.errors import APIError, RateLimited, ServiceUnavailable

ACTIVITY_JSON = "application/activity+json"


def _json(
    data: dict[str, Any], status: int = 200, content_type: str = ACTIVITY_JSON
) -> HttpResponse:
    response = HttpResponse(json.dumps(data), status=status, content_type=content_type)
    response["Access-Control-Allow-Origin"] = "*"
    return response


def _error(status: int, reason: str, detail: str) -> JsonResponse:
    return JsonResponse({"error": reason, "detail": detail}, status=status)


def _check_signed_get(request: HttpRequest) -> HttpResponse | None:
    headers = {k.lower(): v for k, v in request.headers.items()}
    if "signature" not in headers:
        return None
    try:
        key_id = inbox.signer(headers)
        domain = remote.domain_of(key_id)
        refusal = policy.refusal(domain)
        if refusal:
            raise inbox.Rejected(403, refusal, f"{domain} is {refusal}", domain, key_id)
        try:
            inbox.verify_any("GET", request.get_full_path(), headers, b"")
        except SignatureError as exc:
            raise inbox.Rejected(401, exc.reason, exc.detail, domain, key_id) from None
        delivery.heard_from(domain)
        return None
    except inbox.Rejected as rejected:
        rejection = rejected
    inbox.record_rejection(request.path, rejection)
    return _error(rejection.status, rejection.reason, rejection.detail)


@require_GET
def well_known_federation(request: HttpRequest) -> HttpResponse:
    return _json(manifest.federation_document(), content_type="application/json")


@require_GET
def well_known_webfinger(request: HttpRequest) -> HttpResponse:
    resource = request.GET.get("resource")
    if not resource:
        return _error(400, "bad_request", "the resource parameter is required")
    document = webfinger.jrd(resource, request.GET.getlist("rel"))
    if document is None:
        return _error(404, "not_found", "no such resource on this node")
    return _json(document, content_type="application/jrd+json")


@require_GET
def well_known_nodeinfo(request: HttpRequest) -> HttpResponse:
    return _json(nodeinfo.discovery(), content_type="application/json")


@require_GET
def nodeinfo_21(request: HttpRequest) -> HttpResponse:
    profile = f'application/json; profile="{nodeinfo.SCHEMA_21}#"'
    return _json(nodeinfo.document(), content_type=profile)


@require_GET
def host_meta(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(webfinger.host_meta_xml(), content_type="application/xrd+xml")
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_GET
def node_actor(request: HttpRequest) -> HttpResponse:
    return _json(actors.render_node_actor())


def _local_actor(kind: str, name: str) -> tuple[actors.ActorKind, Any]:
    found = actors.find_local_actor(name)
    if found is None or found[0].name != kind:
        raise Http404("no such actor")
    return found


@require_GET
def actor(request: HttpRequest, name: str, kind: str = "user") -> HttpResponse:
    refused = _check_signed_get(request)
    if refused:
        return refused
    actor_kind, obj = _local_actor(kind, name)
    document = actor_kind.render(obj)
    if kind == "user" and _wants_html(request):
        return render(request, "federation/profile.html", _profile(obj, document))
    return _json(document)


def _wants_html(request: HttpRequest) -> bool:
    """A browser opening a person's actor URL gets their profile page (as on Mastodon);
    ActivityPub clients ask for activity+json or ld+json."""
    accept = request.headers.get("Accept", "")
    return "text/html" in accept and "activity+json" not in accept and "ld+json" not in accept


def _profile(user: Any, document: dict[str, Any]) -> dict[str, Any]:
    moved_to = document.get("movedTo")
    return {
        "person": user,
        "handle": f"{user.username}@{settings.FEDERATION_DOMAIN}",
        "moved_to": moved_to,
        "moved_to_handle": user.moved_to_handle or moved_to,
        "moved_to_url": moved_to if isinstance(moved_to, str) else None,
    }


def _collection(uri: str, total: int) -> dict[str, Any]:
    # Totals only: who follows whom is not published item by item.
    return {"@context": actors.AS2, "id": uri, "type": "OrderedCollection", "totalItems": total}


@require_GET
def followers(request: HttpRequest, name: str, kind: str = "user") -> HttpResponse:
    refused = _check_signed_get(request)
    if refused:
        return refused
    actor_kind, obj = _local_actor(kind, name)
    uri = actor_kind.render(obj)["followers"]
    count = Follow.objects.filter(local_user=obj, outgoing=False).count() if kind == "user" else 0
    return _json(_collection(uri, count))


@require_GET
def following(request: HttpRequest, name: str, kind: str = "user") -> HttpResponse:
    refused = _check_signed_get(request)
    if refused:
        return refused
    actor_kind, obj = _local_actor(kind, name)
    uri = actor_kind.render(obj)["following"]
    count = Follow.objects.filter(local_user=obj, outgoing=True).count() if kind == "user" else 0
    return _json(_collection(uri, count))


@require_GET
def outbox(request: HttpRequest, name: str, kind: str = "user") -> HttpResponse:
    refused = _check_signed_get(request)
    if refused:
        return refused
    actor_kind, obj = _local_actor(kind, name)
    # Activities reach their audience by delivery; the outbox does not republish them.
    return _json(_collection(actor_kind.render(obj)["outbox"], 0))


def _parties(value: Any) -> set[str]:
    """Origins of every remote URL an activity names (its counterparties)."""
    found: set[str] = set()
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        if not actors.is_local(value):
            found.add(remote.origin(value))
    elif isinstance(value, dict):
        for key in ("actor", "object"):
            found |= _parties(value.get(key))
    return found


@require_GET
def activity(request: HttpRequest, activity_id: int) -> HttpResponse:
    """An activity of ours, only to a signed request from one of its counterparties: a Follow
    must not tell strangers who follows whom."""
    if "signature" not in request.headers:
        return _error(401, "unsigned", "activities are served to signed requests only")
    refused = _check_signed_get(request)
    if refused:
        return refused
    row = Activity.objects.filter(uri=f"{actors.base_url()}/activities/{activity_id}").first()
    key_id = inbox.signer({k.lower(): v for k, v in request.headers.items()})
    if row is None or remote.origin(key_id) not in _parties(row.payload):
        raise Http404("no such activity")
    return _json(row.payload)


@csrf_exempt
@require_POST
def inbox_view(request: HttpRequest, name: str | None = None, kind: str = "user") -> HttpResponse:
    try:
        declared = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        declared = 0
    try:
        inboxgate.limit_address(client_address(request))
        if declared > inbox.MAX_BODY:
            raise inbox.Rejected(413, "too_large", f"Content-Length {declared} is over the limit")
        if name is not None:
            _local_actor(kind, name)
        item, created = inbox.receive(
            "POST", request.get_full_path(), dict(request.headers), request.body
        )
        if item.type == "Move":
            if created:
                moves.admit(item)
            elif (refused := moves.refusal_of(item)) is not None:
                raise refused
    except moves.MoveRefused as refused:
        inbox.record_rejection(
            request.path,
            inbox.Rejected(refused.status, refused.reason, refused.detail, item.node.domain),
        )
        wait = 60.0 if refused.status == 503 else None  # the target's node may come back
        error = APIError(refused.detail, status=refused.status, code=50035, retry_after=wait)
        return _refusal(error, refused.reason, error.headers())
    except inbox.Rejected as rejected:
        inbox.record_rejection(request.path, rejected)
        return _error(rejected.status, rejected.reason, rejected.detail)
    except RateLimited as exc:
        # Not recorded: a row per refused request is the write a flood is after.
        return _refusal(exc, "rate_limited", rate_limit_headers(exc))
    except inboxgate.Busy:
        busy = ServiceUnavailable(
            "The inbox is busy; try again later.", retry_after=inboxgate.BUSY_RETRY_AFTER
        )
        return _refusal(busy, "busy", busy.headers())
    return HttpResponse(status=202)


def _refusal(exc: APIError, reason: str, headers: dict[str, str]) -> JsonResponse:
    # The API's error shape (code, message, retry_after) plus the inbox's `error`/`detail`
    # pair that peers already read from our other refusals.
    body = {**exc.body(), "error": reason, "detail": exc.message}
    response = JsonResponse(body, status=exc.status)
    for header, value in headers.items():
        response[header] = value
    return response
