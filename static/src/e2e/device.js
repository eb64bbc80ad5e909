// A local device: keys, sessions and the v1 envelope, the same protocol and the same JSON
// state as united_client/e2e/device.py (a state saved by one opens in the other).
import * as c from "./primitives.js";
import * as x3dh from "./x3dh.js";
import { Ratchet, headerFromJson, headerToJson } from "./ratchet.js";
import { DecryptError, E2EError } from "./errors.js";
import { buildPayload, parse as parseDeviceList, sign as signDeviceListPayload, verify as verifyDeviceList } from "./devicelist.js";

export const VERSION = 1;
const MAX_SESSIONS_PER_DEVICE = 5;

export function context(channelId, sender, recipient) {
  const fields = [channelId, ...sender, ...recipient].map(String);
  return c.enc.encode(`UNITED_E2E_v1\n${fields.join("\n")}\n`);
}

export class LocalDevice {
  constructor(s) {
    Object.assign(this, s);
  }

  static create(userId, prekeys = 20, identitySeed = null) {
    const [seed, pub] = identitySeed ? c.ed25519Keypair(identitySeed) : c.ed25519Keypair();
    const dev = new LocalDevice({
      userId: String(userId), deviceId: "", identitySeed: seed, identityPub: pub,
      spks: new Map([[1, c.x25519Keypair()[0]]]), opks: new Map(), nextKeyId: 2,
      sessions: new Map(), seenBaseKeys: new Set(), pins: {},
    });
    dev.newOneTimePrekeys(prekeys);
    return dev;
  }

  get spkId() {
    return Math.max(...this.spks.keys());
  }

  signedPrekey() {
    const pub = c.x25519Public(this.spks.get(this.spkId));
    return { key_id: this.spkId, public_key: c.b64(pub), signature: c.b64(c.ed25519Sign(this.identitySeed, pub)) };
  }

  newOneTimePrekeys(count) {
    const out = [];
    for (let i = 0; i < count; i++) {
      const [priv, pub] = c.x25519Keypair();
      this.opks.set(this.nextKeyId, priv);
      out.push({ key_id: this.nextKeyId, public_key: c.b64(pub) });
      this.nextKeyId += 1;
    }
    return out;
  }

  registration(name = "browser") {
    return {
      name,
      identity_key: c.b64(this.identityPub),
      signed_prekey: this.signedPrekey(),
      one_time_prekeys: [...this.opks].sort((a, b) => a[0] - b[0]).map(([k, v]) => ({ key_id: k, public_key: c.b64(c.x25519Public(v)) })),
    };
  }

  checkDeviceList(userId, wire) {
    const listed = verifyDeviceList(wire, this.pins[String(userId)] || null, String(userId));
    this.pins[String(userId)] = listed;
    return listed;
  }

  // The user id a message binds: the one in the account's signed device list (their home
  // node's id; the same as ours for a local account).
  homeId(userId) {
    const pinned = this.pins[String(userId)];
    return pinned ? pinned.userId : String(userId);
  }

  signDeviceList(version, devices) {
    return signDeviceListPayload(buildPayload(this.userId, version, devices), this.deviceId, this.identitySeed);
  }

  trustedBundles(userId, keyBundle) {
    const pinned = this.pins[String(userId)];
    if (!pinned) throw new E2EError("No verified device list for this account yet.", "no_device_list");
    const ok = [];
    const warnings = [];
    for (const d of keyBundle.devices || []) {
      let bundle;
      try {
        bundle = x3dh.bundleFromApi(userId, d);
      } catch {
        // One device's garbage (a node's bug or mischief) must not stop a message to the others.
        warnings.push(`device ${d && d.device_id} has a malformed key bundle`);
        continue;
      }
      const known = pinned.devices[bundle.deviceId];
      if (!known) warnings.push(`device ${bundle.deviceId} is not on the signed device list`);
      else if (!c.equal(known, bundle.identityKey)) warnings.push(`device ${bundle.deviceId} has a key its owner did not sign`);
      else if (bundle.deviceId !== this.deviceId) ok.push(bundle);
    }
    return [ok, warnings];
  }

