// Encrypted attachments with libsodium's secretstream, as united_client/e2e/files.py:
// 64 KiB chunks, TAG_FINAL on the last, SHA-256 of the blob and the key go in the message.
import * as c from "./primitives.js";
import { DecryptError } from "./errors.js";

export const CHUNK = 64 * 1024;

async function sha256Hex(bytes) {
  return c.sodium.to_hex(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)));
}

export async function encryptFile(data, key = null) {
  const s = c.sodium;
  key = key || s.crypto_secretstream_xchacha20poly1305_keygen();
  const { state, header } = s.crypto_secretstream_xchacha20poly1305_init_push(key);
  const parts = [header];
  const count = Math.max(1, Math.ceil(data.length / CHUNK));
  for (let n = 0; n < count; n++) {
    const tag = n === count - 1 ? s.crypto_secretstream_xchacha20poly1305_TAG_FINAL : s.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
    parts.push(s.crypto_secretstream_xchacha20poly1305_push(state, data.subarray(n * CHUNK, (n + 1) * CHUNK), null, tag));
  }
  const blob = c.concat(...parts);
  return [blob, { key: c.b64(key), sha256: await sha256Hex(blob), size: data.length, chunk: CHUNK }];
}

export async function decryptFile(blob, descriptor) {
  const s = c.sodium;
  if ((await sha256Hex(blob)) !== descriptor.sha256) throw new DecryptError("The file does not match the hash in the message.", "tampered");
  const chunk = descriptor.chunk || CHUNK;
  const abytes = s.crypto_secretstream_xchacha20poly1305_ABYTES;
  const hbytes = s.crypto_secretstream_xchacha20poly1305_HEADERBYTES;
  const out = [];
  let done = false;
  try {
    const state = s.crypto_secretstream_xchacha20poly1305_init_pull(blob.subarray(0, hbytes), c.unb64(descriptor.key, 32));
    for (let pos = hbytes; pos < blob.length; ) {
      if (done) throw new DecryptError("Data after the final chunk.", "tampered");
      const piece = blob.subarray(pos, pos + chunk + abytes);
      pos += piece.length;
      const r = s.crypto_secretstream_xchacha20poly1305_pull(state, piece, null);
      if (!r) throw new Error("bad chunk");
      out.push(r.message);
      done = r.tag === s.crypto_secretstream_xchacha20poly1305_TAG_FINAL;
    }
  } catch (e) {
    if (e instanceof DecryptError) throw e;
    throw new DecryptError("The file failed its integrity check.", "tampered");
  }
  if (!done) throw new DecryptError("The file is truncated.", "tampered");
  return c.concat(...out);
}
