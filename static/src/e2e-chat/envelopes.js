// Envelopes in and out: a message is encrypted here for every target device before it leaves,
// an arriving envelope is opened with this device's sessions, and an attachment travels as an
// encrypted blob whose key rides inside the message. The node only ever sees ciphertext.
import { api } from "../api.js";
import { decryptFile, encryptFile } from "../e2e/files.js";
import { targets } from "./keys.js";

// Encrypts and posts one message payload under its client id `id` (also the envelope's
// nonce, so sending it again after a reload stores nothing new). `extra` adds fields to the
// payload (`reply_to`: the client id of the message it answers). Returns the stored envelope,
// or null when no other member has a device that can receive it yet: the caller keeps it.
export function post(chat, text, attachments, id, extra = {}) {
  return postPayload(chat, { ...extra, type: "message", id, content: text, attachments }, id.replaceAll("-", ""));
}

// Encrypts any payload (a message, or a control message such as a reaction: actions.js) for
// every target device and posts it under `nonce`; null when no other member has a device.
// A device still on someone's signed list but revoked on the node (removed through the API,
// which cannot sign their list) is refused by the node; it is left out and the rest sent.
export async function postPayload(chat, payload, nonce) {
  for (;;) {
    const to = await targets(chat);
    // Who has no device to encrypt for: what the waiting notice names (pending.js).
    chat.waitingFor = chat.peers.filter((p) => !to.some(([uid]) => uid === p));
    if (!to.some(([uid]) => uid !== chat.userId)) return null;
    const env = await chat.device.encrypt(chat.channelId, to, payload);
    env.nonce = nonce;
    try {
      return await api("POST", `/api/v1/channels/${chat.channelId}/envelopes`, env);
    } catch (error) {
      const gone = await revokedTargets(error, to);
      if (!gone.length) throw error;
      for (const d of gone) {
        chat.revoked.add(d);
        chat.device.forgetDevice(d);
      }
    }
  }
}

// Which targets the node no longer hands keys out for (its bundles list active devices only):
// asked only when it refused a copy as revoked.
async function revokedTargets(error, to) {
  const problems = Object.values((error && error.errors) || {}).flat().map(String);
  if (error.status !== 400 || !problems.some((p) => /revoked/i.test(p))) return [];
  const out = [];
  for (const uid of new Set(to.map(([u]) => u))) {
    const active = new Set(((await api("GET", `/api/v1/users/${uid}/keys`)).devices || []).map((d) => String(d.device_id)));
    for (const [u, d] of to) if (u === uid && !active.has(String(d))) out.push(String(d));
  }
  return out;
}

// Throws an error with a `reason` (errors.js) when the envelope cannot be opened.
export async function open(chat, env) {
  return (await chat.device.decrypt(env)).payload;
}

// Uploads the file encrypted; returns the descriptor a message carries to open it again.
export async function upload(chat, file) {
  const data = new Uint8Array(await file.arrayBuffer());
  const [blob, descriptor] = await encryptFile(data);
  const form = new FormData();
  form.append("file", new Blob([blob], { type: "application/octet-stream" }), "blob");
  form.append("scope", `dm:${chat.channelId}`);
  form.append("encrypted", "true");
  const uploaded = await api("POST", "/api/v1/upload", form);
  return { ...descriptor, id: uploaded.id, name: file.name, type: file.type || "" };
}

// The plaintext of an attachment, or an error with a `reason`.
export async function download(attachment) {
  const response = await fetch(`/api/v1/attachments/${attachment.id}/content`, { credentials: "same-origin" });
  if (!response.ok) throw Object.assign(new Error(`download failed (${response.status})`), { reason: "unavailable" });
  return decryptFile(new Uint8Array(await response.arrayBuffer()), attachment);
}
