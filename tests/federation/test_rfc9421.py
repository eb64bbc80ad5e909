"""RFC 9421 message signatures: the RFC's Appendix B examples, Mastodon's RFC 9421 cases, and
interoperability with PyPI `http-message-signatures` in both directions."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import http_message_signatures as hms
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from federation import rfc9421
from federation.signatures import SignatureError

pytestmark = pytest.mark.mode_independent

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
RFC = json.loads((VECTORS / "http-signatures-rfc9421/cases.json").read_text())
MASTODON = json.loads((VECTORS / "http-signatures-mastodon/cases.json").read_text())
SUPPORTED = {"@method", "@target-uri", "@authority", "@scheme", "@path", "@query"}


def _request_cases():
    for case in RFC["cases"]:
        if case["message"] != "request" or case["algorithm"] == "hmac-sha256":
            continue
        parsed = rfc9421.parse_signature_input(case["signature_input_header"])[0]
        if all(c in SUPPORTED or not c.startswith("@") for c in parsed.components):
            if not any(";" in c for c in parsed.components):
                yield case


@pytest.mark.parametrize("case", list(_request_cases()), ids=lambda c: c["rfc_section"])
def test_rfc9421_appendix_b(case):
    request = RFC["request"]
    headers = {k.lower(): v for k, v in request["headers"].items()}
    parsed = rfc9421.parse_signature_input(case["signature_input_header"])[0]
    base = rfc9421.signature_base(request["method"], request["url"], headers, parsed)
    assert base == case["signature_base"]
    key_file = RFC["keys"][case["keyid"]]["public"]
    public = serialization.load_pem_public_key(
        (VECTORS / "http-signatures-rfc9421" / key_file).read_bytes()
    )
    signature = rfc9421.parse_signature(case["signature_header"], parsed.label)
    alg = parsed.params.get("alg") or case["algorithm"]
    assert rfc9421._verify(alg, public, signature, base.encode())


def _mastodon_key(key_id: str, refresh: bool):
    if key_id != MASTODON["actor"]["keyId"]:
        raise SignatureError("unknown_key", key_id)
    pem = (VECTORS / "http-signatures-mastodon/actor-key.pem").read_bytes()
    return serialization.load_pem_private_key(pem, password=None).public_key()


@pytest.mark.parametrize("case", MASTODON["rfc9421_cases"], ids=lambda c: c["name"])
def test_mastodon_rfc9421_cases(case):
    url = MASTODON["rfc9421_target_uri_prefix"] + case["path"]
    now = datetime.fromtimestamp(MASTODON["verifier_time_unix"], UTC)

    def run():
        return rfc9421.verify_request(
            case["method"], url, case["headers"], case["body"].encode(), _mastodon_key, now=now
        )

    if case["expect"] == "accept":
        assert run().key_id == MASTODON["actor"]["keyId"]
    else:
        with pytest.raises(SignatureError):
            run()


class _Keys(hms.HTTPSignatureKeyResolver):
    def __init__(self, private, public):
        self.private, self.public = private, public

    def resolve_private_key(self, key_id):
        return self.private

    def resolve_public_key(self, key_id):
        return self.public


@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
def test_they_sign_we_verify(kind):
    if kind == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        algorithm = hms.algorithms.RSA_V1_5_SHA256
    else:
        key = ed25519.Ed25519PrivateKey.generate()
        algorithm = hms.algorithms.ED25519
    body = b'{"type": "Follow"}'
    request = requests.Request("POST", "https://b.example/inbox", data=body).prepare()
    signer = hms.HTTPMessageSigner(signature_algorithm=algorithm, key_resolver=_Keys(key, None))
    signer.sign(
        request,
        key_id="https://a.example/actor#key",
        created=datetime.now(UTC),
        covered_component_ids=("@method", "@target-uri", "content-digest"),
        body=body,
    )
    verified = rfc9421.verify_request(
        "POST",
        "https://b.example/inbox",
        dict(request.headers),
        body,
        lambda k, r: key.public_key(),
    )
    assert verified.key_id == "https://a.example/actor#key"
    with pytest.raises(SignatureError):
        rfc9421.verify_request(
            "POST",
            "https://b.example/inbox2",
            dict(request.headers),
            body,
            lambda k, r: key.public_key(),
        )


@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
def test_we_sign_they_verify(kind):
    if kind == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        algorithm = hms.algorithms.RSA_V1_5_SHA256
    else:
        key = ed25519.Ed25519PrivateKey.generate()
        algorithm = hms.algorithms.ED25519
    body = b'{"type": "Follow"}'
    headers = rfc9421.sign_request("POST", "https://b.example/inbox", body, "k1", key)
    request = requests.Request(
        "POST", "https://b.example/inbox", data=body, headers=headers
    ).prepare()
    verifier = hms.HTTPMessageVerifier(
        signature_algorithm=algorithm, key_resolver=_Keys(None, key.public_key())
    )
    (result,) = verifier.verify(request, body=body)
    assert result.parameters["keyid"] == "k1"
    assert '"content-digest"' in result.covered_components