  hasSession(deviceId) {
    return (this.sessions.get(String(deviceId)) || []).length > 0;
  }

  forgetDevice(deviceId) {
    this.sessions.delete(String(deviceId));
  }

  _addSession(s) {
    const rows = this.sessions.get(s.peerDevice) || [];
    rows.unshift(s);
    this.sessions.set(s.peerDevice, rows.slice(0, MAX_SESSIONS_PER_DEVICE));
  }

  async startSession(bundle) {
    const [sk, ek, ad] = await x3dh.initiate(this.identitySeed, this.identityPub, bundle);
    const session = {
      peerUser: bundle.userId, peerDevice: bundle.deviceId, peerIdentity: bundle.identityKey, ad,
      ratchet: await Ratchet.initAlice(sk, bundle.spk), baseKey: ek,
      pending: { ik: c.b64(this.identityPub), ek: c.b64(ek), spk_id: bundle.spkId, opk_id: bundle.opkId },
    };
    this._addSession(session);
    return session;
  }

  async encrypt(channelId, targets, payload) {
    const plaintext = c.enc.encode(JSON.stringify(payload));
    const me = [this.userId, this.deviceId];
    const copies = [];
    for (const [userId, deviceId] of targets) {
      const rows = this.sessions.get(String(deviceId));
      if (!rows || !rows.length) throw new E2EError(`No session with device ${deviceId}.`, "no_session");
      const s = rows[0];
      const ad = c.concat(s.ad, context(channelId, me, [this.homeId(userId), deviceId]));
      const [header, ciphertext] = await s.ratchet.encrypt(plaintext, ad);
      copies.push({ user_id: String(userId), device_id: String(deviceId), header: headerToJson(header), x3dh: s.pending, ciphertext: c.b64(ciphertext) });
    }
    return { v: VERSION, channel_id: String(channelId), sender: { user_id: this.userId, device_id: this.deviceId }, copies };
  }

  async decrypt(envelope) {
    let channelId, sender, mine;
    try {
      if (envelope.v !== VERSION) throw new DecryptError(`Unknown envelope version ${envelope.v}.`, "version");
      channelId = String(envelope.channel_id);
      sender = [String(envelope.sender.user_id), String(envelope.sender.device_id)];
      mine = envelope.copies.filter((d) => String(d.device_id) === this.deviceId);
    } catch (e) {
      if (e instanceof DecryptError) throw e;
      throw new DecryptError("Malformed envelope.", "malformed");
    }
    if (!mine.length) throw new DecryptError("This message was not encrypted for this device.", "not_for_device");
    const copy = mine[0];
    if (String(copy.user_id) !== this.userId) throw new DecryptError("This copy names another account.", "malformed");
    const header = headerFromJson(copy.header);
    let ciphertext;
    try {
      ciphertext = c.unb64(copy.ciphertext);
    } catch {
      throw new DecryptError("Malformed ciphertext.", "malformed");
    }
    const ctx = context(channelId, [this.homeId(sender[0]), sender[1]], [this.userId, this.deviceId]);
    const [session, plaintext, isNew] = copy.x3dh
      ? await this._openPrekeyMessage(sender, copy.x3dh, header, ciphertext, ctx)
      : await this._openMessage(sender, header, ciphertext, ctx);
    const pinned = this.pins[sender[0]];
    if (pinned && !c.equal(pinned.devices[sender[1]], session.peerIdentity)) {
      throw new DecryptError("The sending device is not on the sender's signed device list.", "unknown_device");
    }
    let payload;
    try {
      payload = JSON.parse(c.dec.decode(plaintext));
    } catch {
      throw new DecryptError("The decrypted message is not JSON.", "malformed");
    }
    return { payload, senderUser: sender[0], senderDevice: sender[1], newSession: isNew };
  }

  async _openMessage(sender, header, ciphertext, ctx) {
    const rows = this.sessions.get(sender[1]) || [];
    if (!rows.length) throw new DecryptError("No session with the sending device.", "no_session");
    let first = null;
    for (const s of rows) {
      try {
        const plaintext = await s.ratchet.decrypt(header, ciphertext, c.concat(s.ad, ctx));
        s.pending = null;
        return [s, plaintext, false];
      } catch (e) {
        if (!(e instanceof DecryptError)) throw e;
        first = first || e;
      }
    }
    throw first;
  }

