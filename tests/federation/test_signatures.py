"""Our draft-cavage signer and verifier against the draft's Appendix C vectors, Mastodon's own
signed-request cases, and an independent implementation (PyPI `httpsig`) in both directions."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import httpsig
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from federation.signatures import (
    SignatureError,
    parse_signature_header,
    sign_request,
    signing_string,
    verify_request,
    verify_signature,
)

pytestmark = pytest.mark.mode_independent

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
CAVAGE = json.loads((VECTORS / "http-signatures-cavage/cases.json").read_text())
MASTODON = json.loads((VECTORS / "http-signatures-mastodon/cases.json").read_text())


def _pem(path: Path):
    return serialization.load_pem_private_key(path.read_bytes(), password=None)


def _lower(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


@pytest.mark.parametrize("case", CAVAGE["cases"], ids=lambda c: c["name"])
def test_cavage_appendix_c_signing_string_and_signature(case):
    request = CAVAGE["request"]
    private = _pem(VECTORS / "http-signatures-cavage" / CAVAGE["private_key_file"])
    params = parse_signature_header(case["signature_header"])
    assert params.key_id == "Test" and params.algorithm == "rsa-sha256"
    message = signing_string(
        request["method"], request["path"], _lower(request["headers"]), params.headers
    )
    assert message == case["signing_string"]
    # RSASSA-PKCS1-v1_5 is deterministic: our signer reproduces the draft's bytes.
    from federation.signatures import raw_sign

    assert base64.b64encode(raw_sign(private, message.encode())).decode() == case["signature_b64"]
    assert verify_signature(params, message, private.public_key())
    # ... and the Authorization form parses the same.
    auth = parse_signature_header(case["authorization_header"][len("Signature ") :])
    assert auth.signature == params.signature


def test_cavage_all_headers_passes_request_policy_with_digest():
    request = CAVAGE["request"]
    case = CAVAGE["cases"][2]
    public = _pem(VECTORS / "http-signatures-cavage" / CAVAGE["private_key_file"]).public_key()
    headers = {**request["headers"], "Signature": case["signature_header"]}
    verified = verify_request(
        request["method"],
        request["path"],
        headers,
        request["body"].encode(),
        lambda key_id, refresh: public,
        now=datetime(2014, 1, 5, 21, 31, 40, tzinfo=UTC),
    )
    assert verified.key_id == "Test"


def _mastodon_resolver():
    actor_key = _pem(VECTORS / "http-signatures-mastodon" / "actor-key.pem").public_key()

    def resolve(key_id: str, refresh: bool):
        if key_id == MASTODON["actor"]["keyId"]:
            return actor_key
        raise SignatureError("unknown_key", f"cannot fetch {key_id}")

    return resolve


@pytest.mark.parametrize("case", MASTODON["draft_cavage_cases"], ids=lambda c: c["name"])
def test_mastodon_draft_cases(case):
    now = datetime.fromtimestamp(MASTODON["verifier_time_unix"], UTC)

    def run():
        return verify_request(
            case["method"],
            case["path"],
            case["headers"],
            case["body"].encode(),
            _mastodon_resolver(),
            now=now,
        )

    if case["expect"] == "accept":
        assert run().key_id == MASTODON["actor"]["keyId"]
    else:
        # accept_compat (query dropped by the signer) is refused: we are a strict verifier.
        with pytest.raises(SignatureError):
            run()


def test_mastodon_rejections_name_the_right_reason():
    now = datetime.fromtimestamp(MASTODON["verifier_time_unix"], UTC)
    reasons = {}
    for case in MASTODON["draft_cavage_cases"]:
        try:
            verify_request(
                case["method"],
                case["path"],
                case["headers"],
                case["body"].encode(),
                _mastodon_resolver(),
                now=now,
            )
        except SignatureError as exc:
            reasons[case["name"]] = exc.reason
    assert reasons["unparsable Date header (signature itself is valid)"] == "bad_date"
    assert reasons["request older than a day (signature itself is valid)"] == "stale_date"
    assert reasons["POST whose Digest is not signed (signature itself is valid)"] == (
        "unsigned_header"
    )
    assert reasons["POST with tampered body"] == "digest_mismatch"
    assert reasons["mismatching path"] == "bad_signature"
    assert reasons["unknown key (keyId not resolvable: fetch returns 404)"] == "unknown_key"


def _rsa_pems():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return key, private_pem, public_pem


def test_we_sign_httpsig_verifies():
    key, _private_pem, public_pem = _rsa_pems()
    body = b'{"type": "Follow"}'
    headers = sign_request(
        "POST", "https://b.example/inbox?x=1", body, "https://a.example/actor#main-key", key
    )
    verifier = httpsig.HeaderVerifier(
        headers,
        public_pem,
        required_headers=["(request-target)", "host", "date", "digest"],
        method="POST",
        path="/inbox?x=1",
        host="b.example",
        sign_header="signature",
    )
    assert verifier.verify()


def test_httpsig_signs_we_verify():
    key, private_pem, _public_pem = _rsa_pems()
    body = b'{"type": "Follow"}'
    from federation.signatures import body_digest, http_date

    headers = {
        "Host": "b.example",
        "Date": http_date(datetime.now(UTC)),
        "Digest": body_digest(body),
    }
    signer = httpsig.HeaderSigner(
        "https://a.example/actor#main-key",
        private_pem,
        algorithm="rsa-sha256",
        headers=["(request-target)", "host", "date", "digest"],
        sign_header="signature",
    )
    signed = signer.sign(headers, host="b.example", method="POST", path="/inbox")
    verified = verify_request("POST", "/inbox", signed, body, lambda k, r: key.public_key())
    assert verified.key_id == "https://a.example/actor#main-key"
    # A tampered body fails the digest before the signature is even looked at.
    with pytest.raises(SignatureError) as info:
        verify_request("POST", "/inbox", signed, body + b" ", lambda k, r: key.public_key())
    assert info.value.reason == "digest_mismatch"


def test_ed25519_hs2019_round_trip_and_forgery():
    key = ed25519.Ed25519PrivateKey.generate()
    other = ed25519.Ed25519PrivateKey.generate()
    body = b"{}"
    headers = sign_request("POST", "http://b.example/inbox", body, "k", key)
    assert 'algorithm="hs2019"' in headers["Signature"]
    assert verify_request("POST", "/inbox", headers, body, lambda k, r: key.public_key())
    with pytest.raises(SignatureError) as info:
        verify_request("POST", "/inbox", headers, body, lambda k, r: other.public_key())
    assert info.value.reason == "bad_signature"


def test_rotation_refreshes_the_key_once():
    old, new = ed25519.Ed25519PrivateKey.generate(), ed25519.Ed25519PrivateKey.generate()
    calls = []

    def resolve(key_id, refresh):
        calls.append(refresh)
        return new.public_key() if refresh else old.public_key()

    headers = sign_request("GET", "http://b.example/users/x", None, "k", new)
    verify_request("GET", "/users/x", headers, b"", resolve)
    assert calls == [False, True]


def _valid(cases: list[dict]) -> dict:
    return next(c for c in cases if c["name"] == "valid GET")


@pytest.mark.parametrize(
    ("skew_minutes", "accepted"),
    [
        (0, True),
        (-30, True),  # the peer's clock is 30 minutes fast (issue 29: it was refused)
        (-59, True),
        (-61, False),
        (30, True),  # the request is 30 minutes old (or the peer's clock slow)
        (59, True),
        (61, False),
        (24 * 60, False),  # Mastodon's own "older than a day" case
    ],
)
def test_clock_skew_window_is_mastodons_hour_either_way(skew_minutes, accepted):
    """Mastodon's signed-request cases, verified with our clock moved: `skew_minutes` > 0
    means our clock is ahead of the signer's Date (2023-12-20T10:00:00Z), < 0 behind it."""
    from datetime import timedelta

    from federation import rfc9421

    now = datetime.fromtimestamp(MASTODON["verifier_time_unix"], UTC) + timedelta(
        minutes=skew_minutes
    )
    draft = _valid(MASTODON["draft_cavage_cases"])
    rfc = _valid(MASTODON["rfc9421_cases"])
    runs = [
        lambda: verify_request(
            draft["method"], draft["path"], draft["headers"], b"", _mastodon_resolver(), now=now
        ),
        lambda: rfc9421.verify_request(
            rfc["method"],
            MASTODON["rfc9421_target_uri_prefix"] + rfc["path"],
            rfc["headers"],
            b"",
            _mastodon_resolver(),
            now=now,
        ),
    ]
    for run in runs:
        if accepted:
            assert run().key_id == MASTODON["actor"]["keyId"]
        else:
            with pytest.raises(SignatureError) as info:
                run()
            assert info.value.reason == "stale_date"


def test_an_expired_signature_gets_the_same_hour_of_grace():
    from datetime import timedelta

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    created = int((now - timedelta(minutes=40)).timestamp())

    def signed(expires: int) -> dict[str, str]:
        headers = {"host": "example.com"}
        covered = ("(request-target)", "host", "(created)", "(expires)")
        message = signing_string("get", "/x", headers, covered, created, expires)
        from federation.signatures import raw_sign

        signature = base64.b64encode(raw_sign(key, message.encode())).decode()
        headers["signature"] = (
            f'keyId="k",algorithm="hs2019",created={created},expires={expires},'
            f'headers="{" ".join(covered)}",signature="{signature}"'
        )
        return headers

    resolve = lambda key_id, refresh: key.public_key()  # noqa: E731
    # Expired 35 minutes ago by our clock (its signer's clock is slow): within the grace.
    fine = signed(created + 5 * 60)
    assert verify_request("GET", "/x", fine, b"", resolve, now=now).key_id == "k"
    with pytest.raises(SignatureError) as info:
        verify_request("GET", "/x", fine, b"", resolve, now=now + timedelta(minutes=30))
    assert info.value.reason == "stale_date"
