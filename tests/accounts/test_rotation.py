from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import tasks
from accounts.services import rotation
from tests.accounts.conftest import PASSWORD, DeviceKeys, b64, bearer

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch):
    events = []
    monkeypatch.setattr("united.events.broadcast", lambda g, t, d: events.append((g, t, d)))
    return events


def rotation_request(new: DeviceKeys):
    spk = bytes(new.signed_prekey.public_key)
    return {
        "identity_key": b64(bytes(new.identity.verify_key)),
        "signed_prekey": {"key_id": 2, "public_key": b64(spk), "signature": new.sign(spk)},
    }


def setup(api, alice, bob):
    device = DeviceKeys()
    device_id = (
        alice["client"]
        .post("/api/v1/users/@me/devices", device.payload(3), format="json")
        .json()["id"]
    )
    bob["client"].get(f"/api/v1/users/{alice['id']}/keys")  # bob becomes a key contact
    other = api.post(
        "/api/v1/auth/login", {"username": "alice", "password": PASSWORD}, format="json"
    ).json()
    return device, device_id, bearer(other)


def test_rotation_waits_72_hours_then_notifies_contacts(api, alice, bob, sent, monkeypatch):
    device, device_id, _ = setup(api, alice, bob)
    new = DeviceKeys()
    response = alice["client"].post(
        f"/api/v1/users/@me/devices/{device_id}/rotation", rotation_request(new), format="json"
    )
    assert response.status_code == 202
    assert any(t == "IDENTITY_KEY_ROTATION_PENDING" for _, t, _ in sent)
    assert tasks.apply_key_rotations() is None and rotation.apply_due_rotations() == 0
    keys_now = bob["client"].get(f"/api/v1/users/{alice['id']}/keys").json()["devices"][0]
    assert keys_now["identity_key"] == b64(bytes(device.identity.verify_key))

    later = timezone.now() + timedelta(hours=72, minutes=1)
    monkeypatch.setattr(timezone, "now", lambda: later)
    tasks.apply_key_rotations()
    changed = [(g, d) for g, t, d in sent if t == "SAFETY_NUMBER_CHANGED"]
    assert {g for g, _ in changed} == {f"user.{alice['id']}", f"user.{bob['id']}"}
    assert changed[0][1]["identity_key"] == b64(bytes(new.identity.verify_key))
    bob_now = bearer(
        api.post(
            "/api/v1/auth/login", {"username": "bob", "password": PASSWORD}, format="json"
        ).json()
    )  # 72 hours on, a fresh access token
    after = bob_now.get(f"/api/v1/users/{alice['id']}/keys").json()["devices"][0]
    assert after["identity_key"] == b64(bytes(new.identity.verify_key))
    assert after["signed_prekey"]["key_id"] == 2
    assert after["one_time_prekey"] is None  # old prekeys belonged to the old identity
    assert rotation.apply_due_rotations() == 0  # applied once


def test_rotation_can_be_cancelled_from_another_session(api, alice, bob, sent, monkeypatch):
    _, device_id, other = setup(api, alice, bob)
    rid = (
        alice["client"]
        .post(
            f"/api/v1/users/@me/devices/{device_id}/rotation",
            rotation_request(DeviceKeys()),
            format="json",
        )
        .json()["id"]
    )
    pending = other.get("/api/v1/users/@me/key-rotations").json()
    assert [r["id"] for r in pending] == [rid]
    assert bob["client"].delete(f"/api/v1/users/@me/key-rotations/{rid}").status_code == 404
    assert other.delete(f"/api/v1/users/@me/key-rotations/{rid}").status_code == 204
    later = timezone.now() + timedelta(hours=73)
    monkeypatch.setattr(timezone, "now", lambda: later)
    assert rotation.apply_due_rotations() == 0
    assert not [t for _, t, _ in sent if t == "SAFETY_NUMBER_CHANGED"]


def test_rotation_needs_a_valid_signature_by_the_new_key(api, alice, bob):
    _, device_id, _ = setup(api, alice, bob)
    body = rotation_request(DeviceKeys())
    body["signed_prekey"]["signature"] = DeviceKeys().sign(b"something else")
    response = alice["client"].post(
        f"/api/v1/users/@me/devices/{device_id}/rotation", body, format="json"
    )
    assert response.status_code == 400
