// The E2E DM page (/app/dms/<id>/): the device's keys live in IndexedDB wrapped by a
// non-extractable WebCrypto key; messages are encrypted here before they leave and decrypted
// here when they arrive; the node only ever sees envelopes. Shows a lock, the safety number
// (60 digits + QR, drawn here from the pinned public keys, so a lying node cannot draw it),
// "mark as verified", a warning when the number changes, and a clear state for a message that
// cannot be decrypted.
//
// This file holds the page's state and its start; the work is split by concern under
// e2e-chat/: keys.js (device, device lists, safety numbers, sessions, backup), envelopes.js
// (encrypt, decrypt, encrypted files), history.js (catch-up and arriving envelopes), view.js
// (drawing rows, search results, attachments), composer.js and dialogs.js (the DOM glue).
// Every change to the state runs through serial(), one at a time, as the ratchet needs.
import * as c from "./e2e/primitives.js";
import { LocalDevice } from "./e2e/device.js";
import * as keystore from "./e2e/keystore.js";
import { gateway } from "./gateway.js";
import { askResend, react } from "./e2e-chat/actions.js";
import { wireComposer, wireSearch } from "./e2e-chat/composer.js";
import { wireBackup, wireSafety } from "./e2e-chat/dialogs.js";
import { deleteMessage, editBox, editable, startEdit } from "./e2e-chat/edits.js";
import { syncArchiveQuietly } from "./e2e-chat/archive.js";
import { offerApprovals, ownListChanged, showOwnCode } from "./e2e-chat/approvals.js";
import { catchUp, receive } from "./e2e-chat/history.js";
import { holdDeviceState, refreshLists, register, replenish, withDeviceLock } from "./e2e-chat/keys.js";
import { RECHECK_MS, retryPending, showWaiting } from "./e2e-chat/pending.js";
import { render } from "./e2e-chat/view.js";
import { markRead, reloadList, renderSidebar, sidebarChannels, wireNewMessage } from "./e2e-chat/sidebar.js";

class E2EChat {
  // `root` is a conversation ([data-e2e-pane]) or the DM list page ([data-e2e-home]), where
  // only the sidebar's previews and unread counts are drawn.
  constructor(root) {
    this.root = root;
    this.channelId = root.dataset.channelId || null;
    this.userId = root.dataset.userId;
    this.peers = JSON.parse(root.dataset.recipients || "[]").filter((id) => id !== this.userId);
    this.names = JSON.parse(root.dataset.names || "{}");
    this.list = root.querySelector("[data-e2e-messages]");
    this.status = root.querySelector("[data-e2e-status]");
    this.warning = root.querySelector("[data-e2e-warning]");
    this.queue = Promise.resolve();
    this.revoked = new Set();
    // What a message's toolbar and failure notice do (render.js calls these).
    this.act = {
      react: (row, emoji, on) => react(this, row, emoji, on),
      askResend: (row) => askResend(this, row),
      editable: (row) => editable(this, row),
      edit: (row) => startEdit(this, row),
      remove: (row) => deleteMessage(this, row),
      editBox: (row) => editBox(this, row),
    };
  }

  serial(fn) {
    this.queue = this.queue.then(fn).catch((error) => this.fail(error));
    return this.queue;
  }

  fail(error) {
    if (error.status === 401) {
      // The session ended under the page: signed out elsewhere, or this browser's device was
      // removed (which signs it out). Nothing is wrong with the encryption.
      console.warn(error.message);
      if (this.status) this.status.textContent = "This browser is signed out (it may have been removed from your devices). Sign in again to continue.";
      return;
    }
    console.error(error);
    if (this.status) this.status.textContent = `Encryption error: ${error.message}`;
  }

  showWarning(text) {
    if (!this.warning) return;
    this.warning.hidden = false;
    this.warning.textContent = text;
  }

  // Who is in a group changes while the page is open: the next message is encrypted for the
  // members as they are now (the node refuses a copy for someone who left).
  membership(t, user) {
    if (t === "CHANNEL_RECIPIENT_REMOVE") {
      this.peers = this.peers.filter((id) => id !== user.id);
      this.root.querySelector(`[data-member="${user.id}"]`)?.remove();
    } else if (t === "CHANNEL_RECIPIENT_ADD" && !this.peers.includes(user.id)) {
      this.peers.push(user.id);
      this.names[user.id] = user.global_name || user.username;
      this.serial(() => refreshLists(this));
    } else if (t === "CHANNEL_DELETE") {
      this.peers = [];
      this.root.querySelector("[data-e2e-composer] textarea").disabled = true;
      this.showWarning("You are no longer in this conversation.");
    }
  }

