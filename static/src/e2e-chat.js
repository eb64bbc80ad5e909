// The E2E DM page (/app/dms/<id>/): the device's keys live in IndexedDB wrapped by a
// non-extractable WebCrypto key; messages are encrypted here before they leave and decrypted
// here when they arrive; the node only ever sees envelopes. Shows a lock, the safety number
// (60 digits + QR, drawn here from the pinned public keys, so a lying node cannot draw it),
// "mark as verified", a warning when the number changes, and a clear state for a message that
// cannot be decrypted.
import qrcode from "qrcode-generator";

import * as c from "./e2e/primitives.js";
import * as backup from "./e2e/backup.js";
import { LocalDevice } from "./e2e/device.js";
import { buildPayload, parse as parseDeviceList, sign as signDeviceList } from "./e2e/devicelist.js";
import { E2EError } from "./e2e/errors.js";
import { highlighted, search } from "./e2e/search.js";
import { decryptFile, encryptFile } from "./e2e/files.js";
import { accountKey, safetyNumber } from "./e2e/safety.js";
import * as keystore from "./e2e/keystore.js";
import { gateway } from "./gateway.js";
import { csrfToken } from "./http.js";

async function api(method, path, body) {
  const response = await fetch(`/api/v1${path}`, {
    method,
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) throw Object.assign(new Error((data && data.message) || `HTTP ${response.status}`), { status: response.status, data });
  return data;
}

const REASONS = {
  tampered: "it was modified or is bound to another conversation",
  replay: "it was already received, or its key was discarded",
  too_far_ahead: "too many messages were skipped",
  not_for_device: "it was not encrypted for this device (sent before this device was added)",
  no_session: "there is no session with the sending device",
  unknown_device: "the sending device is not on the sender's signed device list",
  unknown_prekey: "it used a prekey this device no longer has",
  malformed: "it is malformed",
};

// An identity key as people compare it: hex in groups of four.
function fingerprint(key) {
  return [...key].map((b) => b.toString(16).padStart(2, "0")).join("").match(/.{4}/g).join(" ");
}

class E2EChat {
  constructor(root) {
    this.root = root;
    this.channelId = root.dataset.channelId;
    this.userId = root.dataset.userId;
    this.peers = JSON.parse(root.dataset.recipients).filter((id) => id !== this.userId);
    this.names = JSON.parse(root.dataset.names);
    this.list = root.querySelector("[data-e2e-messages]");
    this.status = root.querySelector("[data-e2e-status]");
    this.warning = root.querySelector("[data-e2e-warning]");
    this.queue = Promise.resolve();
  }

  serial(fn) {
    this.queue = this.queue.then(fn).catch((error) => this.fail(error));
    return this.queue;
  }

  fail(error) {
    console.error(error);
    this.status.textContent = `Encryption error: ${error.message}`;
  }

  async start() {
    await c.ready();
    const saved = await keystore.load(this.userId);
    this.state = saved || { messages: {}, cursors: {}, verified: {} };
    if (saved) this.device = LocalDevice.fromJson(saved.device);
    else await this.register();
    await this.refreshLists();
    this.render();
    await this.replenish();
    await this.catchUp();
    gateway().on((t, d) => {
      if (t === "E2E_ENVELOPE_CREATE" && d.channel_id === this.channelId) this.serial(() => this.receive([d]));
      if (t === "RESYNC") this.serial(() => this.catchUp());
      if (t === "PREKEYS_LOW" && d.device_id === this.device.deviceId) this.serial(() => this.replenish());
    });
    this.wireComposer();
    this.wireSafety();
    this.wireSearch();
    this.wireBackup();
    this.root.dataset.e2eReady = "true";
    this.status.textContent = "Messages here are end-to-end encrypted.";
    const mine = this.device.pins[this.userId];
    if (mine && !mine.devices[this.device.deviceId]) {
      this.showWarning("This browser is not on your signed device list yet, so your contacts will not encrypt for it. Restore your key from your backup (🔑) or approve it from one of your other devices.");
    }
  }

  async register() {
    this.device = LocalDevice.create(this.userId, 20);
    const out = await api("POST", "/users/@me/devices", this.device.registration("browser"));
    this.device.deviceId = out.id;
    let list = null;
    try {
      list = await api("GET", `/users/${this.userId}/device-list`);
    } catch (error) {
      if (error.status !== 404) throw error;
    }
    if (!list) {
      const wire = this.device.signDeviceList(1, { [this.device.deviceId]: this.device.identityPub });
      await api("PUT", "/users/@me/device-list", wire);
    }
    await this.save();
  }

  async replenish(low = 10, batch = 20) {
    const mine = (await api("GET", "/users/@me/devices")).find((d) => d.id === this.device.deviceId);
    if (!mine || mine.one_time_prekeys >= low) return;
    const fresh = this.device.newOneTimePrekeys(batch);
    await this.save(); // the private halves are stored before the public ones are published
    await api("POST", `/users/@me/devices/${this.device.deviceId}/prekeys`, { one_time_prekeys: fresh });
  }

  async save() {
    this.state.device = this.device.toJson();
    await keystore.save(this.userId, this.state);
  }

  async refreshLists() {
    for (const uid of [this.userId, ...this.peers]) {
      try {
        this.device.checkDeviceList(uid, await api("GET", `/users/${uid}/device-list`));
      } catch (error) {
        if (error.status === 404) continue;
        this.showWarning(`${this.names[uid] || uid}: ${error.message}`);
        throw error;
      }
    }
    await this.checkSafetyNumbers();
  }

  async numberWith(uid) {
    const mine = this.device.pins[this.userId];
    const theirs = this.device.pins[uid];
    if (!mine || !theirs) return null;
    // Each side by the user id its signed list names (a member of another node: their home id).
    return safetyNumber(accountKey(mine.devices), mine.userId, accountKey(theirs.devices), theirs.userId);
  }

  async checkSafetyNumbers() {
    for (const uid of this.peers) {
      const number = await this.numberWith(uid);
      const verified = this.state.verified[uid];
      if (number && verified && verified !== number) {
        this.showWarning(`Your safety number with ${this.names[uid] || uid} changed. They may have a new device or a new key — compare it again before trusting this conversation.`);
        this.root.dataset.keyChanged = "true";
      }
      this.root.querySelector("[data-e2e-verified]").hidden = !(verified && verified === number);
    }
  }

  showWarning(text) {
    this.warning.hidden = false;
    this.warning.textContent = text;
  }

  async catchUp() {
    for (;;) {
      const after = this.state.cursors[this.channelId];
      const q = `device_id=${this.device.deviceId}` + (after ? `&after=${after}` : "");
      const page = await api("GET", `/channels/${this.channelId}/envelopes?${q}`);
      if (!page.length) break;
      await this.receive(page);
      if (page.length < 100) break;
    }
  }

  async receive(envelopes) {
    const rows = (this.state.messages[this.channelId] ||= []);
    for (const env of envelopes) {
      if (rows.some((m) => m.id === env.id)) continue;
      const mine = env.copies.find((cp) => cp.device_id === this.device.deviceId);
      if (!mine && env.sender.device_id === this.device.deviceId) continue;
      const row = { id: env.id, sender: env.sender.user_id, at: env.created_at };
      try {
        if (!this.device.pins[env.sender.user_id]) await this.refreshLists();
        const opened = await this.device.decrypt(env);
        const p = opened.payload;
        if (p.type === "edit" || p.type === "delete") {
          const target = rows.find((m) => m.mid === p.target && m.sender === env.sender.user_id);
          if (target) {
            if (p.type === "edit") Object.assign(target, { text: String(p.content), edited: true });
            else Object.assign(target, { text: null, deleted: true });
          }
          this.state.cursors[this.channelId] = env.id;
          continue;
        }
        Object.assign(row, { mid: p.id, text: String(p.content ?? ""), attachments: Array.isArray(p.attachments) ? p.attachments : [] });
      } catch (error) {
        row.error = error.reason || "error";
      }
      rows.push(row);
      this.state.cursors[this.channelId] = env.id;
    }
    await this.save();
    this.render();
  }

  render() {
    const rows = this.state.messages[this.channelId] || [];
    this.list.replaceChildren(
      ...rows.map((m) => {
        const li = document.createElement("li");
        li.className = "message e2e-message";
        li.dataset.message = m.id;
        const who = document.createElement("strong");
        who.className = "author";
        who.textContent = m.sender === this.userId ? "You" : this.names[m.sender] || m.sender;
        const body = document.createElement("p");
        body.className = "content";
        if (m.error) {
          li.classList.add("undecryptable");
          li.dataset.undecryptable = m.error;
          body.textContent = `🔒 This message could not be decrypted: ${REASONS[m.error] || m.error}.`;
        } else if (m.deleted) {
          body.textContent = "(message deleted)";
        } else if (this.query) {
          const [hit] = search([m], this.query);
          if (hit) body.replaceChildren(...highlighted(m.text, hit.ranges));
          else body.textContent = m.text;
        } else {
          body.textContent = m.text;
        }
        li.append(who, body);
        for (const a of m.attachments || []) li.append(this.attachmentView(a));
        return li;
      }),
    );
    const scroller = this.root.querySelector("[data-scroller]");
    if (scroller) scroller.scrollTop = scroller.scrollHeight;
    this.renderResults();
  }

  // Local search: the decrypted rows of this conversation, which live in the device state
  // (IndexedDB, AES-GCM under the non-extractable wrapping key). Nothing is sent anywhere.
  wireSearch() {
    const form = this.root.querySelector("[data-e2e-search-form]");
    const input = this.root.querySelector("[data-e2e-search]");
    if (!form || !input) return;
    this.query = "";
    input.disabled = false;
    const run = () => {
      this.query = input.value.trim();
      this.render();
    };
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      run();
      const first = this.root.querySelector("[data-e2e-result]");
      if (first) first.click();
    });
    input.addEventListener("input", run);
    input.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        input.value = "";
        run();
      }
    });
  }

  renderResults() {
    const box = this.root.querySelector("[data-e2e-results]");
    if (!box) return;
    if (!this.query) {
      box.hidden = true;
      return;
    }
    const hits = search(this.state.messages[this.channelId] || [], this.query);
    box.hidden = false;
    box.querySelector("[data-e2e-results-count]").textContent = hits.length
      ? `${hits.length === 50 ? "50+" : hits.length} message${hits.length === 1 ? "" : "s"} found on this device`
      : "No messages on this device match.";
    box.querySelector("[data-e2e-results-list]").replaceChildren(
      ...hits.map(({ row, ranges }) => {
        const li = document.createElement("li");
        const button = document.createElement("button");
        button.type = "button";
        button.dataset.e2eResult = row.id;
        const who = document.createElement("strong");
        who.textContent = `${row.sender === this.userId ? "You" : this.names[row.sender] || row.sender}: `;
        button.append(who, ...highlighted(row.text, ranges));
        button.addEventListener("click", () => this.jumpTo(row.id));
        li.append(button);
        return li;
      }),
    );
  }

  jumpTo(id) {
    for (const el of this.list.querySelectorAll(".e2e-hit")) el.classList.remove("e2e-hit");
    const target = this.list.querySelector(`[data-message="${CSS.escape(String(id))}"]`);
    if (!target) return;
    target.classList.add("e2e-hit");
    target.tabIndex = -1;
    target.scrollIntoView({ block: "center" });
    target.focus({ preventScroll: true });
  }

  // Key backup (format of united_client/e2e/backup.py): enable from a device on the signed
  // list, or restore this browser from the backup. The phrase never leaves the page.
  wireBackup() {
    const dialog = document.getElementById("backup-dialog");
    const open = this.root.querySelector("[data-backup-open]");
    if (!dialog || !open) return;
    const form = dialog.querySelector("[data-backup-form]");
    const phrase = dialog.querySelector("[data-backup-phrase]");
    const error = dialog.querySelector("[data-backup-error]");
    const done = dialog.querySelector("[data-backup-done]");
    const state = dialog.querySelector("[data-backup-state]");
    open.addEventListener("click", () =>
      this.serial(async () => {
        error.hidden = true;
        done.hidden = true;
        let has = true;
        try {
          await api("GET", "/users/@me/e2e-backup");
        } catch (e) {
          if (e.status !== 404) throw e;
          has = false;
        }
        const listed = this.device.pins[this.userId];
        const onList = !!(listed && listed.devices[this.device.deviceId]);
        state.textContent = `${has ? "Your account has a key backup." : "Your account has no key backup yet."} ${
          onList ? "This browser is on your signed device list." : "This browser is not on your signed device list: restore it from your backup."}`;
        dialog.dataset.hasBackup = String(has);
        await this.renderDevices(dialog);
        dialog.showModal();
        phrase.focus();
      }),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const action = event.submitter && event.submitter.value;
      const words = phrase.value;
      error.hidden = true;
      done.hidden = true;
      this.serial(async () => {
        try {
          if (action === "restore") {
            await this.restoreBackup(words);
            done.textContent = "Restored: this browser now has your identity key and is on your signed device list. Your other devices were signed out of encryption.";
          } else {
            await this.enableBackup(words);
            done.textContent = "Backed up: your identity key is stored sealed under your recovery phrase.";
          }
          phrase.value = "";
          done.hidden = false;
          dialog.dataset.hasBackup = "true";
        } catch (e) {
          error.textContent = e.message;
          error.hidden = false;
        }
      });
    });
    dialog.querySelector("[data-dialog-close]").addEventListener("click", () => dialog.close());
  }

  // Devices of this account that are registered but not on the signed list: this device (if
  // it is on the list) can approve one by signing the next version of the list with it.
  async renderDevices(dialog) {
    const own = dialog.querySelector("[data-own-fingerprint]");
    const list = dialog.querySelector("[data-pending-devices]");
    const error = dialog.querySelector("[data-devices-error]");
    own.textContent = fingerprint(this.device.identityPub);
    const listed = this.device.pins[this.userId];
    const canSign = !!(listed && listed.devices[this.device.deviceId]);
    const pending = (await api("GET", "/users/@me/devices")).filter(
      (d) => d.id !== this.device.deviceId && !(listed && listed.devices[d.id]),
    );
    list.replaceChildren(
      ...pending.map((d) => {
        const li = document.createElement("li");
        li.dataset.pendingDevice = d.id;
        if ((this.state.replaced || []).includes(d.id)) {
          li.textContent = `${d.name} — this browser's keys from before the restore: no longer used, and nobody encrypts for it.`;
          return li;
        }
        const text = document.createElement("span");
        const key = c.unb64(d.identity_key, 32);
        text.append(`${d.name} — not on your signed list. Its key: `);
        const code = document.createElement("code");
        code.textContent = fingerprint(key);
        text.append(code);
        li.append(text);
        if (canSign) {
          const button = document.createElement("button");
          button.type = "button";
          button.className = "secondary";
          button.dataset.approveDevice = d.id;
          button.textContent = "Approve this device";
          button.addEventListener("click", () =>
            this.serial(async () => {
              error.hidden = true;
              try {
                await this.approveDevice(d.id, key);
                await this.renderDevices(dialog);
              } catch (e) {
                error.textContent = e.message;
                error.hidden = false;
              }
            }),
          );
          li.append(button);
        }
        return li;
      }),
    );
    if (!pending.some((d) => !(this.state.replaced || []).includes(d.id))) {
      const li = document.createElement("li");
      li.className = "muted";
      li.textContent = "All your devices are on your signed device list.";
      list.append(li);
    }
  }

  async approveDevice(deviceId, identityKey) {
    const listed = this.device.checkDeviceList(this.userId, await api("GET", `/users/${this.userId}/device-list`));
    if (!listed.devices[this.device.deviceId]) throw new E2EError("This browser is not on your signed device list, so it cannot approve others.", "not_listed");
    const devices = { ...listed.devices, [String(deviceId)]: identityKey };
    const wire = signDeviceList(buildPayload(this.userId, listed.version + 1, devices, listed.recoveryKey), this.device.deviceId, this.device.identitySeed);
    await api("PUT", "/users/@me/device-list", wire);
    this.device.checkDeviceList(this.userId, wire);
    await this.save();
    await this.checkSafetyNumbers();
  }

  async phraseKeys(phrase) {
    const keys = await backup.keysFromPhrase(phrase);
    const accountKey = this.root.dataset.recoveryKey;
    if (!accountKey) throw new E2EError("Your account has no recovery phrase yet: set one up in Security settings first.", "no_recovery_key");
    if (c.b64(keys.recoveryPub) !== accountKey) throw new E2EError("That is not this account's recovery phrase.", "bad_phrase");
    return keys;
  }

  async enableBackup(phrase) {
    const keys = await this.phraseKeys(phrase);
    const listed = this.device.checkDeviceList(this.userId, await api("GET", `/users/${this.userId}/device-list`));
    if (!listed.devices[this.device.deviceId]) {
      throw new E2EError("This browser is not on your signed device list, so it cannot vouch for a backup: restore it from your backup instead.", "not_listed");
    }
    await api("PUT", "/users/@me/e2e-backup", backup.seal(keys.backupKey, this.userId, this.device.identitySeed));
    const wire = signDeviceList(
      buildPayload(this.userId, listed.version + 1, listed.devices, keys.recoveryPub), this.device.deviceId, this.device.identitySeed,
    );
    await api("PUT", "/users/@me/device-list", wire);
    this.device.checkDeviceList(this.userId, wire);
    await this.save();
  }

  async restoreBackup(phrase) {
    const keys = await this.phraseKeys(phrase);
    let sealed;
    try {
      sealed = await api("GET", "/users/@me/e2e-backup");
    } catch (e) {
      if (e.status === 404) throw new E2EError("This account has no key backup.", "no_backup");
      throw e;
    }
    const seed = backup.open(keys.backupKey, this.userId, sealed);
    const device = LocalDevice.create(this.userId, 20, seed);
    const out = await api("POST", "/users/@me/devices", device.registration("browser (restored)"));
    device.deviceId = out.id;
    let previous = null;
    try {
      previous = parseDeviceList(await api("GET", `/users/${this.userId}/device-list`));
    } catch (e) {
      if (e.status !== 404) throw e;
    }
    const payload = buildPayload(this.userId, (previous ? previous.version : 0) + 1, { [device.deviceId]: device.identityPub }, keys.recoveryPub);
    const wire = signDeviceList(payload, "recovery", keys.recoverySeed);
    await api("PUT", "/users/@me/device-list", wire);
    for (const [uid, pin] of Object.entries(this.device.pins)) if (uid !== this.userId) device.pins[uid] = pin;
    device.pins[this.userId] = parseDeviceList(wire);
    // The old devices on the list are retired (as the Python client does). The device this
    // page registered before the restore is not on the list, so nobody encrypts for it; it is
    // left registered because the node ties this sign-in session to it (revoking it would
    // sign this browser out).
    const retired = new Set(Object.keys(previous ? previous.devices : {}));
    this.state.replaced = [...(this.state.replaced || []), this.device.deviceId];
    this.device = device;
    await this.save();
    for (const old of retired) {
      if (old === device.deviceId) continue;
      try {
        await api("DELETE", `/users/@me/devices/${old}`);
      } catch (e) {
        if (e.status !== 404) throw e;
      }
    }
    this.warning.hidden = true;
    await this.refreshLists();
    await this.catchUp();
  }

  attachmentView(a) {
    const box = document.createElement("div");
    box.className = "e2e-attachment";
    const button = document.createElement("button");
    button.type = "button";
    button.className = "secondary";
    button.dataset.e2eAttachment = a.id;
    button.textContent = `🔒 ${a.name} (${a.size} bytes) — decrypt`;
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        const response = await fetch(`/api/v1/attachments/${a.id}/content`, { credentials: "same-origin" });
        if (!response.ok) throw Object.assign(new Error(`download failed (${response.status})`), { reason: "unavailable" });
        const plain = await decryptFile(new Uint8Array(await response.arrayBuffer()), a);
        const url = URL.createObjectURL(new Blob([plain], { type: a.type || "application/octet-stream" }));
        const link = document.createElement("a");
        link.href = url;
        link.download = a.name;
        link.textContent = `Save ${a.name}`;
        link.dataset.e2eSaved = a.name;
        box.replaceChildren(link);
        if (/^image\/(png|jpeg|gif|webp)$/.test(a.type || "")) {
          const img = document.createElement("img");
          img.src = url;
          img.alt = a.name;
          img.className = "e2e-image";
          box.append(img);
        }
      } catch (error) {
        button.disabled = false;
        box.dataset.undecryptable = error.reason || "error";
        button.textContent = `🔒 ${a.name}: could not be decrypted (${REASONS[error.reason] || error.message})`;
      }
    });
    box.append(button);
    return box;
  }

  async sendFile(file) {
    const data = new Uint8Array(await file.arrayBuffer());
    const [blob, descriptor] = await encryptFile(data);
    const form = new FormData();
    form.append("file", new Blob([blob], { type: "application/octet-stream" }), "blob");
    form.append("scope", `dm:${this.channelId}`);
    form.append("encrypted", "true");
    const response = await fetch("/api/v1/upload", {
      method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": csrfToken() }, body: form,
    });
    const uploaded = await response.json();
    if (!response.ok) throw new Error(uploaded.message || `upload failed (${response.status})`);
    const attachment = { ...descriptor, id: uploaded.id, name: file.name, type: file.type || "" };
    await this.send("", [attachment]);
  }

  async targets() {
    await this.refreshLists();
    const out = [];
    for (const uid of [...this.peers, this.userId]) {
      const listed = this.device.pins[uid];
      if (!listed) continue;
      const wanted = Object.keys(listed.devices).filter((d) => d !== this.device.deviceId);
      if (wanted.some((d) => !this.device.hasSession(d))) {
        const [bundles, warnings] = this.device.trustedBundles(uid, await api("GET", `/users/${uid}/keys`));
        if (warnings.length) this.showWarning(`${this.names[uid] || uid}: ${warnings.join("; ")}`);
        for (const b of bundles) if (wanted.includes(b.deviceId) && !this.device.hasSession(b.deviceId)) await this.device.startSession(b);
      }
      for (const d of wanted) if (this.device.hasSession(d)) out.push([uid, d]);
    }
    return out;
  }

  async send(text, attachments = []) {
    const id = crypto.randomUUID();
    const targets = await this.targets();
    if (!targets.some(([uid]) => uid !== this.userId)) throw new Error("The other person has no device that can receive encrypted messages yet.");
    const env = await this.device.encrypt(this.channelId, targets, { type: "message", id, content: text, attachments });
    env.nonce = id.replaceAll("-", "");
    const stored = await api("POST", `/channels/${this.channelId}/envelopes`, env);
    (this.state.messages[this.channelId] ||= []).push({ id: stored.id, mid: id, sender: this.userId, text, attachments, at: stored.created_at });
    await this.save();
    this.render();
  }

  wireComposer() {
    const form = this.root.querySelector("[data-e2e-composer]");
    const input = form.querySelector("textarea");
    const error = form.querySelector("[data-composer-error]");
    const submit = () => {
      const text = input.value;
      if (!text.trim()) return;
      input.value = "";
      error.hidden = true;
      this.serial(async () => {
        try {
          await this.send(text);
        } catch (e) {
          error.hidden = false;
          error.textContent = e.message;
          input.value = text;
        }
      });
    };
    const picker = form.querySelector("[data-e2e-file]");
    if (picker) {
      picker.addEventListener("change", () => {
        const chosen = [...picker.files];
        picker.value = "";
        for (const file of chosen) {
          this.serial(async () => {
            try {
              await this.sendFile(file);
            } catch (e) {
              error.hidden = false;
              error.textContent = e.message;
            }
          });
        }
      });
    }
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      submit();
    });
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        submit();
      }
    });
  }

  wireSafety() {
    const dialog = document.getElementById("safety-dialog");
    const open = this.root.querySelector("[data-safety-open]");
    if (!dialog || !open) return;
    const peer = this.peers[0];
    open.addEventListener("click", () =>
      this.serial(async () => {
        await this.refreshLists();
        const number = await this.numberWith(peer);
        const digits = dialog.querySelector("[data-safety-number]");
        const qr = dialog.querySelector("[data-safety-qr]");
        if (!number) {
          digits.textContent = "No safety number yet: this person has not set up encryption.";
          qr.replaceChildren();
        } else {
          digits.textContent = number.match(/.{5}/g).join(" ");
          const code = qrcode(0, "M");
          code.addData(number);
          code.make();
          qr.innerHTML = code.createSvgTag({ cellSize: 4, margin: 2, scalable: true });
        }
        dialog.dataset.number = number || "";
        dialog.showModal();
      }),
    );
    dialog.querySelector("[data-safety-verify]").addEventListener("click", () =>
      this.serial(async () => {
        if (!dialog.dataset.number) return;
        this.state.verified[peer] = dialog.dataset.number;
        this.warning.hidden = true;
        delete this.root.dataset.keyChanged;
        await this.save();
        await this.checkSafetyNumbers();
        dialog.close();
      }),
    );
    dialog.querySelector("[data-dialog-close]").addEventListener("click", () => dialog.close());
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const root = document.querySelector("[data-e2e-pane]");
  if (!root) return;
  const chat = new E2EChat(root);
  window.unitedE2E = chat;
  chat.start().catch((error) => chat.fail(error));
});
