// Key management for the E2E DM page: this browser's device (registration, one-time prekeys),
// the signed device lists of everyone in the conversation (pinned, checked on every read),
// safety numbers, sessions with the devices a message goes to, approving another device of the
// account, and the key backup (format of united_client/e2e/backup.py). The recovery phrase
// never leaves the page.
import { api } from "../api.js";
import * as c from "../e2e/primitives.js";
import * as backup from "../e2e/backup.js";
import { LocalDevice } from "../e2e/device.js";
import { buildPayload, parse as parseDeviceList, sign as signDeviceList } from "../e2e/devicelist.js";
import { E2EError } from "../e2e/errors.js";
import { accountKey, safetyNumber } from "../e2e/safety.js";
import { restoreArchive, syncArchive } from "./archive.js";

// One device per browser and account, even with several tabs starting at once: the check for a
// saved device and the registration run under a lock the browser holds across tabs.
export function withDeviceLock(userId, fn) {
  if (!navigator.locks) return fn();
  return navigator.locks.request(`united-e2e-device:${userId}`, fn);
}

// One tab of a browser holds the device state at a time. Each DM page keeps the whole state
// (ratchets, prekeys, drafts) in memory and writes it back as it changes, so two DM tabs would
// overwrite each other's newer ratchet steps; the second waits, says why, and takes over by
// itself when the first closes. Resolves once this tab holds it (for the page's lifetime).
export function holdDeviceState(userId, onWait) {
  if (!navigator.locks) return Promise.resolve();
  const name = `united-e2e-state:${userId}`;
  const forever = () => new Promise(() => {});
  return new Promise((resolve) => {
    navigator.locks.request(name, { ifAvailable: true }, (lock) => {
      if (lock) {
        resolve();
        return forever();
      }
      onWait();
      navigator.locks.request(name, () => {
        resolve();
        return forever();
      });
      return null;
    });
  });
}

// Registration survives being cut short (the member navigates away mid-way): the private
// halves are stored before anything is published and `state.registering` stays set until the
// device is on the account's signed list, so the next page resumes with the same keys instead
// of publishing a second device the list never names. `first`: the caller saw the account has
// no device at all, so it has no signed list either (no lookup that could only answer 404).
export async function register(chat, { first = false } = {}) {
  chat.device ||= LocalDevice.create(chat.userId, 20);
  chat.state.registering = true;
  await chat.save();
  if (!chat.device.deviceId) {
    // Cut short after the POST but before its answer was stored: the node has this key already.
    const mine = c.b64(chat.device.identityPub);
    const known = first ? null : (await api("GET", "/api/v1/users/@me/devices")).find((d) => d.identity_key === mine);
    const out = known || (await api("POST", "/api/v1/users/@me/devices", chat.device.registration("browser")));
    chat.device.deviceId = out.id;
    await chat.save();
  }
  let list = null;
  try {
    if (!first) list = await api("GET", `/api/v1/users/${chat.userId}/device-list`);
  } catch (error) {
    if (error.status !== 404) throw error;
  }
  if (!list) {
    const wire = chat.device.signDeviceList(1, { [chat.device.deviceId]: chat.device.identityPub });
    await api("PUT", "/api/v1/users/@me/device-list", wire);
  }
  delete chat.state.registering;
  await chat.save();
}

export async function replenish(chat, low = 10, batch = 20) {
  const mine = (await api("GET", "/api/v1/users/@me/devices")).find((d) => d.id === chat.device.deviceId);
  if (!mine || mine.one_time_prekeys >= low) return;
  const fresh = chat.device.newOneTimePrekeys(batch);
  await chat.save(); // the private halves are stored before the public ones are published
  await api("POST", `/api/v1/users/@me/devices/${chat.device.deviceId}/prekeys`, { one_time_prekeys: fresh });
}

export async function refreshLists(chat) {
  for (const uid of [chat.userId, ...chat.peers]) {
    try {
      chat.device.checkDeviceList(uid, await api("GET", `/api/v1/users/${uid}/device-list`));
    } catch (error) {
      if (error.status === 404) continue;
      chat.showWarning(`${chat.names[uid] || uid}: ${error.message}`);
      throw error;
    }
  }
  await checkSafetyNumbers(chat);
}

export async function numberWith(chat, uid) {
  const mine = chat.device.pins[chat.userId];
  const theirs = chat.device.pins[uid];
  if (!mine || !theirs) return null;
  // Each side by the user id its signed list names (a member of another node: their home id).
  return safetyNumber(accountKey(mine.devices), mine.userId, accountKey(theirs.devices), theirs.userId);
}

export async function checkSafetyNumbers(chat) {
  for (const uid of chat.peers) {
    const number = await numberWith(chat, uid);
    const verified = chat.state.verified[uid];
    if (number && verified && verified !== number) {
      chat.showWarning(`Your safety number with ${chat.names[uid] || uid} changed. They may have a new device or a new key — compare it again before trusting this conversation.`);
      chat.root.dataset.keyChanged = "true";
    }
    chat.root.querySelector("[data-e2e-verified]").hidden = !(verified && verified === number);
  }
}

