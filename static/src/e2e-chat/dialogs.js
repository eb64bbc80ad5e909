// The E2E page's two dialogs: the safety number (60 digits + QR, drawn here from the pinned
// public keys, so a lying node cannot draw it, and "mark as verified"), and keys & devices
// (key backup enable/restore, approving this account's devices that are not on its list).
import qrcode from "qrcode-generator";

import { api } from "../api.js";
import * as c from "../e2e/primitives.js";
import { catchUp } from "./history.js";
import { render } from "./view.js";
import { approveDevice, checkSafetyNumbers, enableBackup, numberWith, refreshLists, restoreBackup } from "./keys.js";

// An identity key as people compare it: hex in groups of four.
function fingerprint(key) {
  return [...key].map((b) => b.toString(16).padStart(2, "0")).join("").match(/.{4}/g).join(" ");
}

export function wireSafety(chat) {
  const dialog = document.getElementById("safety-dialog");
  const open = chat.root.querySelector("[data-safety-open]");
  if (!dialog || !open) return;
  const peer = chat.peers[0];
  open.addEventListener("click", () =>
    chat.serial(async () => {
      await refreshLists(chat);
      const number = await numberWith(chat, peer);
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
    chat.serial(async () => {
      if (!dialog.dataset.number) return;
      chat.state.verified[peer] = dialog.dataset.number;
      chat.warning.hidden = true;
      delete chat.root.dataset.keyChanged;
      await chat.save();
      await checkSafetyNumbers(chat);
      dialog.close();
    }),
  );
  dialog.querySelector("[data-dialog-close]").addEventListener("click", () => dialog.close());
}

// Enable the backup from a device on the signed list, or restore this browser from it.
export function wireBackup(chat) {
  const dialog = document.getElementById("backup-dialog");
  const open = chat.root.querySelector("[data-backup-open]");
  if (!dialog || !open) return;
  const form = dialog.querySelector("[data-backup-form]");
  const phrase = dialog.querySelector("[data-backup-phrase]");
  const error = dialog.querySelector("[data-backup-error]");
  const done = dialog.querySelector("[data-backup-done]");
  const state = dialog.querySelector("[data-backup-state]");
  open.addEventListener("click", () =>
    chat.serial(async () => {
      error.hidden = true;
      done.hidden = true;
      let has = true;
      try {
        await api("GET", "/api/v1/users/@me/e2e-backup");
      } catch (e) {
        if (e.status !== 404) throw e;
        has = false;
      }
      const listed = chat.device.pins[chat.userId];
      const onList = !!(listed && listed.devices[chat.device.deviceId]);
      state.textContent = `${has ? "Your account has a key backup." : "Your account has no key backup yet."} ${
        onList ? "This browser is on your signed device list." : "This browser is not on your signed device list: restore it from your backup."}`;
      dialog.dataset.hasBackup = String(has);
      await renderDevices(chat, dialog);
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
    chat.serial(async () => {
      try {
        if (action === "restore") {
          const back = await restoreBackup(chat, words);
          await catchUp(chat);
          render(chat);
          done.textContent = `Restored: this browser now has your identity key and is on your signed device list. ${
            back ? `${back} earlier message${back === 1 ? "" : "s"} came back from your history backup.` : "Your history backup had no earlier messages."
          } Your other devices were signed out of encryption.`;
        } else {
          await enableBackup(chat, words);
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
async function renderDevices(chat, dialog) {
  const own = dialog.querySelector("[data-own-fingerprint]");
  const list = dialog.querySelector("[data-pending-devices]");
  const error = dialog.querySelector("[data-devices-error]");
  own.textContent = fingerprint(chat.device.identityPub);
  const listed = chat.device.pins[chat.userId];
  const canSign = !!(listed && listed.devices[chat.device.deviceId]);
  const pending = (await api("GET", "/api/v1/users/@me/devices")).filter(
    (d) => d.id !== chat.device.deviceId && !(listed && listed.devices[d.id]),
  );
  list.replaceChildren(
    ...pending.map((d) => {
      const li = document.createElement("li");
      li.dataset.pendingDevice = d.id;
      if ((chat.state.replaced || []).includes(d.id)) {
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
          chat.serial(async () => {
            error.hidden = true;
            try {
              await approveDevice(chat, d.id, key);
              await renderDevices(chat, dialog);
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
  if (!pending.some((d) => !(chat.state.replaced || []).includes(d.id))) {
    const li = document.createElement("li");
    li.className = "muted";
    li.textContent = "All your devices are on your signed device list.";
    list.append(li);
  }
}
