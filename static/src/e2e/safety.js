// Safety numbers (Signal's numeric fingerprint v0), as united_client/e2e/safety.py.
import * as c from "./primitives.js";

const ITERATIONS = 5200;

export function accountKey(devices) {
  return c.concat(...[...Object.entries(devices)].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, k]) => k));
}

export async function half(key, userId) {
  let digest = c.concat(new Uint8Array(2), key, c.enc.encode(String(userId)));
  for (let i = 0; i < ITERATIONS; i++) digest = await c.sha512(c.concat(digest, key));
  let out = "";
  for (let i = 0; i < 30; i += 5) {
    let n = 0n;
    for (let j = 0; j < 5; j++) n = (n << 8n) | BigInt(digest[i + j]);
    out += String(n % 100000n).padStart(5, "0");
  }
  return out;
}

export async function safetyNumber(keyA, userA, keyB, userB) {
  return [await half(keyA, userA), await half(keyB, userB)].sort().join("");
}
