"""The hosting node's HTTP doors for voice of members on other nodes (federation.voice):
`POST /groups/<id>/voice/token` (HTTP-signed under the member's actor id) mints a voice token;
`POST /voice/signal` carries the signaling that token allows. Errors are the API's shape."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from federation import voice as federated
from united.errors import INVALID_JSON, MISSING_ACCESS, UNAUTHORIZED, APIError, json_error


def _body(request: HttpRequest) -> Any:
    if len(request.body) > federated.MAX_BODY:
        raise APIError("Request body too large", code=40005, status=413)
    try:
        return json.loads(request.body or b"null")
    except ValueError:
        raise APIError("The request body is not JSON", code=INVALID_JSON) from None


def _signed_by(request: HttpRequest) -> tuple[str | None, JsonResponse | None]:
    """The verified actor id of the request's signer, or the refusal to answer."""
    from federation import inbox, policy, remote
    from federation.signatures import SignatureError

    headers = {k.lower(): v for k, v in request.headers.items()}
    try:
        key_id = inbox.signer(headers)
        domain = remote.domain_of(key_id)
        refusal = policy.refusal(domain)
        if refusal:
            raise inbox.Rejected(403, refusal, f"{domain} is {refusal}", domain, key_id)
        try:
            inbox.verify_any("POST", request.get_full_path(), headers, request.body)
        except SignatureError as exc:
            raise inbox.Rejected(401, exc.reason, exc.detail, domain, key_id) from None
    except inbox.Rejected as rejected:
        inbox.record_rejection(request.path, rejected)
        code = UNAUTHORIZED if rejected.status == 401 else MISSING_ACCESS
        return None, json_error(rejected.status, code, f"{rejected.reason}: {rejected.detail}")
    requester = key_id.split("#", 1)[0]
    if "/users/" not in requester:
        return None, json_error(403, MISSING_ACCESS, "Ask with the member's actor key")
    return requester, None


@csrf_exempt
@require_POST
def voice_token(request: HttpRequest, guild_id: int) -> JsonResponse:
    requester, refused = _signed_by(request)
    if refused is not None:
        return refused
    try:
        return JsonResponse(federated.check_mint(str(requester), guild_id, _body(request)))
    except APIError as exc:
        return JsonResponse(exc.body(), status=exc.status)


@csrf_exempt
@require_POST
def voice_signal(request: HttpRequest) -> JsonResponse:
    try:
        return JsonResponse(federated.check_signal(_body(request)))
    except APIError as exc:
        return JsonResponse(exc.body(), status=exc.status)
