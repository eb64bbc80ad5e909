"""The application's Ed25519 key and its interactions endpoint URL: signing as Discord signs
(X-Signature-Ed25519 over X-Signature-Timestamp + body), the PING/PONG check when the URL is
saved, and posting an interaction to it through the SSRF-guarded client (push.ports)."""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from typing import Any

from django.conf import settings
from nacl.exceptions import CryptoError
from nacl.secret import SecretBox
from nacl.signing import SigningKey

from accounts.models import User
from bots.interactions.answer import check_callback
from bots.interactions.common import (
    MAX_ENDPOINT_ANSWER,
    PING,
    PONG,
    TOKEN_PREFIX,
    logger,
)
from bots.interactions.invoke import endpoint_payload
from bots.models import Application, Interaction
from united.errors import APIError, Invalid


def _box() -> SecretBox:
    # Sealed like the node's other private keys: a copy of the database alone signs nothing.
    secret = hashlib.blake2b(
        settings.SECRET_KEY.encode(), digest_size=32, person=b"united-interact"
    ).digest()
    return SecretBox(secret)


def ensure_keys(app: Application, *, renew: bool = False) -> Application:
    """The application's Ed25519 key pair, made on first need (applications made before
    interactions existed have none); the private half is kept sealed."""
    if renew or not app.public_key:
        key = SigningKey.generate()
        app.signing_key = _box().encrypt(key.encode()).hex()
        app.public_key = key.verify_key.encode().hex()
        app.save(update_fields=["signing_key", "public_key"])
    return app


def sign(app: Application, timestamp: str, body: bytes) -> str:
    try:
        seed = _box().decrypt(bytes.fromhex(ensure_keys(app).signing_key))
    except (CryptoError, ValueError):
        # Sealed under another UNITED_SECRET_KEY (a restore on a new machine): a new pair,
        # whose public key the owner sees on the Developer page.
        seed = _box().decrypt(bytes.fromhex(ensure_keys(app, renew=True).signing_key))
    return SigningKey(seed).sign(timestamp.encode() + body).signature.hex()


def post_signed(app: Application, url: str, payload: dict[str, Any]) -> tuple[int, bytes]:
    """POST `payload` to the application's endpoint, signed as Discord signs, through the
    node's SSRF-guarded client (push.ports: federation registers it). Raises
    push.ports.TransportError."""
    from push import ports

    body = json.dumps(payload, separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    answer = ports.safe_post(
        url,
        headers={
            "Content-Type": "application/json",
            "X-Signature-Ed25519": sign(app, timestamp, body),
            "X-Signature-Timestamp": timestamp,
        },
        content=body,
        allow_private=list(settings.BOTS_ALLOW_PRIVATE),
    )
    return answer.status, answer.body


def endpoint_request(interaction: Interaction, token: str) -> tuple[str, bytes, dict[str, str]]:
    """The signed POST for the application's endpoint: (url, body, headers). Reads the
    database; the POST itself (`post_bytes`) does not, so it can run on any thread."""
    app = ensure_keys(interaction.application)
    body = json.dumps(
        endpoint_payload(interaction, token, interaction.user), separators=(",", ":")
    ).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Signature-Ed25519": sign(app, timestamp, body),
        "X-Signature-Timestamp": timestamp,
    }
    return app.interactions_endpoint_url, body, headers


def post_bytes(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes] | None:
    """None when the endpoint is out of reach or refused by the SSRF guard."""
    from push import ports

    try:
        answer = ports.safe_post(
            url, headers=headers, content=body, allow_private=list(settings.BOTS_ALLOW_PRIVATE)
        )
    except ports.TransportError as exc:
        logger.info("interactions endpoint %s refused or unreachable: %s", url, exc)
        return None
    return answer.status, answer.body


def apply_endpoint_answer(
    interaction: Interaction, token: str, answer: tuple[int, bytes] | None
) -> None:
    """The endpoint's answer is the callback. Whatever is wrong with it (not 200, not JSON,
    not a valid callback) leaves the interaction unanswered: the member hears the application
    did not respond."""
    if answer is None:
        return
    status, body = answer
    if status != 200 or len(body) > MAX_ENDPOINT_ANSWER:
        logger.info("interaction %s: the endpoint answered %s", interaction.id, status)
        return
    try:
        check_callback(interaction.id, token, json.loads(body))
    except (ValueError, APIError) as exc:
        logger.info("interaction %s: the endpoint's answer is no callback: %s", interaction.id, exc)


def _verify_endpoint(app: Application, url: str) -> None:
    """Discord's check when the URL is saved: a signed PING must get a PONG ({"type": 1}),
    and a PING with a wrong signature must be refused (the endpoint really verifies)."""
    from push.ports import TransportError

    ping = {
        "id": str(secrets.randbits(62)),
        "application_id": str(app.id),
        "type": PING,
        "token": f"{TOKEN_PREFIX}{secrets.token_urlsafe(24)}",
        "version": 1,
    }
    field = "interactions_endpoint_url"
    try:
        status, body = post_signed(app, url, ping)
    except TransportError as exc:
        raise Invalid(
            errors={field: [f"The node could not reach that URL ({exc.reason})."]}
        ) from None
    try:
        answer = json.loads(body) if status == 200 else None
    except ValueError:
        answer = None
    if not isinstance(answer, dict) or answer.get("type") != PONG:
        raise Invalid(
            errors={field: ['The URL did not answer the signed PING with a PONG ({"type": 1}).']}
        )
    from push import ports

    body = json.dumps(ping, separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    try:
        forged = ports.safe_post(
            url,
            headers={
                "Content-Type": "application/json",
                "X-Signature-Ed25519": "00" * 64,
                "X-Signature-Timestamp": timestamp,
            },
            content=body,
            allow_private=list(settings.BOTS_ALLOW_PRIVATE),
        )
    except TransportError as exc:
        raise Invalid(
            errors={field: [f"The node could not reach that URL ({exc.reason})."]}
        ) from None
    if 200 <= forged.status < 300:
        raise Invalid(
            errors={
                field: [
                    "The URL accepted a PING with a wrong signature: verify X-Signature-Ed25519."
                ]
            }
        )


def check_set_endpoint(owner: User, application_id: Any, url: Any) -> Application:
    from bots.services import access_application

    app = ensure_keys(access_application(owner, application_id))
    if url is None:
        url = ""
    if not isinstance(url, str) or len(url) > 500 or "\x00" in url:
        raise Invalid(errors={"interactions_endpoint_url": ["Up to 500 characters."]})
    url = url.strip()
    if url:
        from urllib.parse import urlsplit

        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises on a malformed port
        except ValueError:
            raise Invalid(errors={"interactions_endpoint_url": ["Not a URL."]}) from None
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise Invalid(errors={"interactions_endpoint_url": ["An http(s) URL."]})
        if parts.username or parts.password:
            raise Invalid(errors={"interactions_endpoint_url": ["No credentials in the URL."]})
        if parts.scheme == "http" and not settings.BOTS_ALLOW_PRIVATE:
            raise Invalid(errors={"interactions_endpoint_url": ["An https URL."]})
        _verify_endpoint(app, url)
    return do_set_endpoint(app, url)


def do_set_endpoint(app: Application, url: str) -> Application:
    app.interactions_endpoint_url = url
    app.save(update_fields=["interactions_endpoint_url"])
    return app
