// The browser module under Node: published vectors through the wrappers and the fixed KDF
// vector file the Python library checks too. Run by tests/e2e/test_node.py (node --test).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import * as c from "../../../static/src/e2e/primitives.js";
import * as ratchet from "../../../static/src/e2e/ratchet.js";
import * as x3dh from "../../../static/src/e2e/x3dh.js";
import { context } from "../../../static/src/e2e/device.js";
import { safetyNumber } from "../../../static/src/e2e/safety.js";

await c.ready();
const dir = new URL("../vectors/", import.meta.url);
const published = JSON.parse(readFileSync(new URL("published.json", dir)));
const fixed = JSON.parse(readFileSync(new URL("ratchet.json", dir)));
const u = (h) => c.sodium.from_hex(h);
const hex = (b) => c.sodium.to_hex(b);

test("RFC 7748 X25519", () => {
  for (const t of published.x25519) assert.equal(hex(c.x25519(u(t.scalar), u(t.u))), t.out);
  for (const t of published.x25519_public) assert.equal(hex(c.x25519Public(u(t.private))), t.public);
});

test("RFC 8032 Ed25519", () => {
  for (const t of published.ed25519) {
    const [seed, pub] = c.ed25519Keypair(u(t.seed));
    assert.equal(hex(pub), t.public);
    assert.equal(hex(c.ed25519Sign(seed, u(t.message))), t.signature);
    assert.ok(c.ed25519Verify(pub, u(t.message), u(t.signature)));
    assert.ok(!c.ed25519Verify(pub, c.concat(u(t.message), Uint8Array.of(1)), u(t.signature)));
  }
});

test("draft-irtf-cfrg-xchacha-03 A.3.1 XChaCha20-Poly1305", () => {
  for (const t of published.xchacha20poly1305) {
    const sealed = c.aeadEncrypt(u(t.key), u(t.nonce), u(t.plaintext), u(t.aad));
    assert.equal(hex(sealed), t.ciphertext + t.tag);
    assert.equal(hex(c.aeadDecrypt(u(t.key), u(t.nonce), sealed, u(t.aad))), t.plaintext);
  }
});

test("X3DH vectors", async () => {
  for (const t of fixed.x3dh) {
    const opk = t.bob_opk_private ? u(t.bob_opk_private) : null;
    const [sk, ad] = await x3dh.respond(u(t.bob_identity_seed), u(t.bob_identity_key), u(t.bob_spk_private), opk, u(t.alice_identity_key), u(t.alice_ek_public));
    assert.equal(hex(sk), t.sk);
    assert.equal(hex(ad), t.ad);
    const bundle = {
      userId: "2", deviceId: "20", identityKey: u(t.bob_identity_key), spkId: 1, spk: c.x25519Public(u(t.bob_spk_private)),
      spkSignature: u(t.bob_spk_signature), opkId: opk ? 7 : null, opk: opk ? c.x25519Public(opk) : null,
    };
    const [sk2, ek, ad2] = await x3dh.initiate(u(t.alice_identity_seed), u(t.alice_identity_key), bundle, u(t.alice_ek_private));
    assert.deepEqual([hex(sk2), hex(ek), hex(ad2)], [t.sk, t.alice_ek_public, t.ad]);
    assert.equal(hex(c.ed25519PkToX25519(u(t.alice_identity_key))), t.alice_identity_x25519);
  }
});

test("ratchet KDF vectors", async () => {
  for (const t of fixed.kdf_rk) {
    assert.equal(hex(c.x25519(u(t.dh_private), u(t.dh_public))), t.dh_out);
    const [rk, ck] = await ratchet.kdfRk(u(t.rk), u(t.dh_out));
    assert.deepEqual([hex(rk), hex(ck)], [t.new_rk, t.ck]);
  }
  let ck = u(fixed.kdf_ck.ck);
  for (const step of fixed.kdf_ck.steps) {
    let mk;
    [ck, mk] = await ratchet.kdfCk(ck);
    const [key, nonce] = await ratchet.messageKeyMaterial(mk);
    assert.deepEqual([hex(mk), hex(ck), hex(key), hex(nonce)], [step.mk, step.next_ck, step.key, step.nonce]);
  }
});

test("message vector: header, associated data, ciphertext", async () => {
  const m = fixed.message;
  const header = ratchet.headerFromJson(m.header);
  assert.equal(hex(ratchet.encodeHeader(header)), m.header_encoded);
  assert.equal(hex(context(m.context.channel_id, m.context.sender, m.context.recipient)), m.context.bytes);
  const ad = c.concat(u(m.ad), ratchet.encodeHeader(header));
  assert.equal(hex(await ratchet.encrypt(u(m.mk), u(m.plaintext), ad)), m.ciphertext);
  assert.equal(hex(await ratchet.decrypt(u(m.mk), u(m.ciphertext), ad)), m.plaintext);
  const bad = u(m.ciphertext);
  bad[0] ^= 1;
  await assert.rejects(ratchet.decrypt(u(m.mk), bad, ad), (e) => e.reason === "tampered");
});

test("safety number vector", async () => {
  const t = fixed.safety_number;
  assert.equal(await safetyNumber(u(t.key_a), t.user_a, u(t.key_b), t.user_b), t.number);
});
