// One device's side of an encrypted channel's MLS group (RFC 9420, through ts-mls), with the
// node as the delivery service (e2e/mls.py). The same module runs in the browser and under Node
// (tests/e2e/js/mls_scenario.mjs): it only needs `api(method, path, body)`, which answers the
// JSON body or throws an error carrying the HTTP `status` and the node's `errors`.
//
// How the group follows the guild: `sync()` applies the node's log in order (commits, the
// welcome that adds this device, application messages), then compares the group's leaves with
// who the node says may see the channel (`GET /channels/{id}/mls`) and, if they differ, commits
// the adds (claiming one KeyPackage per new device) and removes. The node accepts one commit
// per epoch; a device that loses the race (409) drops its commit, applies the winner's and
// looks again. A device is named in its leaf by the credential "<user id>:<device id>".
import {
  createApplicationMessage,
  createCommit,
  createGroup,
  decodeGroupState,
  decodeMlsMessage,
  defaultCapabilities,
  defaultLifetime,
  emptyPskIndex,
  encodeGroupState,
  encodeMlsMessage,
  generateKeyPackage,
  generateKeyPackageWithKey,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  joinGroup,
  processPrivateMessage,
} from "ts-mls";
import { defaultClientConfig } from "ts-mls/clientConfig.js";

export const SUITE = "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519";
const KEY_PACKAGE_BATCH = 20;
const utf8 = new TextEncoder();
const text = new TextDecoder();

export const b64 = (bytes) => {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
};
export const unb64 = (s) => Uint8Array.from(atob(s), (ch) => ch.charCodeAt(0));

async function sha256(bytes) {
  return b64(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)));
}

let implPromise = null;
export function suite() {
  implPromise ||= getCiphersuiteImpl(getCiphersuiteFromName(SUITE));
  return implPromise;
}

// Why a message could not be read, in words a member can act on.
export class Undecryptable extends Error {}

export class MlsDevice {
  // `keys`: KeyPackages this device published and has not used, by the digest of their bytes
  // (the node's name for them too), each {publicPackage, privatePackage}.
  // `signer`: the device's Ed25519 identity key pair ({signKey: 32-byte seed, publicKey}), the
  // key its account's signed device list names; every leaf of this device is signed with it,
  // so members check a leaf against the device it claims to be (without it: a fresh key).
  constructor({ api, userId, deviceId, signer = null }) {
    this.api = api;
    this.signer = signer;
    this.userId = String(userId);
    this.deviceId = String(deviceId);
    this.keys = new Map();
    this.channels = new Map(); // channel id → ChannelGroup
    // Called when what must survive a reload changed, before anyone else can depend on it: new
    // KeyPackages before their public halves are published (a welcome for one whose private
    // half was lost could never be opened), a commit or message the node accepted.
    this.persist = async () => {};
  }

  get identity() {
    return `${this.userId}:${this.deviceId}`;
  }

  // Keep at least `want` KeyPackages on the node so others can add this device while it is
  // offline; the node tells the owner (MLS_KEY_PACKAGES_LOW) when a claim leaves few.
  async topUp(want = KEY_PACKAGE_BATCH) {
    const { count } = await this.api("GET", `/api/v1/users/@me/mls/key-packages?device_id=${this.deviceId}`);
    if (count >= want) return count;
    const impl = await suite();
    const batch = [];
    for (let i = count; i < want; i++) {
      const kp = await this.keyPackage(impl);
      const bytes = encodeMlsMessage({ keyPackage: kp.publicPackage, wireformat: "mls_key_package", version: "mls10" });
      this.keys.set(await sha256(bytes), kp);
      batch.push(b64(bytes));
    }
    await this.persist();
    const out = await this.api("POST", "/api/v1/users/@me/mls/key-packages", { device_id: this.deviceId, key_packages: batch });
    return out.count;
  }

  keyPackage(impl) {
    const credential = { credentialType: "basic", identity: utf8.encode(this.identity) };
    if (this.signer) {
      return generateKeyPackageWithKey(credential, defaultCapabilities(), defaultLifetime, [], this.signer, impl);
    }
    return generateKeyPackage(credential, defaultCapabilities(), defaultLifetime, [], impl);
  }

  // What this device keeps between visits (sealed by the caller, static/src/e2e-mls/store.js):
  // its unused KeyPackages with their private halves and each channel's group state. The
  // group's secrets are in it, so it never leaves the device.
  toJson() {
    const keys = {};
    for (const [digest, kp] of this.keys) {
      keys[digest] = {
        pub: b64(encodeMlsMessage({ keyPackage: kp.publicPackage, wireformat: "mls_key_package", version: "mls10" })),
        priv: Object.fromEntries(Object.entries(kp.privatePackage).map(([k, v]) => [k, b64(v)])),
      };
    }
    const channels = {};
    for (const [id, group] of this.channels) channels[id] = group.toJson();
    return { keys, channels };
  }

