// The devices list of Security settings. Removing a device that is on the account's signed
// device list must take it off the list too, or contacts keep encrypting for it (and the node
// refuses those copies): this browser signs the next list without it, then the form revokes
// it on the node. Only a browser that is itself on the list can sign; any other is told so.
import { api } from "./api.js";
import * as c from "./e2e/primitives.js";
import { LocalDevice } from "./e2e/device.js";
import { buildPayload, sign as signDeviceList } from "./e2e/devicelist.js";
import * as keystore from "./e2e/keystore.js";

async function ownList(device, userId) {
  try {
    const wire = await api("GET", `/api/v1/users/${userId}/device-list`);
    return device ? device.checkDeviceList(userId, wire) : null;
  } catch (error) {
    if (error.status === 404) return null;
    throw error;
  }
}

async function start(box, userId) {
  await c.ready();
  const saved = await keystore.load(userId);
  const device = saved && !saved.registering ? LocalDevice.fromJson(saved.device) : null;
  const listed = await ownList(device, userId);
  const canSign = !!(device && listed && listed.devices[device.deviceId]);
  const error = box.querySelector("[data-devices-error]");
  for (const row of box.querySelectorAll("[data-device-row]")) {
    const id = row.dataset.deviceRow;
    const status = row.querySelector("[data-device-status]");
    const onList = !!(listed && listed.devices[id]);
    const parts = [];
    if (device && id === device.deviceId) parts.push("this browser");
    if (listed) parts.push(onList ? "on your signed device list" : "not on your signed device list");
    status.textContent = parts.length ? `(${parts.join(", ")})` : "";
    row.dataset.onList = String(onList);
    const form = row.querySelector("[data-revoke-device]");
    form.addEventListener("submit", async (event) => {
      if (!onList || form.dataset.signed) return;
      event.preventDefault();
      error.hidden = true;
      try {
        if (!canSign) throw new Error("This device is on your signed device list, and this browser is not, so it cannot sign the list without it: remove it from one of your devices on the list.");
        if (id === device.deviceId) throw new Error("This browser cannot sign itself off your device list: remove it from another of your devices.");
        const fresh = await ownList(device, userId);
        const devices = { ...fresh.devices };
        delete devices[id];
        const payload = buildPayload(userId, fresh.version + 1, devices, fresh.recoveryKey);
        await api("PUT", "/api/v1/users/@me/device-list", signDeviceList(payload, device.deviceId, device.identitySeed));
        form.dataset.signed = "true";
        form.submit();
      } catch (e) {
        error.textContent = e.message;
        error.hidden = false;
      }
    });
  }
  box.dataset.e2eDevicesReady = "true";
}

document.addEventListener("DOMContentLoaded", () => {
  const box = document.querySelector("[data-e2e-devices]");
  const meta = document.querySelector('meta[name="united-user"]');
  if (!box || !meta || !window.indexedDB || !window.crypto?.subtle) return;
  start(box, meta.content).catch((error) => console.warn("Device list not checked:", error.message));
});
