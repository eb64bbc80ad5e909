import threading
from collections import Counter

import pytest
from django.db import close_old_connections, connection

from accounts.models import OneTimePrekey
from accounts.services import keys, tokens
from tests.accounts.conftest import DeviceKeys, b64, bearer


def upload(client, device: DeviceKeys, count=5, **kw):
    return client.post("/api/v1/users/@me/devices", device.payload(count, **kw), format="json")


@pytest.mark.django_db
def test_upload_and_fetch_bundle(alice, bob):
    device = DeviceKeys()
    response = upload(alice["client"], device, 3)
    assert response.status_code == 201
    device_id = response.json()["id"]
    assert response.json()["one_time_prekeys"] == 3

    bundle = bob["client"].get(f"/api/v1/users/{alice['id']}/keys")
    assert bundle.status_code == 200
    body = bundle.json()
    assert body["user_id"] == alice["id"]
    [entry] = body["devices"]
    assert entry["device_id"] == device_id
    assert entry["identity_key"] == b64(bytes(device.identity.verify_key))
    assert entry["signed_prekey"]["public_key"] == b64(bytes(device.signed_prekey.public_key))
    # The signature verifies with the identity key, as a peer would check it.
    import base64

    from nacl.signing import VerifyKey

    VerifyKey(base64.b64decode(entry["identity_key"])).verify(
        base64.b64decode(entry["signed_prekey"]["public_key"]),
        base64.b64decode(entry["signed_prekey"]["signature"]),
    )
    seen = [entry["one_time_prekey"]["key_id"]]
    for _ in range(2):
        seen.append(
            bob["client"]
            .get(f"/api/v1/users/{alice['id']}/keys")
            .json()["devices"][0]["one_time_prekey"]["key_id"]
        )
    assert sorted(seen) == [1, 2, 3]
    empty = bob["client"].get(f"/api/v1/users/{alice['id']}/keys").json()["devices"][0]
    assert empty["one_time_prekey"] is None and empty["signed_prekey"]["key_id"] == 1


@pytest.mark.django_db
def test_tampered_signature_is_rejected(alice):
    device = DeviceKeys()
    payload = device.payload(2)
    sig = bytearray(__import__("base64").b64decode(payload["signed_prekey"]["signature"]))
    sig[0] ^= 1
    payload["signed_prekey"]["signature"] = b64(bytes(sig))
    response = alice["client"].post("/api/v1/users/@me/devices", payload, format="json")
    assert response.status_code == 400
    assert "signed_prekey.signature" in response.json()["errors"]
    # A valid signature by another key does not pass either.
    other = DeviceKeys()
    payload = device.payload(2)
    spk = __import__("base64").b64decode(payload["signed_prekey"]["public_key"])
    payload["signed_prekey"]["signature"] = other.sign(spk)
    assert (
        alice["client"].post("/api/v1/users/@me/devices", payload, format="json").status_code == 400
    )
    assert not alice["client"].get("/api/v1/users/@me/devices").json()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "field,value",
    [
        ("identity_key", "not base64!"),
        ("identity_key", b64(b"short")),
        ("one_time_prekeys", [{"key_id": 1, "public_key": "x"}]),
        ("one_time_prekeys", [{"key_id": -1, "public_key": b64(bytes(32))}]),
    ],
)
def test_malformed_key_material(alice, field, value):
    payload = DeviceKeys().payload(1)
    payload[field] = value
    response = alice["client"].post("/api/v1/users/@me/devices", payload, format="json")
    assert response.status_code == 400


@pytest.mark.django_db
def test_upload_more_prekeys_and_low_prekey_warning(alice, bob, monkeypatch):
    sent = []
    monkeypatch.setattr("united.events.broadcast", lambda group, t, d: sent.append((group, t, d)))
    device = DeviceKeys()
    device_id = upload(alice["client"], device, 11).json()["id"]
    bob["client"].get(f"/api/v1/users/{alice['id']}/keys")
    assert not [e for e in sent if e[1] == "PREKEYS_LOW"]
    bob["client"].get(f"/api/v1/users/{alice['id']}/keys")
    low = [e for e in sent if e[1] == "PREKEYS_LOW"]
    assert low == [(f"user.{alice['id']}", "PREKEYS_LOW", {"device_id": device_id, "remaining": 9})]
    more = DeviceKeys().payload(5, start=100)["one_time_prekeys"]
    response = alice["client"].post(
        f"/api/v1/users/@me/devices/{device_id}/prekeys", {"one_time_prekeys": more}, format="json"
    )
    assert response.status_code == 200 and response.json() == {"one_time_prekeys": 14}
    dup = alice["client"].post(
        f"/api/v1/users/@me/devices/{device_id}/prekeys",
        {"one_time_prekeys": more[:1]},
        format="json",
    )
    assert dup.status_code == 400
    other = bob["client"].post(
        f"/api/v1/users/@me/devices/{device_id}/prekeys", {"one_time_prekeys": []}, format="json"
    )
    assert other.status_code == 404


@pytest.mark.django_db
def test_revoked_device_is_not_handed_out(alice, bob):
    device_id = upload(alice["client"], DeviceKeys(), 2).json()["id"]
    assert alice["client"].delete(f"/api/v1/users/@me/devices/{device_id}").status_code == 204
    assert bob["client"].get(f"/api/v1/users/{alice['id']}/keys").json()["devices"] == []
    assert bob["client"].get("/api/v1/users/123/keys").status_code == 404
    assert bob["client"].get("/api/v1/users/abc/keys").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_one_time_prekey_is_consumed_exactly_once_under_concurrency(make_user, request):
    owner = make_user("alice")
    fetchers = [make_user(f"fetcher{i}") for i in range(8)]
    device = DeviceKeys()
    keys.check_register_device(owner, device.payload(5))
    tokens_by_user = {u.pk: tokens.do_start_api_session(u, None)["access_token"] for u in fetchers}
    request.getfixturevalue("concurrent_db")
    barrier = threading.Barrier(len(fetchers) * 2)
    got: list = []
    errors: list = []

    def fetch(user):
        client = bearer({"access_token": tokens_by_user[user.pk]})
        try:
            barrier.wait(timeout=30)
            response = client.get(f"/api/v1/users/{owner.pk}/keys")
            assert response.status_code == 200, response.content
            got.append(response.json()["devices"][0]["one_time_prekey"])
        except Exception as exc:  # collected and asserted on the main thread
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=fetch, args=(u,)) for u in fetchers * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    handed = [p["key_id"] for p in got if p is not None]
    assert len(got) == 16
    assert sorted(handed) == [1, 2, 3, 4, 5]  # each of the 5 exactly once
    assert Counter(handed).most_common(1)[0][1] == 1
    assert got.count(None) == 11
    assert not OneTimePrekey.objects.exists()
