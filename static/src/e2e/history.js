// The encrypted history backup's format (docs/e2e.md, "History backup"). A new device cannot
// open the envelopes sent before it existed (each copy is for one device), so a device that
// holds the history key keeps its decrypted conversations on the node, sealed:
// - history key = HKDF-SHA256(ikm = BIP39 seed[32:64], salt = 32 zero bytes,
//   info = "UNITED_E2E_history_v1", 32), from the recovery phrase like the key backup's;
// - a chunk holds at most CHUNK_ROWS rows of one conversation as this device knows them:
//   {"v": 1, "device_id", "channel_id", "index", "rows": [...]}, sealed with
//   XChaCha20-Poly1305 under a random nonce, AD "UNITED_E2E_history_v1\n" + user id + "\n" + name;
// - its name is base64url(HMAC-SHA256(history key, "UNITED_E2E_history_name_v1\n" + device id
//   + "\n" + channel id + "\n" + index))[:32]: stable, so an update replaces the chunk, and
//   meaningless to the node (no conversation id, no device id).
import * as c from "./primitives.js";
import { E2EError } from "./errors.js";

const INFO = "UNITED_E2E_history_v1";
export const CHUNK_ROWS = 100;

export async function historyKey(seedHalf) {
  return c.hkdf(seedHalf, new Uint8Array(32), c.enc.encode(INFO), 32);
}

export async function chunkName(key, deviceId, channelId, index) {
  const mac = await c.hmacSha256(key, c.enc.encode(`UNITED_E2E_history_name_v1\n${deviceId}\n${channelId}\n${index}`));
  return c.sodium.to_base64(mac, c.sodium.base64_variants.URLSAFE_NO_PADDING).slice(0, 32);
}

const adFor = (userId, name) => c.enc.encode(`${INFO}\n${userId}\n${name}`);

export function sealChunk(key, userId, name, body) {
  const nonce = c.sodium.randombytes_buf(24);
  const ciphertext = c.aeadEncrypt(key, nonce, c.enc.encode(JSON.stringify(body)), adFor(userId, name));
  return { v: 1, nonce: c.b64(nonce), ciphertext: c.b64(ciphertext) };
}

// The chunk's body, or an E2EError: a chunk the node altered, moved to another name or
// another account does not open.
export function openChunk(key, userId, chunk) {
  try {
    const plain = c.aeadDecrypt(key, c.unb64(chunk.nonce, 24), c.unb64(chunk.ciphertext), adFor(userId, chunk.name));
    const body = JSON.parse(c.dec.decode(plain));
    if (body.v !== 1 || !Array.isArray(body.rows)) throw new Error();
    return body;
  } catch {
    throw new E2EError("A history backup chunk does not open with this phrase.", "tampered");
  }
}
