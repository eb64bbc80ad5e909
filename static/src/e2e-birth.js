// Keys at birth: the first page this browser shows a signed-in member (after sign-up, or the
// first sign-in of a new browser) creates its E2E device — identity key, signed prekey and
// one-time prekeys — and publishes the public halves, so a DM to them works before they ever
// open the DM page. The private halves go to IndexedDB wrapped by a non-extractable key, the
// same record the DM page then loads (e2e-chat.js). The DM page does its own start; two tabs
// opening at once make one device, not two (the lock in e2e-chat/keys.js).
import { api } from "./api.js";
import * as c from "./e2e/primitives.js";
import { LocalDevice } from "./e2e/device.js";
import * as keystore from "./e2e/keystore.js";
import { register, withDeviceLock } from "./e2e-chat/keys.js";

export async function ensureDevice(userId) {
  await c.ready();
  await withDeviceLock(userId, async () => {
    const saved = await keystore.load(userId);
    if (saved && !saved.registering) return;
    const holder = {
      userId,
      // A registration cut short resumes with the keys it stored (e2e-chat/keys.js register).
      device: saved ? LocalDevice.fromJson(saved.device) : null,
      state: saved || { messages: {}, cursors: {}, verified: {} },
      async save() {
        this.state.device = this.device.toJson();
        await keystore.save(this.userId, this.state);
      },
    };
    const devices = await api("GET", "/api/v1/users/@me/devices");
    await register(holder, { first: devices.length === 0 });
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const meta = document.querySelector('meta[name="united-user"]');
  // The DM page makes its device itself, as part of its start.
  if (!meta || !meta.content || document.querySelector("[data-e2e-pane], [data-e2e-home]")) return;
  if (!window.indexedDB || !window.crypto?.subtle) return; // nowhere to keep private keys
  const userId = meta.content;
  ensureDevice(userId)
    .then(() => {
      document.documentElement.dataset.e2eDevice = "ready";
    })
    .catch((error) => {
      // Not fatal here: the DM page tries again and shows what went wrong.
      console.warn("E2E device not created yet:", error.message);
    });
});