  async _openPrekeyMessage(sender, head, header, ciphertext, ctx) {
    let ik, ek, spkId, opkId;
    try {
      ik = c.unb64(head.ik, 32);
      ek = c.unb64(head.ek, 32);
      spkId = head.spk_id;
      opkId = head.opk_id ?? null;
      if (!Number.isInteger(spkId)) throw new Error();
    } catch {
      throw new DecryptError("Malformed session-start header.", "malformed");
    }
    for (const s of this.sessions.get(sender[1]) || []) {
      if (c.equal(s.baseKey, ek)) {
        return [s, await s.ratchet.decrypt(header, ciphertext, c.concat(s.ad, ctx)), false];
      }
    }
    if (this.seenBaseKeys.has(c.b64(ek))) throw new DecryptError("This session start was already used (replay).", "replay");
    const spk = this.spks.get(spkId);
    if (!spk) throw new DecryptError("Unknown signed prekey.", "unknown_prekey");
    let opk = null;
    if (opkId !== null) {
      opk = this.opks.get(opkId);
      if (!opk) throw new DecryptError("That one-time prekey was already used (replay).", "replay");
    }
    const [sk, ad] = await x3dh.respond(this.identitySeed, this.identityPub, spk, opk, ik, ek);
    const session = { peerUser: sender[0], peerDevice: sender[1], peerIdentity: ik, ad, ratchet: Ratchet.initBob(sk, spk), baseKey: ek, pending: null };
    const plaintext = await session.ratchet.decrypt(header, ciphertext, c.concat(ad, ctx));
    if (opkId !== null) this.opks.delete(opkId);
    this.seenBaseKeys.add(c.b64(ek));
    this._addSession(session);
    return [session, plaintext, true];
  }

  toJson() {
    const sessions = {};
    for (const [k, rows] of this.sessions) {
      sessions[k] = rows.map((s) => ({
        peer_user: s.peerUser, peer_device: s.peerDevice, peer_identity: c.b64(s.peerIdentity), ad: c.b64(s.ad),
        ratchet: s.ratchet.toJson(), base_key: c.b64(s.baseKey), pending: s.pending,
      }));
    }
    return {
      user_id: this.userId, device_id: this.deviceId, identity_seed: c.b64(this.identitySeed), identity_pub: c.b64(this.identityPub),
      spks: Object.fromEntries([...this.spks].map(([k, v]) => [String(k), c.b64(v)])),
      opks: Object.fromEntries([...this.opks].map(([k, v]) => [String(k), c.b64(v)])),
      next_key_id: this.nextKeyId, sessions, seen_base_keys: [...this.seenBaseKeys],
      pins: Object.fromEntries(Object.entries(this.pins).map(([k, v]) => [k, v.wire])),
    };
  }

  static fromJson(d) {
    const sessions = new Map();
    for (const [k, rows] of Object.entries(d.sessions)) {
      sessions.set(k, rows.map((s) => ({
        peerUser: s.peer_user, peerDevice: s.peer_device, peerIdentity: c.unb64(s.peer_identity), ad: c.unb64(s.ad),
        ratchet: Ratchet.fromJson(s.ratchet), baseKey: c.unb64(s.base_key), pending: s.pending,
      })));
    }
    const pins = {};
    for (const [k, wire] of Object.entries(d.pins || {})) pins[k] = parseDeviceList(wire);
    return new LocalDevice({
      userId: d.user_id, deviceId: d.device_id, identitySeed: c.unb64(d.identity_seed), identityPub: c.unb64(d.identity_pub),
      spks: new Map(Object.entries(d.spks).map(([k, v]) => [Number(k), c.unb64(v)])),
      opks: new Map(Object.entries(d.opks).map(([k, v]) => [Number(k), c.unb64(v)])),
      nextKeyId: d.next_key_id, sessions, seenBaseKeys: new Set(d.seen_base_keys), pins,
    });
  }
}
