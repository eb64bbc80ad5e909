// An end-to-end encrypted guild channel (MLS, e2e/mls.py) in the browser: this browser's E2E
// device (the one its DMs use, registered the same way: e2e-chat/keys.js) takes part in the
// channel's MLS group (e2e-mls/group.js on ts-mls), signs its leaves with the device's identity
// key, decrypts what arrives and encrypts what is sent. What it read is kept on this device
// (IndexedDB, sealed under the non-extractable key of e2e/keystore.js): MLS keys are used once,
// so a message cannot be decrypted a second time after a reload.
//
// Loud states, each with what fixes it: waiting to be added (another member's browser must be
// open), removed from the group, a message that cannot be decrypted, a device that fell behind
// (Try again).
import { api } from "./api.js";
import * as c from "./e2e/primitives.js";
import { LocalDevice } from "./e2e/device.js";
import * as keystore from "./e2e/keystore.js";
import { register, withDeviceLock } from "./e2e-chat/keys.js";
import { gateway } from "./gateway.js";
import { MlsDevice } from "./e2e-mls/group.js";

const RECHECK_MS = 15000;
// Events after which the group may have to change: someone joined or left the guild, roles or
// overwrites moved, a device appeared.
const MEMBERSHIP_EVENTS = new Set([
  "GUILD_MEMBER_ADD", "GUILD_MEMBER_REMOVE", "GUILD_MEMBER_UPDATE", "GUILD_BAN_ADD",
  "GUILD_ROLE_UPDATE", "GUILD_ROLE_DELETE", "CHANNEL_UPDATE", "DEVICE_CREATE", "DEVICE_REVOKED",
]);

class EncryptedChannel {
  constructor(root) {
    this.root = root;
    this.channelId = root.dataset.channelId;
    this.userId = root.dataset.userId;
    this.list = root.querySelector("[data-mls-messages]");
    this.status = root.querySelector("[data-mls-status]");
    this.retry = root.querySelector("[data-mls-retry]");
    this.form = root.querySelector("[data-mls-composer]");
    this.input = root.querySelector("[data-mls-input]");
    this.error = root.querySelector("[data-mls-error]");
    this.queue = Promise.resolve();
    this.history = [];
    this.names = {};
    this.problem = null;
  }

  serial(fn) {
    this.queue = this.queue.then(fn).catch((error) => this.behind(error));
    return this.queue;
  }

  say(text, { loud = false, fixable = false } = {}) {
    this.status.textContent = text;
    this.root.dataset.mlsState = loud ? "problem" : "ok";
    this.status.parentElement.classList.toggle("is-problem", loud);
    this.retry.hidden = !fixable;
  }

  behind(error) {
    console.error(error);
    this.say(`This device is behind the encrypted group (${error.message}). Try again to catch up.`, { loud: true, fixable: true });
  }

  get storeName() {
    return `mls:${this.userId}`;
  }

  async save() {
    const all = (await keystore.loadRecord(this.storeName)) || {};
    all.device = this.device.toJson();
    all.history = { ...(all.history || {}), [this.channelId]: this.history };
    await keystore.saveRecord(this.storeName, all);
  }

  // This browser's E2E device: the one its DMs use, registered now if it has none yet.
  async ownDevice() {
    await c.ready();
    return withDeviceLock(this.userId, async () => {
      const saved = await keystore.load(this.userId);
      const holder = {
        userId: this.userId,
        state: saved || { messages: {}, cursors: {}, verified: {} },
        device: saved ? LocalDevice.fromJson(saved.device) : null,
        async save() {
          this.state.device = this.device.toJson();
          await keystore.save(this.userId, this.state);
        },
      };
      if (!saved || saved.registering) await register(holder);
      return holder.device;
    });
  }

  // One tab of a browser holds an account's MLS state at a time: two tabs applying the same
  // log would each move the group's keys on and overwrite the other's. The second waits.
  hold() {
    if (!navigator.locks) return Promise.resolve();
    return new Promise((resolve) => {
      navigator.locks.request(`united-mls-state:${this.userId}`, { ifAvailable: true }, (lock) => {
        if (lock) {
          resolve();
          return new Promise(() => {});
        }
        this.say("Encrypted channels are open in another tab of this browser. Use that tab, or close it: this one takes over when it closes.", { loud: true });
        navigator.locks.request(`united-mls-state:${this.userId}`, () => {
          resolve();
          return new Promise(() => {});
        });
        return null;
      });
    });
  }

  async start() {
    await this.hold();
    const local = await this.ownDevice();
    this.device = new MlsDevice({
      api,
      userId: this.userId,
      deviceId: local.deviceId,
      signer: { signKey: local.identitySeed, publicKey: local.identityPub },
    });
    const stored = await keystore.loadRecord(this.storeName);
    this.device.restore(stored?.device);
    this.device.persist = () => this.save();
    this.history = stored?.history?.[this.channelId] || [];
    this.group = this.device.channel(this.channelId);
    this.group.onProblem = (text) => {
      this.problem = text;
      this.say(text, { loud: true, fixable: true });
    };
    for (const item of this.history) this.draw(item);
    await this.device.topUp();
    await this.save();
    this.wire();
    await this.serial(() => this.sync());
    setInterval(() => this.serial(() => this.sync()), RECHECK_MS);
  }

