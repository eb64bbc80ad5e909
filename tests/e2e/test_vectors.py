"""Published vectors through our wrappers, and the fixed KDF vector file (ratchet.json)."""

import json
from pathlib import Path

import pytest

from tests.e2e.vectors import make_ratchet_vectors
from united_client.e2e import primitives as c
from united_client.e2e import ratchet, safety, x3dh
from united_client.e2e.device import context

VECTORS = Path(__file__).parent / "vectors"
PUBLISHED = json.loads((VECTORS / "published.json").read_text())
FIXED = json.loads((VECTORS / "ratchet.json").read_text())
u = bytes.fromhex


@pytest.mark.parametrize("t", PUBLISHED["x25519"])
def test_rfc7748_x25519(t):
    assert c.x25519(u(t["scalar"]), u(t["u"])).hex() == t["out"]


@pytest.mark.parametrize("t", PUBLISHED["x25519_public"])
def test_rfc7748_x25519_public_keys(t):
    assert c.x25519_public(u(t["private"])).hex() == t["public"]


@pytest.mark.parametrize("t", PUBLISHED["ed25519"])
def test_rfc8032_ed25519(t):
    seed, public = c.ed25519_keypair(u(t["seed"]))
    assert public.hex() == t["public"]
    assert c.ed25519_sign(seed, u(t["message"])).hex() == t["signature"]
    assert c.ed25519_verify(public, u(t["message"]), u(t["signature"]))
    assert not c.ed25519_verify(public, u(t["message"]) + b"x", u(t["signature"]))


@pytest.mark.parametrize("t", PUBLISHED["xchacha20poly1305"])
def test_xchacha20poly1305_draft_vector(t):
    sealed = c.aead_encrypt(u(t["key"]), u(t["nonce"]), u(t["plaintext"]), u(t["aad"]))
    assert sealed.hex() == t["ciphertext"] + t["tag"]
    assert c.aead_decrypt(u(t["key"]), u(t["nonce"]), sealed, u(t["aad"])).hex() == t["plaintext"]


def test_vector_file_is_what_the_generator_writes():
    assert make_ratchet_vectors.build()["x3dh"] == FIXED["x3dh"]
    fresh = make_ratchet_vectors.build()
    for key in ("kdf_rk", "kdf_ck", "message", "safety_number"):
        assert fresh[key] == FIXED[key], key


@pytest.mark.parametrize("t", FIXED["x3dh"])
def test_x3dh_vectors(t):
    opk = u(t["bob_opk_private"]) if t["bob_opk_private"] else None
    sk, ad = x3dh.respond(
        u(t["bob_identity_seed"]),
        u(t["bob_identity_key"]),
        u(t["bob_spk_private"]),
        opk,
        u(t["alice_identity_key"]),
        u(t["alice_ek_public"]),
    )
    assert (sk.hex(), ad.hex()) == (t["sk"], t["ad"])
    assert c.ed25519_pk_to_x25519(u(t["alice_identity_key"])).hex() == t["alice_identity_x25519"]


def test_ratchet_kdf_vectors():
    for t in FIXED["kdf_rk"]:
        assert c.x25519(u(t["dh_private"]), u(t["dh_public"])).hex() == t["dh_out"]
        rk, ck = ratchet.kdf_rk(u(t["rk"]), u(t["dh_out"]))
        assert (rk.hex(), ck.hex()) == (t["new_rk"], t["ck"])
    ck = u(FIXED["kdf_ck"]["ck"])
    for step in FIXED["kdf_ck"]["steps"]:
        ck, mk = ratchet.kdf_ck(ck)
        key, nonce = ratchet.message_key_material(mk)
        assert [mk.hex(), ck.hex(), key.hex(), nonce.hex()] == [
            step["mk"],
            step["next_ck"],
            step["key"],
            step["nonce"],
        ]


def test_message_vector():
    m = FIXED["message"]
    header = ratchet.Header.from_json(m["header"])
    assert header.encode().hex() == m["header_encoded"]
    ctx = m["context"]
    assert (
        context(ctx["channel_id"], tuple(ctx["sender"]), tuple(ctx["recipient"])).hex()
        == ctx["bytes"]
    )
    ad = u(m["ad"]) + header.encode()
    assert ratchet.encrypt(u(m["mk"]), u(m["plaintext"]), ad).hex() == m["ciphertext"]
    assert ratchet.decrypt(u(m["mk"]), u(m["ciphertext"]), ad).hex() == m["plaintext"]


def test_safety_number_vector():
    t = FIXED["safety_number"]
    number = safety.safety_number(u(t["key_a"]), t["user_a"], u(t["key_b"]), t["user_b"])
    assert number == t["number"] and len(number) == 60 and number.isdigit()
    assert safety.safety_number(u(t["key_b"]), t["user_b"], u(t["key_a"]), t["user_a"]) == number
