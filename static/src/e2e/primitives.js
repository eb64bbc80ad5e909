// The only primitives the protocol uses: libsodium-wrappers (X25519, Ed25519, the Ed25519 →
// X25519 conversion, XChaCha20-Poly1305-IETF, secretstream) and WebCrypto (HKDF-SHA256,
// HMAC-SHA256, SHA-512). Nothing here implements a primitive itself. Mirrors
// united_client/e2e/primitives.py.
import _sodium from "libsodium-wrappers";

export let sodium = null;

export async function ready() {
  await _sodium.ready;
  sodium = _sodium;
  return sodium;
}

const subtle = globalThis.crypto.subtle;
export const enc = new TextEncoder();
export const dec = new TextDecoder();

export function b64(bytes) {
  return sodium.to_base64(bytes, sodium.base64_variants.ORIGINAL);
}

export function unb64(text, size) {
  if (typeof text !== "string") throw new Error("expected base64 text");
  const raw = sodium.from_base64(text, sodium.base64_variants.ORIGINAL);
  if (size !== undefined && raw.length !== size) throw new Error(`expected ${size} bytes`);
  return raw;
}

export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let i = 0;
  for (const p of parts) {
    out.set(p, i);
    i += p.length;
  }
  return out;
}

export function equal(a, b) {
  return a && b && a.length === b.length && sodium.memcmp(a, b);
}

export function x25519Keypair() {
  const priv = sodium.randombytes_buf(32);
  return [priv, sodium.crypto_scalarmult_base(priv)];
}

export const x25519Public = (priv) => sodium.crypto_scalarmult_base(priv);
export const x25519 = (priv, pub) => sodium.crypto_scalarmult(priv, pub);

export function ed25519Keypair(seed) {
  const kp = sodium.crypto_sign_seed_keypair(seed || sodium.randombytes_buf(32));
  return [kp.privateKey.slice(0, 32), kp.publicKey];
}

export function ed25519Sign(seed, message) {
  const kp = sodium.crypto_sign_seed_keypair(seed);
  return sodium.crypto_sign_detached(message, kp.privateKey);
}

export function ed25519Verify(pub, message, signature) {
  try {
    return sodium.crypto_sign_verify_detached(signature, message, pub);
  } catch {
    return false;
  }
}

export const ed25519PkToX25519 = (pub) => sodium.crypto_sign_ed25519_pk_to_curve25519(pub);

export function ed25519SeedToX25519(seed) {
  const kp = sodium.crypto_sign_seed_keypair(seed);
  return sodium.crypto_sign_ed25519_sk_to_curve25519(kp.privateKey);
}

export async function hkdf(ikm, salt, info, length) {
  const key = await subtle.importKey("raw", ikm, "HKDF", false, ["deriveBits"]);
  const bits = await subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt, info }, key, length * 8);
  return new Uint8Array(bits);
}

export async function hmacSha256(key, data) {
  const k = await subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await subtle.sign("HMAC", k, data));
}

export async function sha512(data) {
  return new Uint8Array(await subtle.digest("SHA-512", data));
}

export const aeadEncrypt = (key, nonce, plaintext, ad) =>
  sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, ad, null, nonce, key);

export const aeadDecrypt = (key, nonce, ciphertext, ad) =>
  sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, ciphertext, ad, nonce, key);
