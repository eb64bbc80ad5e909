"""HTTP Signatures as the fediverse uses them: draft-cavage-http-signatures (-12), with the
`Digest` header (RFC 3230) and, for newer peers, `Content-Digest` (RFC 9530).

We sign `(request-target) host date` plus `digest` when there is a body: rsa-sha256 with the
node's RSA key for everybody, hs2019 with the Ed25519 key towards UNITED nodes. The signing
string is built here, to the letter of the draft (§2.3): each covered header as
`lowercased-name: value`, joined by a single `\\n`, the pseudo-header `(request-target)` as the
lowercased method, a space and the path with its query; `(created)`/`(expires)` as integers.

Verification is two layers. `verify_signature` is the cryptography alone (what the draft's
test vectors exercise). `verify_request` adds the policy a server needs: the covered headers
must include the request target, the host and a date; a request with a body must cover its
digest, and the digest must match the body; the date must sit inside the window, so an old
signed request cannot be replayed later. Query strings are never dropped from the request
target (Mastodon accepts that for old peers; we do not).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from federation.keys import PrivateKey, PublicKey

# Clock skew we tolerate, as Mastodon does: a signed Date (or `created`) up to an hour old or an
# hour ahead of our clock, and an `expires` up to an hour behind it. Less than that breaks
# federation with servers whose clock is a little wrong (a peer 30 minutes fast was refused
# when the future margin was 5 minutes); more would let an old signed request be replayed
# for longer.
MAX_AGE = timedelta(hours=1)
MAX_FUTURE = timedelta(hours=1)
EXPIRES_GRACE = timedelta(hours=1)
ALGORITHMS = {"rsa-sha256", "hs2019", "ed25519"}


class SignatureError(Exception):
    """A request fails verification; `reason` is a short stable code for the operator log."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail or reason
        super().__init__(f"{reason}: {self.detail}")


@dataclass(frozen=True)
class SignatureParams:
    key_id: str
    algorithm: str
    headers: tuple[str, ...]
    signature: bytes
    created: int | None = None
    expires: int | None = None
    extra: dict[str, str] = field(default_factory=dict)


_PARAM = re.compile(r'\s*([A-Za-z]+)\s*=\s*(?:"([^"]*)"|(\d+))\s*(?:,|$)')


def parse_signature_header(value: str) -> SignatureParams:
    """Parse a `Signature` header (or the part of `Authorization` after `Signature `)."""
    params: dict[str, str] = {}
    pos = 0
    value = value.strip()
    while pos < len(value):
        match = _PARAM.match(value, pos)
        if not match:
            raise SignatureError("malformed", "the Signature header cannot be parsed")
        params[match.group(1)] = match.group(2) if match.group(2) is not None else match.group(3)
        pos = match.end()
    if "keyId" not in params or "signature" not in params:
        raise SignatureError("malformed", "the Signature header lacks keyId or signature")
    try:
        signature = base64.b64decode(params["signature"], validate=True)
    except ValueError:
        raise SignatureError("malformed", "the signature is not base64") from None
    headers = tuple(params.get("headers", "date").lower().split())
    try:
        created = int(params["created"]) if "created" in params else None
        expires = int(params["expires"]) if "expires" in params else None
    except ValueError:
        raise SignatureError("malformed", "created/expires are not integers") from None
    known = {"keyId", "algorithm", "headers", "signature", "created", "expires"}
    return SignatureParams(
        key_id=params["keyId"],
        algorithm=params.get("algorithm", "hs2019").lower(),
        headers=headers,
        signature=signature,
        created=created,
        expires=expires,
        extra={k: v for k, v in params.items() if k not in known},
    )


def signing_string(
    method: str,
    target: str,
    headers: Mapping[str, str],
    covered: tuple[str, ...],
    created: int | None = None,
    expires: int | None = None,
) -> str:
    """The draft's signing string. `headers` is keyed by lower-case name."""
    lines = []
    for name in covered:
        if name == "(request-target)":
            value = f"{method.lower()} {target}"
        elif name == "(created)":
            if created is None:
                raise SignatureError("malformed", "(created) is covered but has no value")
            value = str(created)
        elif name == "(expires)":
            if expires is None:
                raise SignatureError("malformed", "(expires) is covered but has no value")
            value = str(expires)
        else:
            if name not in headers:
                raise SignatureError("missing_header", f"covered header {name!r} is absent")
            value = headers[name].strip()
        lines.append(f"{name}: {value}")
    return "\n".join(lines)


def raw_sign(private: PrivateKey, message: bytes) -> bytes:
    if isinstance(private, ed25519.Ed25519PrivateKey):
        return private.sign(message)
    return private.sign(message, padding.PKCS1v15(), hashes.SHA256())


def verify_signature(params: SignatureParams, message: str, public: PublicKey) -> bool:
    """Cryptographic check of `params.signature` over `message` with `public`."""
    algorithm = params.algorithm
    if algorithm not in ALGORITHMS:
        raise SignatureError("algorithm", f"algorithm {algorithm!r} is not accepted")
    try:
        if isinstance(public, ed25519.Ed25519PublicKey):
            if algorithm == "rsa-sha256":
                raise SignatureError("algorithm", "rsa-sha256 named with an Ed25519 key")
            public.verify(params.signature, message.encode())
        elif isinstance(public, rsa.RSAPublicKey):
            if algorithm == "ed25519":
                raise SignatureError("algorithm", "ed25519 named with an RSA key")
            # hs2019 with an RSA key: PKCS#1 v1.5 / SHA-256, as Mastodon and its peers do.
            public.verify(params.signature, message.encode(), padding.PKCS1v15(), hashes.SHA256())
        else:
            return False
    except InvalidSignature:
        return False
    return True


