// Envelopes in and out: a message is encrypted here for every target device before it leaves,
// an arriving envelope is opened with this device's sessions, and an attachment travels as an
// encrypted blob whose key rides inside the message. The node only ever sees ciphertext.
import { api } from "../api.js";
import { decryptFile, encryptFile } from "../e2e/files.js";
import { targets } from "./keys.js";

// Encrypts and posts one message payload; returns the row this device keeps for it. `extra`
// adds fields to the payload (`reply_to`: the id of the message it answers).
export async function post(chat, text, attachments = [], extra = {}) {
  const id = crypto.randomUUID();
  const to = await targets(chat);
  if (!to.some(([uid]) => uid !== chat.userId)) throw new Error("The other person has no device that can receive encrypted messages yet.");
  const env = await chat.device.encrypt(chat.channelId, to, { ...extra, type: "message", id, content: text, attachments });
  env.nonce = id.replaceAll("-", "");
  const stored = await api("POST", `/api/v1/channels/${chat.channelId}/envelopes`, env);
  const row = { id: stored.id, mid: id, sender: chat.userId, text, attachments, at: stored.created_at };
  if (extra.reply_to) row.replyTo = extra.reply_to;
  return row;
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