  restore(saved) {
    if (!saved) return;
    for (const [digest, kp] of Object.entries(saved.keys || {})) {
      const decoded = decodeMlsMessage(unb64(kp.pub), 0)?.[0];
      if (decoded?.wireformat !== "mls_key_package") continue;
      const privatePackage = Object.fromEntries(Object.entries(kp.priv).map(([k, v]) => [k, unb64(v)]));
      this.keys.set(digest, { publicPackage: decoded.keyPackage, privatePackage });
    }
    for (const [id, data] of Object.entries(saved.channels || {})) this.channel(id).restore(data);
  }

  channel(channelId) {
    const id = String(channelId);
    if (!this.channels.has(id)) this.channels.set(id, new ChannelGroup(this, id));
    return this.channels.get(id);
  }
}

export class ChannelGroup {
  constructor(device, channelId) {
    this.device = device;
    this.channelId = channelId;
    this.state = null; // ts-mls ClientState once this device is in the group
    this.cursor = 0; // the last log position applied
    this.own = new Set(); // log positions of this device's own commits and welcomes
    this.sent = new Map(); // log position → what this device sent (it cannot decrypt its own)
    this.onMessage = () => {};
    this.onProblem = () => {};
  }

  toJson() {
    return {
      state: this.state ? b64(encodeGroupState(this.state)) : null,
      cursor: this.cursor,
      own: [...this.own],
      sent: Object.fromEntries(this.sent),
    };
  }

  restore(data) {
    const decoded = data.state ? decodeGroupState(unb64(data.state), 0)?.[0] : null;
    this.state = decoded ? { ...decoded, clientConfig: defaultClientConfig } : null;
    this.cursor = data.cursor || 0;
    this.own = new Set(data.own || []);
    this.sent = new Map(Object.entries(data.sent || {}).map(([k, v]) => [Number(k), v]));
  }

  get base() {
    return `/api/v1/channels/${this.channelId}/mls`;
  }

  get epoch() {
    return this.state ? Number(this.state.groupContext.epoch) : null;
  }

  // Who is in the group now, from this device's own copy of the tree: [{leaf, userId, deviceId}].
  members() {
    if (!this.state) return [];
    const out = [];
    this.state.ratchetTree.forEach((node, index) => {
      if (index % 2 === 0 && node && node.nodeType === "leaf" && node.leaf.credential.credentialType === "basic") {
        const [userId, deviceId] = text.decode(node.leaf.credential.identity).split(":");
        out.push({ leaf: index / 2, userId, deviceId });
      }
    });
    return out;
  }

  // Apply the log from the last position on. Returns the application messages it read.
  async pull() {
    const impl = await suite();
    const read = [];
    for (;;) {
      const page = await this.device.api("GET", `${this.base}/log?device_id=${this.device.deviceId}&after=${this.cursor}`);
      for (const entry of page.entries) {
        const message = await this.apply(entry, impl);
        if (message) read.push(message);
        this.cursor = entry.seq;
      }
      if (page.entries.length === 0 || page.next >= page.seq) {
        this.cursor = Math.max(this.cursor, page.next);
        return read;
      }
    }
  }

  async apply(entry, impl = null) {
    impl ||= await suite();
    const mine = entry.sender.device_id === this.device.deviceId;
    if (entry.kind === "welcome") {
      if (this.state || !entry.recipients.includes(this.device.deviceId)) return null;
      const welcome = decodeMlsMessage(unb64(entry.data), 0)?.[0];
      if (welcome?.wireformat !== "mls_welcome") throw new Undecryptable("A welcome that is not one");
      let reason = "no KeyPackage of this device matches it";
      for (const [digest, kp] of this.device.keys) {
        try {
          this.state = await joinGroup(welcome.welcome, kp.publicPackage, kp.privatePackage, emptyPskIndex, impl);
          this.device.keys.delete(digest); // one-time: its private half is never used again
          return null;
        } catch (error) {
          // Not addressed to this KeyPackage (the usual case): try the next.
          if (error.message !== "Could not decode group secrets") reason = error.message;
        }
      }
      this.onProblem(`This device could not join the encrypted group from its welcome (${reason}). Try again, or ask a member to re-add it.`);
      return null;
    }
    if (this.own.has(entry.seq)) return null; // already applied when the node accepted it
    if (mine && entry.kind === "application") {
      const sent = this.sent.get(entry.seq);
      return sent === undefined ? null : { entry, text: sent, mine: true };
    }
    // Before this device's welcome nothing is meant for it: a member added later does not read
    // what came before, by design, so those entries are passed over rather than shown as failures.
    if (!this.state) return null;
    if (entry.kind === "commit" && BigInt(entry.epoch) < this.state.groupContext.epoch) return null;
    const message = decodeMlsMessage(unb64(entry.data), 0)?.[0];
    if (message?.wireformat !== "mls_private_message") {
      return { entry, text: null, error: "Not an MLS message." };
    }
    try {
      const out = await processPrivateMessage(this.state, message.privateMessage, emptyPskIndex, impl);
      this.state = out.newState;
      if (out.kind === "applicationMessage") {
        return { entry, text: text.decode(out.message) };
      }
      if (!this.members().some((m) => m.deviceId === this.device.deviceId)) {
        this.state = null; // removed from the group: nothing after this is readable here
        this.onProblem("This device was removed from the encrypted channel.");
      }
      return null;
    } catch (error) {
      if (entry.kind === "application") return { entry, text: null, error: `Cannot decrypt: ${error.message}` };
      this.onProblem(`A change to the group could not be applied: ${error.message}`);
      return null;
    }
  }

