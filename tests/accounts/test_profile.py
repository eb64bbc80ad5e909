import json

import pytest
from django.conf import settings

from tests.accounts.conftest import DeviceKeys

pytestmark = pytest.mark.django_db


def canonical(data):
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def profile_payload(user_id, **fields):
    data = {
        "user_id": user_id,
        "node": settings.FEDERATION_DOMAIN,
        "updated_at": "2026-11-23T10:00:00Z",
        "display_name": "Alice",
        "avatar": "blob:abc123",
        "bio": "Hi ✨",
        "pronouns": "she/her",
    }
    data.update(fields)
    return canonical(data)


def test_publish_and_verify_signed_profile(alice, bob):
    device = DeviceKeys()
    device_id = (
        alice["client"]
        .post("/api/v1/users/@me/devices", device.payload(1), format="json")
        .json()["id"]
    )
    payload = profile_payload(alice["id"])
    response = alice["client"].put(
        "/api/v1/users/@me/profile",
        {
            "payload": payload,
            "signature": device.sign(payload.encode()),
            "device_id": device_id,
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    fetched = bob["client"].get(f"/api/v1/users/{alice['id']}/profile").json()
    assert fetched["profile"]["bio"] == "Hi ✨" and fetched["payload"] == payload
    # Another node checks the signature with the identity key from the key bundle.
    import base64

    from nacl.signing import VerifyKey

    VerifyKey(base64.b64decode(fetched["identity_key"])).verify(
        fetched["payload"].encode(), base64.b64decode(fetched["signature"])
    )
    assert bob["client"].get("/api/v1/users/@me").json()["username"] == "bob"
    assert alice["client"].get("/api/v1/users/@me").json()["global_name"] == "Alice"


def test_tampered_or_foreign_profile_is_rejected(alice, bob):
    device = DeviceKeys()
    device_id = (
        alice["client"]
        .post("/api/v1/users/@me/devices", device.payload(1), format="json")
        .json()["id"]
    )
    payload = profile_payload(alice["id"])
    tampered = payload.replace("Alice", "Mallory")
    bad = alice["client"].put(
        "/api/v1/users/@me/profile",
        {
            "payload": tampered,
            "signature": device.sign(payload.encode()),
            "device_id": device_id,
        },
        format="json",
    )
    assert bad.status_code == 400 and "signature" in bad.json()["errors"]
    foreign = profile_payload(bob["id"])
    assert (
        alice["client"]
        .put(
            "/api/v1/users/@me/profile",
            {
                "payload": foreign,
                "signature": device.sign(foreign.encode()),
                "device_id": device_id,
            },
            format="json",
        )
        .status_code
        == 400
    )
    spaced = json.dumps(json.loads(payload), sort_keys=True)
    assert (
        alice["client"]
        .put(
            "/api/v1/users/@me/profile",
            {
                "payload": spaced,
                "signature": device.sign(spaced.encode()),
                "device_id": device_id,
            },
            format="json",
        )
        .status_code
        == 400
    )
    assert (
        bob["client"]
        .put(
            "/api/v1/users/@me/profile",
            {
                "payload": payload,
                "signature": device.sign(payload.encode()),
                "device_id": device_id,
            },
            format="json",
        )
        .status_code
        == 404
    )
    unsigned = bob["client"].get(f"/api/v1/users/{alice['id']}/profile").json()
    assert unsigned["signature"] is None and unsigned["profile"]["bio"] == ""
