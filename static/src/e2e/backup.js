// Key backup from the recovery phrase, the format of united_client/e2e/backup.py:
// BIP39 seed (PBKDF2-HMAC-SHA512, empty passphrase; @scure/bip39); seed[0:32] is the account
// recovery key's Ed25519 seed; the backup key is HKDF-SHA256(seed[32:64], 32 zero bytes,
// "UNITED_E2E_backup_v1", 32); the backup is {"identity_seed": b64} sealed with
// XChaCha20-Poly1305 under a random nonce and AD "UNITED_E2E_backup_v1\n" + user id.
import { mnemonicToSeed, validateMnemonic } from "@scure/bip39";
import { wordlist } from "@scure/bip39/wordlists/english.js";

import * as c from "./primitives.js";
import { E2EError } from "./errors.js";
import { historyKey } from "./history.js";

const INFO = "UNITED_E2E_backup_v1";

export function normalise(phrase) {
  return String(phrase).trim().toLowerCase().split(/\s+/).join(" ");
}

async function seedOf(phrase) {
  const words = normalise(phrase);
  if (!validateMnemonic(words, wordlist)) throw new E2EError("That is not a valid recovery phrase.", "bad_phrase");
  return mnemonicToSeed(words, "");
}

// → {recoverySeed, recoveryPub, backupKey, historyKey} (the last for the history backup,
// e2e/history.js)
export async function keysFromPhrase(phrase) {
  const seed = await seedOf(phrase);
  const recoverySeed = seed.slice(0, 32);
  const [, recoveryPub] = c.ed25519Keypair(recoverySeed);
  const backupKey = await c.hkdf(seed.slice(32, 64), new Uint8Array(32), c.enc.encode(INFO), 32);
  return { recoverySeed, recoveryPub, backupKey, historyKey: await historyKey(seed.slice(32, 64)) };
}

const adFor = (userId) => c.enc.encode(`${INFO}\n${userId}`);

export function seal(backupKey, userId, identitySeed) {
  const nonce = c.sodium.randombytes_buf(24);
  const body = c.enc.encode(JSON.stringify({ identity_seed: c.b64(identitySeed) }));
  return { v: 1, nonce: c.b64(nonce), ciphertext: c.b64(c.aeadEncrypt(backupKey, nonce, body, adFor(userId))) };
}

export function open(backupKey, userId, backup) {
  try {
    const body = c.aeadDecrypt(backupKey, c.unb64(backup.nonce, 24), c.unb64(backup.ciphertext), adFor(userId));
    return c.unb64(JSON.parse(c.dec.decode(body)).identity_seed, 32);
  } catch {
    throw new E2EError("This phrase does not open the key backup.", "bad_phrase");
  }
}
