import json
from pathlib import Path

import pytest
from mnemonic import Mnemonic
from nacl.signing import SigningKey

from accounts.models import Device, User
from tests.accounts.conftest import PASSWORD, DeviceKeys, b64, bearer, register

pytestmark = pytest.mark.django_db

BIP39 = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "bip39/vectors.json").read_text()
)["english"]


def challenge(api, username="alice", path="/api/v1/auth/challenge"):
    response = api.post(path, {"username": username}, format="json")
    assert response.status_code == 200
    return response.json()


def answer(
    api, key: SigningKey, ch, username="alice", path="/api/v1/auth/challenge/verify", **extra
):
    signature = b64(key.sign(ch["message"].encode()).signature)
    return api.post(
        path,
        {"username": username, "nonce": ch["nonce"], "signature": signature, **extra},
        format="json",
    )


def test_key_challenge_sign_in(api, alice):
    device = DeviceKeys()
    alice["client"].post("/api/v1/users/@me/devices", device.payload(1), format="json")
    ch = challenge(api)
    assert ch["nonce"] in ch["message"] and "signin" in ch["message"]
    response = answer(api, device.identity, ch)
    assert response.status_code == 200 and response.json()["mfa"] is False
    assert bearer(response.json()).get("/api/v1/users/@me").json()["username"] == "alice"
    # Single use.
    assert answer(api, device.identity, ch).status_code == 401


def test_key_challenge_rejects_wrong_key_and_expired_nonce(api, alice, monkeypatch):
    device = DeviceKeys()
    alice["client"].post("/api/v1/users/@me/devices", device.payload(1), format="json")
    assert answer(api, SigningKey.generate(), challenge(api)).status_code == 401
    ch = challenge(api)
    from datetime import timedelta

    from django.utils import timezone

    later = timezone.now() + timedelta(minutes=3)
    monkeypatch.setattr(timezone, "now", lambda: later)
    assert answer(api, device.identity, ch).status_code == 401


def test_unknown_user_gets_an_indistinguishable_challenge(api, alice):
    ch = challenge(api, "nobody-here")
    assert set(ch) == {"nonce", "expires_at", "message"}
    assert answer(api, SigningKey.generate(), ch, username="nobody-here").status_code == 401


def recovery_key_from_phrase(phrase: str, passphrase: str = "") -> SigningKey:
    """What the client does: BIP39 seed, first 32 bytes as the Ed25519 private key."""
    return SigningKey(Mnemonic.to_seed(phrase, passphrase)[:32])


@pytest.mark.parametrize("vector", BIP39[:4], ids=lambda v: v[1].split()[0])
def test_bip39_seed_derivation_matches_the_vectors(vector):
    entropy, phrase, seed_hex, _ = vector
    mnemo = Mnemonic("english")
    assert mnemo.to_mnemonic(bytes.fromhex(entropy)) == phrase
    assert Mnemonic.to_seed(phrase, "TREZOR").hex() == seed_hex


def test_recovery_resets_password_and_reestablishes_identity(api):
    phrase = BIP39[1][1]
    key = recovery_key_from_phrase(phrase)
    tokens = register(api, "alice", recovery_public_key=b64(bytes(key.verify_key)))
    old_device = DeviceKeys()
    bearer(tokens).post("/api/v1/users/@me/devices", old_device.payload(2), format="json")

    new_device = DeviceKeys()
    ch = challenge(api, path="/api/v1/auth/recovery/challenge")
    assert "recovery" in ch["message"]
    result = answer(
        api,
        key,
        ch,
        path="/api/v1/auth/recovery",
        new_password="a brand new passphrase 7",
        device=new_device.payload(3),
    )
    assert result.status_code == 200, result.json()
    body = result.json()
    # Old sessions and device keys are gone; the new device is the identity now.
    assert bearer(tokens).get("/api/v1/users/@me").status_code == 401
    user = User.objects.get(username="alice")
    active = list(Device.objects.active().filter(user=user))
    assert [str(d.id) for d in active] == [body["device_id"]]
    assert active[0].identity_key == b64(bytes(new_device.identity.verify_key))
    assert user.check_password("a brand new passphrase 7")
    assert bearer(body).get("/api/v1/users/@me").status_code == 200
    # The node stored only the public key.
    assert user.recovery_public_key == b64(bytes(key.verify_key))


def test_recovery_with_a_wrong_phrase_changes_nothing(api):
    key = recovery_key_from_phrase(BIP39[1][1])
    tokens = register(api, "alice", recovery_public_key=b64(bytes(key.verify_key)))
    wrong = recovery_key_from_phrase(BIP39[2][1])
    ch = challenge(api, path="/api/v1/auth/recovery/challenge")
    response = answer(
        api, wrong, ch, path="/api/v1/auth/recovery", new_password="a brand new passphrase 7"
    )
    assert response.status_code == 401
    assert bearer(tokens).get("/api/v1/users/@me").status_code == 200
    assert User.objects.get(username="alice").check_password(PASSWORD)


def test_recovery_key_can_be_set_later(api, alice):
    key = recovery_key_from_phrase(BIP39[3][1])
    bad = alice["client"].put(
        "/api/v1/users/@me/recovery-key",
        {"public_key": b64(bytes(key.verify_key)), "password": "nope"},
        format="json",
    )
    assert bad.status_code == 400
    ok = alice["client"].put(
        "/api/v1/users/@me/recovery-key",
        {"public_key": b64(bytes(key.verify_key)), "password": PASSWORD},
        format="json",
    )
    assert ok.status_code == 204
    ch = challenge(api, path="/api/v1/auth/recovery/challenge")
    response = answer(api, key, ch, path="/api/v1/auth/recovery", new_password="short")
    assert response.status_code == 400  # weak password refused, challenge spent