  // Bring the group in line with who may see the channel: create it if nobody has yet, add
  // devices that should be in and are not, remove those that should not. True if it committed.
  async reconcile() {
    const impl = await suite();
    for (let attempt = 0; attempt < 5; attempt++) {
      const want = await this.device.api("GET", this.base);
      let state = this.state;
      if (!state && want.epoch === 0 && want.seq === 0) {
        // Nobody has made the group yet: this device starts it (epoch 0) and commits first.
        const kp = await this.device.keyPackage(impl);
        state = await createGroup(unb64(want.group_id), kp.publicPackage, kp.privatePackage, [], impl);
      }
      if (!state) {
        // Waiting to be added by a member's device: ask those online to do it now.
        if (!this.knocked || Date.now() - this.knocked > 10000) {
          this.knocked = Date.now();
          await this.device.api("POST", `${this.base}/knock`, { device_id: this.device.deviceId });
        }
        return false;
      }
      const wanted = new Map();
      for (const member of want.members) {
        for (const d of member.devices) {
          wanted.set(d.id, { userId: member.user_id, keyPackages: d.key_packages, identityKey: d.identity_key });
        }
      }
      const inGroup = this.listMembers(state);
      const removes = inGroup.filter((m) => !wanted.has(m.deviceId) && m.deviceId !== this.device.deviceId);
      const present = new Set(inGroup.map((m) => m.deviceId));
      const adds = [...wanted].filter(([id, d]) => !present.has(id) && d.keyPackages > 0).map(([id]) => id);
      if (!adds.length && !removes.length && this.state) return false;
      const proposals = removes.map((m) => ({ proposalType: "remove", remove: { removed: m.leaf } }));
      let claimed = [];
      if (adds.length) {
        claimed = (await this.device.api("POST", `${this.base}/key-packages/claim`, { device_ids: adds })).key_packages;
        for (const c of claimed) {
          const kp = decodeMlsMessage(unb64(c.key_package), 0)?.[0];
          if (kp?.wireformat !== "mls_key_package") continue;
          const name = text.decode(kp.keyPackage.leafNode.credential.identity);
          if (name !== `${c.user_id}:${c.device_id}`) continue; // a package under another name
          // Signed by another key than the device's registered identity key: not that device.
          if (b64(kp.keyPackage.leafNode.signaturePublicKey) !== wanted.get(c.device_id)?.identityKey) continue;
          proposals.push({ proposalType: "add", add: { keyPackage: kp.keyPackage } });
        }
      }
      if (!proposals.length && this.state) return false;
      const result = await createCommit({ state, cipherSuite: impl }, { extraProposals: proposals, ratchetTreeExtension: true });
      const body = {
        device_id: this.device.deviceId,
        epoch: Number(state.groupContext.epoch),
        commit: b64(encodeMlsMessage(result.commit)),
      };
      if (result.welcome) {
        body.welcome = b64(encodeMlsMessage({ welcome: result.welcome, wireformat: "mls_welcome", version: "mls10" }));
        body.welcome_devices = claimed.map((c) => c.device_id);
      }
      try {
        const rows = await this.device.api("POST", `${this.base}/commits`, body);
        for (const row of rows) this.own.add(row.seq);
        this.state = result.newState;
        await this.device.persist();
        return true;
      } catch (error) {
        if (error.status !== 409) throw error;
        // Another device's commit ended this epoch first: apply it, then look again.
        if (!this.state) return false; // it made the group; its commit adds this device
        await this.pull();
      }
    }
    return false;
  }

  listMembers(state) {
    const saved = this.state;
    this.state = state;
    try {
      return this.members();
    } finally {
      this.state = saved;
    }
  }

  async sync() {
    const read = await this.pull();
    if (await this.reconcile()) read.push(...(await this.pull()));
    return read;
  }

  // Encrypt and post a message in the current epoch; if the group moved on meanwhile (409),
  // catch up and encrypt again under the new epoch.
  async send(plaintext, nonce) {
    const impl = await suite();
    for (let attempt = 0; attempt < 5; attempt++) {
      if (!this.state) throw new Undecryptable("this browser is not in the encrypted group yet; it is added as soon as another member of the channel has it open.");
      const out = await createApplicationMessage(this.state, utf8.encode(plaintext), impl);
      const body = {
        device_id: this.device.deviceId,
        epoch: Number(this.state.groupContext.epoch),
        ciphertext: b64(encodeMlsMessage({ privateMessage: out.privateMessage, wireformat: "mls_private_message", version: "mls10" })),
        nonce,
      };
      try {
        const row = await this.device.api("POST", `${this.base}/messages`, body);
        this.state = out.newState;
        this.sent.set(row.seq, plaintext);
        await this.device.persist();
        return row;
      } catch (error) {
        if (error.status !== 409) throw error;
        await this.pull();
      }
    }
    throw new Error("The group kept changing; try again.");
  }
}
