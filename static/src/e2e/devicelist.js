// Signed device lists, as united_client/e2e/devicelist.py: a newer list must be signed by a
// device (or the recovery key) of the list the client pinned, else the server may be trying to
// add a device and nothing is sent.
import * as c from "./primitives.js";
import { E2EError } from "./errors.js";

const CONTEXT = c.enc.encode("UNITED_DEVICE_LIST_v1\n");

export function buildPayload(userId, version, devices, recoveryKey = null) {
  return JSON.stringify({
    v: 1,
    user_id: String(userId),
    version,
    devices: Object.keys(devices).sort().map((d) => ({ device_id: d, identity_key: c.b64(devices[d]) })),
    recovery_key: recoveryKey ? c.b64(recoveryKey) : null,
    created_at: Date.now(),
  });
}

export function sign(payload, signer, seed) {
  return { payload, signature: c.b64(c.ed25519Sign(seed, c.concat(CONTEXT, c.enc.encode(payload)))), signer: String(signer) };
}

export function parse(wire) {
  try {
    const data = JSON.parse(wire.payload);
    if (data.v !== 1 || !Number.isInteger(data.version)) throw new Error();
    const devices = Object.fromEntries(data.devices.map((d) => [String(d.device_id), c.unb64(d.identity_key, 32)]));
    return {
      wire, userId: String(data.user_id), version: data.version, devices,
      recoveryKey: data.recovery_key ? c.unb64(data.recovery_key, 32) : null,
      signature: c.unb64(wire.signature, 64), signer: String(wire.signer),
    };
  } catch {
    throw new E2EError("Malformed device list.", "malformed");
  }
}

export function verify(wire, pinned, userId) {
  const listed = parse(wire);
  // A member of another node (`acct` set by our node) has their home node's user id in the
  // list; that id, not our node's, is the one a message binds (docs/e2e.md, cross-node).
  const remote = Boolean(wire && wire.acct);
  if (listed.userId !== String(userId) && !remote) throw new E2EError("The device list belongs to another account.", "wrong_user");
  if (pinned && listed.userId !== pinned.userId) throw new E2EError("The device list belongs to another account.", "wrong_user");
  const trusted = pinned || listed;
  const key = listed.signer === "recovery" ? trusted.recoveryKey : trusted.devices[listed.signer];
  if (!key || !c.ed25519Verify(key, c.concat(CONTEXT, c.enc.encode(wire.payload)), listed.signature)) {
    throw new E2EError(
      "The device list changed without a signature from a device you already trust: the server may be trying to add a device.",
      "unsigned_device_change",
    );
  }
  if (pinned) {
    if (listed.version < pinned.version) throw new E2EError("The server sent an older device list.", "rollback");
    if (listed.version === pinned.version && wire.payload !== pinned.wire.payload) throw new E2EError("Two different device lists with one version.", "fork");
  }
  return listed;
}

// The code a person compares on both screens before approving a new device of theirs: 12
// digits from SHA-512("UNITED_DEVICE_CODE_v1\n" || the new device's Ed25519 identity key),
// shown in groups of four. The approving device computes it from the key the node lists, the
// new device from its own key: a node that swapped the key would have to find another key
// with the same 40 bits, and the full key stays on show for a stricter comparison.
export async function approvalCode(identityKey) {
  const digest = await c.sha512(c.concat(c.enc.encode("UNITED_DEVICE_CODE_v1\n"), identityKey));
  let n = 0n;
  for (const b of digest.slice(0, 8)) n = (n << 8n) | BigInt(b);
  return (n % 10n ** 12n).toString().padStart(12, "0").match(/.{4}/g).join(" ");
}
