// X3DH (Signal's specification, revision 1) as in united_client/e2e/x3dh.py: Ed25519 device
// identity keys converted to X25519 for the DH steps, SK = HKDF(zero salt,
// 0xFF*32 || DH1 || DH2 || DH3 [|| DH4], "UNITED_X3DH_v1", 32), AD = IK_A || IK_B.
import * as c from "./primitives.js";
import { DecryptError, E2EError } from "./errors.js";

const INFO = c.enc.encode("UNITED_X3DH_v1");
const F = new Uint8Array(32).fill(0xff);

export const kdf = (dhs) => c.hkdf(c.concat(F, dhs), new Uint8Array(32), INFO, 32);

export function bundleFromApi(userId, d) {
  const opk = d.one_time_prekey;
  return {
    userId: String(userId),
    deviceId: String(d.device_id),
    identityKey: c.unb64(d.identity_key, 32),
    spkId: d.signed_prekey.key_id,
    spk: c.unb64(d.signed_prekey.public_key, 32),
    spkSignature: c.unb64(d.signed_prekey.signature, 64),
    opkId: opk ? opk.key_id : null,
    opk: opk ? c.unb64(opk.public_key, 32) : null,
  };
}

export async function initiate(identitySeed, identityPub, bundle, ekPriv = null) {
  if (!c.ed25519Verify(bundle.identityKey, bundle.spk, bundle.spkSignature)) {
    throw new E2EError("The signed prekey's signature does not verify.", "bad_prekey_signature");
  }
  let ekPub;
  if (ekPriv) ekPub = c.x25519Public(ekPriv);
  else [ekPriv, ekPub] = c.x25519Keypair();
  const ikA = c.ed25519SeedToX25519(identitySeed);
  const ikB = c.ed25519PkToX25519(bundle.identityKey);
  const parts = [c.x25519(ikA, bundle.spk), c.x25519(ekPriv, ikB), c.x25519(ekPriv, bundle.spk)];
  if (bundle.opk) parts.push(c.x25519(ekPriv, bundle.opk));
  return [await kdf(c.concat(...parts)), ekPub, c.concat(identityPub, bundle.identityKey)];
}

export async function respond(identitySeed, identityPub, spkPriv, opkPriv, peerIdentity, ek) {
  let parts;
  try {
    const ikB = c.ed25519SeedToX25519(identitySeed);
    const ikA = c.ed25519PkToX25519(peerIdentity);
    parts = [c.x25519(spkPriv, ikA), c.x25519(ikB, ek), c.x25519(spkPriv, ek)];
    if (opkPriv) parts.push(c.x25519(opkPriv, ek));
  } catch {
    throw new DecryptError("The session-start header holds an invalid key.", "malformed");
  }
  return [await kdf(c.concat(...parts)), c.concat(peerIdentity, identityPub)];
}
