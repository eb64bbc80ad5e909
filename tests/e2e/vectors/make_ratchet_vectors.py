"""Writes ratchet.json: fixed inputs and the outputs of every KDF step of the protocol.

Run once (`python tests/e2e/vectors/make_ratchet_vectors.py`) and commit the file; both the
Python library (tests/e2e/test_vectors.py) and the browser module (tests/e2e/js/vectors.test.mjs)
check their outputs against it, so neither can drift from the other or from docs/e2e.md.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from united_client.e2e import primitives as c  # noqa: E402
from united_client.e2e import ratchet, safety, x3dh  # noqa: E402
from united_client.e2e.device import context  # noqa: E402


def h(label: str, n: int = 32) -> bytes:
    """A fixed pseudo-random input named by `label`."""
    return hashlib.sha256(label.encode()).digest()[:n]


def build() -> dict:
    out: dict = {"description": "UNITED E2E v1 key-derivation vectors; see docs/e2e.md"}
    # X3DH with and without a one-time prekey.
    cases = []
    for with_opk in (True, False):
        alice_seed, bob_seed = h("alice identity"), h("bob identity")
        _, alice_pub = c.ed25519_keypair(alice_seed)
        _, bob_pub = c.ed25519_keypair(bob_seed)
        spk_priv, opk_priv, ek_priv = h("bob spk"), h("bob opk"), h("alice ek")
        spk = c.x25519_public(spk_priv)
        bundle = x3dh.Bundle(
            "2",
            "20",
            bob_pub,
            1,
            spk,
            c.ed25519_sign(bob_seed, spk),
            7 if with_opk else None,
            c.x25519_public(opk_priv) if with_opk else None,
        )
        sk, ek, ad = x3dh.initiate(alice_seed, alice_pub, bundle, ek_priv)
        sk_b, ad_b = x3dh.respond(
            bob_seed, bob_pub, spk_priv, opk_priv if with_opk else None, alice_pub, ek
        )
        assert (sk, ad) == (sk_b, ad_b)
        cases.append(
            {
                "alice_identity_seed": alice_seed.hex(),
                "alice_identity_key": alice_pub.hex(),
                "alice_identity_x25519": c.ed25519_pk_to_x25519(alice_pub).hex(),
                "bob_identity_seed": bob_seed.hex(),
                "bob_identity_key": bob_pub.hex(),
                "bob_spk_private": spk_priv.hex(),
                "bob_spk_signature": bundle.spk_signature.hex(),
                "bob_opk_private": opk_priv.hex() if with_opk else None,
                "alice_ek_private": ek_priv.hex(),
                "alice_ek_public": ek.hex(),
                "sk": sk.hex(),
                "ad": ad.hex(),
            }
        )
    out["x3dh"] = cases
    out["kdf_rk"] = []
    for i in range(3):
        rk, a_priv, b_priv = h(f"rk {i}"), h(f"dh a {i}"), h(f"dh b {i}")
        dh_out = c.x25519(a_priv, c.x25519_public(b_priv))
        new_rk, ck = ratchet.kdf_rk(rk, dh_out)
        out["kdf_rk"].append(
            {
                "rk": rk.hex(),
                "dh_private": a_priv.hex(),
                "dh_public": c.x25519_public(b_priv).hex(),
                "dh_out": dh_out.hex(),
                "new_rk": new_rk.hex(),
                "ck": ck.hex(),
            }
        )
    ck = h("chain key")
    chain = []
    for _ in range(5):
        next_ck, mk = ratchet.kdf_ck(ck)
        key, nonce = ratchet.message_key_material(mk)
        chain.append(
            {"mk": mk.hex(), "next_ck": next_ck.hex(), "key": key.hex(), "nonce": nonce.hex()}
        )
        ck = next_ck
    out["kdf_ck"] = {"ck": h("chain key").hex(), "steps": chain}
    header = ratchet.Header(h("header dh"), 3, 258)
    ctx = context("123456789", ("1", "10"), ("2", "20"))
    ad = h("x3dh ad", 32) + h("x3dh ad 2", 32) + ctx
    plaintext = json.dumps({"type": "message", "id": "m1", "content": "héllo ✓"}).encode()
    mk = h("message key")
    out["message"] = {
        "mk": mk.hex(),
        "header": header.to_json(),
        "header_encoded": header.encode().hex(),
        "context": {
            "channel_id": "123456789",
            "sender": ["1", "10"],
            "recipient": ["2", "20"],
            "bytes": ctx.hex(),
        },
        "ad": ad.hex(),
        "plaintext": plaintext.hex(),
        "ciphertext": ratchet.encrypt(mk, plaintext, ad + header.encode()).hex(),
    }
    ka, kb = h("account a") + h("account a2"), h("account b")
    out["safety_number"] = {
        "key_a": ka.hex(),
        "user_a": "111",
        "key_b": kb.hex(),
        "user_b": "222",
        "number": safety.safety_number(ka, "111", kb, "222"),
    }
    return out


PATH = Path(__file__).with_name("ratchet.json")

if __name__ == "__main__":
    PATH.write_text(json.dumps(build(), indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {PATH}")