// The [user id, device id] pairs a new message is encrypted for, starting a session (X3DH on
// the peer's published bundle, checked against their signed list) where there is none yet.
export async function targets(chat) {
  await refreshLists(chat);
  const out = [];
  for (const uid of [...chat.peers, chat.userId]) {
    const listed = chat.device.pins[uid];
    if (!listed) continue;
    // (Minus devices the node said were revoked while still on the list: envelopes.js.)
    const wanted = Object.keys(listed.devices).filter((d) => d !== chat.device.deviceId && !chat.revoked.has(d));
    if (wanted.some((d) => !chat.device.hasSession(d))) {
      const [bundles, warnings] = chat.device.trustedBundles(uid, await api("GET", `/api/v1/users/${uid}/keys`));
      if (warnings.length) chat.showWarning(`${chat.names[uid] || uid}: ${warnings.join("; ")}`);
      for (const b of bundles) if (wanted.includes(b.deviceId) && !chat.device.hasSession(b.deviceId)) await chat.device.startSession(b);
    }
    for (const d of wanted) if (chat.device.hasSession(d)) out.push([uid, d]);
  }
  return out;
}

export async function approveDevice(chat, deviceId, identityKey) {
  const listed = chat.device.checkDeviceList(chat.userId, await api("GET", `/api/v1/users/${chat.userId}/device-list`));
  if (!listed.devices[chat.device.deviceId]) throw new E2EError("This browser is not on your signed device list, so it cannot approve others.", "not_listed");
  const devices = { ...listed.devices, [String(deviceId)]: identityKey };
  const wire = signDeviceList(buildPayload(chat.userId, listed.version + 1, devices, listed.recoveryKey), chat.device.deviceId, chat.device.identitySeed);
  await api("PUT", "/api/v1/users/@me/device-list", wire);
  chat.device.checkDeviceList(chat.userId, wire);
  await chat.save();
  await checkSafetyNumbers(chat);
}

async function phraseKeys(chat, phrase) {
  const keys = await backup.keysFromPhrase(phrase);
  const accountRecoveryKey = chat.root.dataset.recoveryKey;
  if (!accountRecoveryKey) throw new E2EError("Your account has no recovery phrase yet: set one up in Security settings first.", "no_recovery_key");
  if (c.b64(keys.recoveryPub) !== accountRecoveryKey) throw new E2EError("That is not this account's recovery phrase.", "bad_phrase");
  return keys;
}

export async function enableBackup(chat, phrase) {
  const keys = await phraseKeys(chat, phrase);
  const listed = chat.device.checkDeviceList(chat.userId, await api("GET", `/api/v1/users/${chat.userId}/device-list`));
  if (!listed.devices[chat.device.deviceId]) {
    throw new E2EError("This browser is not on your signed device list, so it cannot vouch for a backup: restore it from your backup instead.", "not_listed");
  }
  await api("PUT", "/api/v1/users/@me/e2e-backup", backup.seal(keys.backupKey, chat.userId, chat.device.identitySeed));
  const wire = signDeviceList(
    buildPayload(chat.userId, listed.version + 1, listed.devices, keys.recoveryPub), chat.device.deviceId, chat.device.identitySeed,
  );
  await api("PUT", "/api/v1/users/@me/device-list", wire);
  chat.device.checkDeviceList(chat.userId, wire);
  // From now on this browser keeps the history backup: everything it holds goes up now.
  chat.state.historyKey = c.b64(keys.historyKey);
  chat.state.historySent = {};
  await chat.save();
  await syncArchive(chat);
}

// Replaces this browser's device by a new one holding the backed-up identity key, signs a list
// naming only it with the recovery key, and retires the old devices. The caller loads the
// conversation again afterwards.
export async function restoreBackup(chat, phrase) {
  const keys = await phraseKeys(chat, phrase);
  let sealed;
  try {
    sealed = await api("GET", "/api/v1/users/@me/e2e-backup");
  } catch (e) {
    if (e.status === 404) throw new E2EError("This account has no key backup.", "no_backup");
    throw e;
  }
  const seed = backup.open(keys.backupKey, chat.userId, sealed);
  const device = LocalDevice.create(chat.userId, 20, seed);
  const out = await api("POST", "/api/v1/users/@me/devices", device.registration("browser (restored)"));
  device.deviceId = out.id;
  let previous = null;
  try {
    previous = parseDeviceList(await api("GET", `/api/v1/users/${chat.userId}/device-list`));
  } catch (e) {
    if (e.status !== 404) throw e;
  }
  const payload = buildPayload(chat.userId, (previous ? previous.version : 0) + 1, { [device.deviceId]: device.identityPub }, keys.recoveryPub);
  const wire = signDeviceList(payload, "recovery", keys.recoverySeed);
  await api("PUT", "/api/v1/users/@me/device-list", wire);
  for (const [uid, pin] of Object.entries(chat.device.pins)) if (uid !== chat.userId) device.pins[uid] = pin;
  device.pins[chat.userId] = parseDeviceList(wire);
  // The old devices on the list are retired (as the Python client does). The device this
  // page registered before the restore is not on the list, so nobody encrypts for it; it is
  // left registered because the node ties this sign-in session to it (revoking it would
  // sign this browser out).
  const retired = new Set(Object.keys(previous ? previous.devices : {}));
  chat.state.replaced = [...(chat.state.replaced || []), chat.device.deviceId];
  chat.device = device;
  await chat.save();
  for (const old of retired) {
    if (old === device.deviceId) continue;
    try {
      await api("DELETE", `/api/v1/users/@me/devices/${old}`);
    } catch (e) {
      if (e.status !== 404) throw e;
    }
  }
  chat.warning.hidden = true;
  chat.unlisted = false;
  await refreshLists(chat);
  // History comes back with the backup: what any device of the account sealed under this
  // phrase, merged into this browser's conversations.
  return restoreArchive(chat, keys.historyKey, [device.deviceId]);
}