  wire() {
    this.retry.addEventListener("click", () => {
      this.problem = null;
      this.serial(() => this.sync());
    });
    gateway().on((t, d) => {
      if (!d) return;
      if (t.startsWith("MLS_") && d.channel_id === this.channelId) this.serial(() => this.sync());
      else if (t === "MLS_KEY_PACKAGES_LOW" && d.device_id === this.device.deviceId) this.serial(() => this.device.topUp());
      else if (MEMBERSHIP_EVENTS.has(t)) this.serial(() => this.sync());
      else if (t === "RESYNC") this.serial(() => this.sync());
    });
    document.querySelector("[data-mls-members-open]")?.addEventListener("click", () => this.serial(() => this.showMembers()));
    if (!this.form) return;
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.form.requestSubmit();
      }
    });
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = this.input.value.trim();
      if (!text) return;
      this.input.value = "";
      this.error.hidden = true;
      this.serial(async () => {
        try {
          const row = await this.group.send(text, crypto.randomUUID().replaceAll("-", ""));
          await this.add({ seq: row.seq, author: this.userId, at: row.created_at, text, mine: true });
        } catch (error) {
          this.input.value = text;
          this.error.textContent = `Not sent: ${error.message}`;
          this.error.hidden = false;
        }
      });
    });
  }

  async sync() {
    const read = await this.group.sync();
    for (const m of read) {
      await this.add({
        seq: m.entry.seq,
        author: m.entry.sender.user_id,
        at: m.entry.created_at,
        text: m.text,
        error: m.error || null,
        mine: Boolean(m.mine),
      });
    }
    await this.save();
    if (this.problem) return;
    if (!this.group.state) {
      this.say("This browser is waiting to be added to the encrypted group. It happens as soon as another member of this channel has it open; keep this page open.", { loud: true });
    } else {
      this.say(`End-to-end encrypted: ${this.group.members().length} devices in the group, epoch ${this.group.epoch}.`);
    }
    this.root.dataset.mlsReady = this.group.state ? "true" : "waiting";
    this.root.dataset.mlsEpoch = String(this.group.epoch ?? "");
  }

  async add(item) {
    if (this.history.some((h) => h.seq === item.seq)) return;
    this.history.push(item);
    this.draw(item);
  }

  // Names come with the group's member list; someone no longer on it is named by id.
  async nameOf(userId) {
    if (!userId) return "someone";
    if (!this.names[userId]) {
      this.names[userId] = api("GET", `/api/v1/channels/${this.channelId}/mls`)
        .then((want) => {
          for (const m of want.members) if (!(m.user_id in this.names) || m.user_id === userId) this.names[m.user_id] = m.username;
          return typeof this.names[userId] === "string" ? this.names[userId] : `former member ${userId}`;
        })
        .catch(() => `member ${userId}`);
    }
    return this.names[userId];
  }

  draw(item) {
    const li = document.createElement("li");
    li.className = `msg mls-msg${item.text === null ? " mls-failed" : ""}`;
    li.dataset.mlsSeq = String(item.seq);
    if (item.mine) li.dataset.mine = "";
    const head = document.createElement("h4");
    head.className = "msg-head";
    const who = document.createElement("span");
    who.className = "msg-author";
    who.textContent = item.mine ? "You" : "…";
    if (!item.mine) this.nameOf(item.author).then((name) => (who.textContent = name));
    const time = document.createElement("time");
    time.className = "msg-time";
    time.dateTime = item.at;
    time.textContent = new Date(item.at).toLocaleString();
    head.append(who, " ", time);
    const body = document.createElement("div");
    body.className = "msg-body";
    const p = document.createElement("p");
    if (item.text === null) {
      p.textContent = `🔒 This message could not be decrypted on this device. ${item.error || ""}`;
    } else {
      p.textContent = item.text;
    }
    body.append(p);
    li.append(head, body);
    this.list.append(li);
    li.scrollIntoView({ block: "end" });
  }

  async showMembers() {
    const box = document.querySelector("[data-mls-members]");
    const want = await api("GET", `/api/v1/channels/${this.channelId}/mls`);
    const inGroup = new Set(this.group.members().map((m) => m.deviceId));
    box.replaceChildren();
    for (const member of want.members) {
      const li = document.createElement("li");
      const name = document.createElement("strong");
      name.textContent = member.username;
      li.append(name);
      const devices = document.createElement("ul");
      for (const d of member.devices) {
        const row = document.createElement("li");
        const state = inGroup.has(d.id) ? "in the group" : d.key_packages ? "not added yet" : "cannot be added until it opens the channel";
        row.textContent = `${d.name || "device"} ${d.id}${d.id === this.device.deviceId ? " (this browser)" : ""}: ${state}`;
        row.dataset.mlsDevice = d.id;
        row.dataset.mlsInGroup = inGroup.has(d.id) ? "true" : "false";
        devices.append(row);
      }
      if (!member.devices.length) {
        const row = document.createElement("li");
        row.textContent = "no device yet: added when they open the channel in a browser";
        devices.append(row);
      }
      li.append(devices);
      box.append(li);
    }
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const root = document.querySelector("[data-mls-pane]");
  if (!root) return;
  const channel = new EncryptedChannel(root);
  window.unitedMls = channel;
  channel.start().catch((error) => channel.behind(error));
});