  async save() {
    this.state.device = this.device.toJson();
    await keystore.save(this.userId, this.state);
  }

  async catchUpAll() {
    if (this.channelId) await catchUp(this);
    await this.catchUpOthers();
  }

  // A conversation that cannot be caught up (a member's device list fails its checks) must
  // not stop the open one: it keeps the preview it had.
  async catchUpOthers() {
    for (const id of sidebarChannels()) {
      if (id === this.channelId) continue;
      try {
        await catchUp(this, id);
      } catch (error) {
        console.warn(`DM ${id} not caught up:`, error.message);
      }
    }
  }

  // An envelope for any of this member's conversations; one the list does not show yet is
  // a new conversation, so the list is drawn again first.
  async arrived(envelope) {
    const id = envelope.channel_id;
    if (id !== this.channelId && !sidebarChannels().includes(id)) await reloadList();
    await receive(this, [envelope], id);
  }

  async start() {
    await c.ready();
    // Held by another tab, or still by the page this one replaced (released as it unloads):
    // say so only if it is not ours within a second.
    let notice = null;
    await holdDeviceState(this.userId, () => {
      notice = setTimeout(() => {
        this.root.dataset.e2eWaitingTab = "true";
        this.showWarning(
          "Your direct messages are open in another tab of this browser. Use that tab, or close it: this one takes over when it closes.",
        );
      }, 1000);
    });
    clearTimeout(notice);
    if (this.root.dataset.e2eWaitingTab) {
      delete this.root.dataset.e2eWaitingTab;
      if (this.warning) this.warning.hidden = true;
    }
    await withDeviceLock(this.userId, async () => {
      const saved = await keystore.load(this.userId);
      this.state = saved || { messages: {}, cursors: {}, verified: {} };
      if (saved) this.device = LocalDevice.fromJson(saved.device);
      // None yet, or one whose registration was cut short: register (resuming its keys).
      if (!saved || saved.registering) await register(this);
    });
    await refreshLists(this);
    render(this);
    renderSidebar(this);
    await replenish(this);
    if (this.channelId) await catchUp(this);
    if (markRead(this)) await this.save();
    gateway().on((t, d) => {
      if (t === "E2E_ENVELOPE_CREATE") this.serial(() => this.arrived(d));
      if (t === "RESYNC") {
        this.serial(() => this.catchUpAll());
        retryPending(this);
      }
      if (t === "PREKEYS_LOW" && d.device_id === this.device.deviceId) this.serial(() => replenish(this));
      if (t === "DEVICE_REVOKED" && d.device_id === this.device.deviceId) {
        this.showWarning("This browser was removed from your devices: it receives no new encrypted messages.");
      } else if (t === "DEVICE_CREATE" || t === "DEVICE_REVOKED") this.serial(() => offerApprovals(this));
      if (t === "E2E_DEVICE_LIST_UPDATE" && d.user_id === this.userId) this.serial(() => ownListChanged(this));
      if (t === "E2E_DEVICE_LIST_UPDATE" && this.peers.includes(d.user_id)) retryPending(this);
      if (d && d.channel_id === this.channelId) this.membership(t, d.user);
      if (t === "CHANNEL_DELETE" && d.id === this.channelId) this.membership(t, null);
    });
    document.addEventListener("visibilitychange", () =>
      this.serial(async () => {
        if (!markRead(this)) return;
        await this.save();
        renderSidebar(this);
      }),
    );
    if (!this.channelId) {
      // The list page: the conversations' previews and unread counts are its content.
      await this.serial(() => this.catchUpOthers());
      this.root.dataset.e2eReady = "true";
      return;
    }
    wireComposer(this);
    wireSafety(this);
    wireSearch(this);
    wireBackup(this);
    this.root.dataset.e2eReady = "true";
    this.status.textContent = "Messages here are end-to-end encrypted.";
    await this.serial(async () => {
      await showOwnCode(this);
      await offerApprovals(this);
      showWaiting(this);
    });
    // Messages kept from an earlier visit go now if they can; the re-check covers a device
    // that appears while no gateway event reaches this page.
    retryPending(this);
    setInterval(() => retryPending(this), RECHECK_MS);
    // The other conversations in the list, for their previews and unread counts.
    this.serial(() => this.catchUpOthers());
    this.serial(() => syncArchiveQuietly(this));
  }
}

document.addEventListener("DOMContentLoaded", () => {
  wireNewMessage();
  const root = document.querySelector("[data-e2e-pane], [data-e2e-home]");
  if (!root) return;
  const chat = new E2EChat(root);
  window.unitedE2E = chat;
  chat.start().catch((error) => chat.fail(error));
});