def body_digest(body: bytes) -> str:
    return "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()


def content_digest(body: bytes) -> str:
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"


def http_date(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def sign_request(
    method: str,
    url: str,
    body: bytes | None,
    key_id: str,
    private: PrivateKey,
    *,
    now: datetime | None = None,
    headers: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Headers to add to a request: Host, Date, Digest (with a body) and Signature."""
    parts = urlsplit(url)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    out = {k.lower(): v for k, v in (headers or {}).items()}
    out["host"] = parts.netloc
    out["date"] = http_date(now or datetime.now(UTC))
    covered = ["(request-target)", "host", "date"]
    if body is not None:
        out["digest"] = body_digest(body)
        covered.append("digest")
    algorithm = "hs2019" if isinstance(private, ed25519.Ed25519PrivateKey) else "rsa-sha256"
    message = signing_string(method, target, out, tuple(covered))
    signature = base64.b64encode(raw_sign(private, message.encode())).decode()
    out["signature"] = (
        f'keyId="{key_id}",algorithm="{algorithm}",'
        f'headers="{" ".join(covered)}",signature="{signature}"'
    )
    return {name.title(): value for name, value in out.items()}


def check_digests(headers: Mapping[str, str], body: bytes) -> None:
    """Every Digest / Content-Digest value we understand must match the body."""
    checked = False
    if "digest" in headers:
        for item in headers["digest"].split(","):
            algo, _, value = item.strip().partition("=")
            if algo.lower() == "sha-256":
                expected = hashlib.sha256(body).digest()
            elif algo.lower() == "sha-512":
                expected = hashlib.sha512(body).digest()
            else:
                continue
            try:
                given = base64.b64decode(value, validate=True)
            except ValueError:
                raise SignatureError("digest_mismatch", "Digest is not base64") from None
            if given != expected:
                raise SignatureError("digest_mismatch", "Digest does not match the body")
            checked = True
    if "content-digest" in headers:
        for item in headers["content-digest"].split(","):
            algo, _, value = item.strip().partition("=")
            if not re.fullmatch(r"[a-z*][a-z0-9_\-.*]*", algo):
                raise SignatureError("malformed", "Content-Digest is not an RFC 8941 dictionary")
            if algo not in {"sha-256", "sha-512"}:
                continue
            if not (value.startswith(":") and value.endswith(":")):
                raise SignatureError("malformed", "Content-Digest value is not a byte sequence")
            digest = hashlib.sha256 if algo == "sha-256" else hashlib.sha512
            try:
                given = base64.b64decode(value[1:-1], validate=True)
            except ValueError:
                raise SignatureError("digest_mismatch", "Content-Digest is not base64") from None
            if given != digest(body).digest():
                raise SignatureError("digest_mismatch", "Content-Digest does not match the body")
            checked = True
    if not checked:
        raise SignatureError("digest_missing", "no SHA-256/512 Digest or Content-Digest")


def check_freshness(moment: datetime, now: datetime) -> None:
    if moment < now - MAX_AGE or moment > now + MAX_FUTURE:
        raise SignatureError("stale_date", "signed request date outside the acceptable window")


def check_expiry(expires: int | None, now: datetime) -> None:
    if expires is not None and expires < (now - EXPIRES_GRACE).timestamp():
        raise SignatureError("stale_date", "the signature has expired")


@dataclass(frozen=True)
class Verified:
    key_id: str
    algorithm: str


# resolve(key_id, refresh) → public key; refresh=True asks for a fresh copy (key rotation).
KeyResolver = Callable[[str, bool], PublicKey]


def verify_request(
    method: str,
    target: str,
    headers: Mapping[str, str],
    body: bytes,
    resolve: KeyResolver,
    *,
    now: datetime | None = None,
) -> Verified:
    """Verify a draft-cavage signed request; raises `SignatureError` with the reason."""
    now = now or datetime.now(UTC)
    headers = {k.lower(): v for k, v in headers.items()}
    if "signature" in headers:
        params = parse_signature_header(headers["signature"])
    elif headers.get("authorization", "").startswith("Signature "):
        params = parse_signature_header(headers["authorization"][len("Signature ") :])
    else:
        raise SignatureError("unsigned", "the request carries no signature")
    covered = set(params.headers)
    if "(request-target)" not in covered or "host" not in covered:
        raise SignatureError("unsigned_header", "(request-target) and host must be signed")
    if "date" in covered:
        try:
            date = parsedate_to_datetime(headers.get("date", ""))
        except (TypeError, ValueError):
            raise SignatureError("bad_date", "the Date header is not an HTTP date") from None
        if date.tzinfo is None:
            raise SignatureError("bad_date", "the Date header has no time zone")
        check_freshness(date, now)
    elif "(created)" in covered and params.created is not None:
        check_freshness(datetime.fromtimestamp(params.created, UTC), now)
    else:
        raise SignatureError("unsigned_header", "neither date nor (created) is signed")
    check_expiry(params.expires, now)
    if body or method.upper() == "POST":
        if "digest" not in covered and "content-digest" not in covered:
            raise SignatureError("unsigned_header", "a request with a body must sign its digest")
        check_digests(headers, body)
    message = signing_string(
        method, target, headers, params.headers, params.created, params.expires
    )
    if verify_signature(params, message, resolve(params.key_id, False)):
        return Verified(params.key_id, params.algorithm)
    # The key may have been rotated since we cached it: fetch it once more and retry.
    if verify_signature(params, message, resolve(params.key_id, True)):
        return Verified(params.key_id, params.algorithm)
    raise SignatureError("bad_signature", "the signature does not verify")
