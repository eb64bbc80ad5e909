// The conversation as this device knows it: decrypted rows kept in the device state
// (IndexedDB), a cursor per channel, pages of envelopes fetched after it, and edits and
// deletions applied to the rows they name.
import { api } from "../api.js";
import { syncArchiveQuietly } from "./archive.js";
import { open } from "./envelopes.js";
import { refreshLists } from "./keys.js";
import { render } from "./view.js";

export async function catchUp(chat) {
  for (;;) {
    const after = chat.state.cursors[chat.channelId];
    const q = `device_id=${chat.device.deviceId}` + (after ? `&after=${after}` : "");
    const page = await api("GET", `/api/v1/channels/${chat.channelId}/envelopes?${q}`);
    if (!page.length) break;
    await receive(chat, page);
    if (page.length < 100) break;
  }
}

export async function receive(chat, envelopes) {
  const rows = (chat.state.messages[chat.channelId] ||= []);
  for (const env of envelopes) {
    if (rows.some((m) => m.id === env.id)) continue;
    const mine = env.copies.find((cp) => cp.device_id === chat.device.deviceId);
    if (!mine && env.sender.device_id === chat.device.deviceId) continue;
    const row = { id: env.id, sender: env.sender.user_id, at: env.created_at };
    try {
      if (!chat.device.pins[env.sender.user_id]) await refreshLists(chat);
      const p = await open(chat, env);
      if (p.type === "edit" || p.type === "delete") {
        const target = rows.find((m) => m.mid === p.target && m.sender === env.sender.user_id);
        if (target) {
          if (p.type === "edit") Object.assign(target, { text: String(p.content), edited: true });
          else Object.assign(target, { text: null, deleted: true });
        }
        chat.state.cursors[chat.channelId] = env.id;
        continue;
      }
      Object.assign(row, { mid: p.id, text: String(p.content ?? ""), attachments: Array.isArray(p.attachments) ? p.attachments : [] });
    } catch (error) {
      row.error = error.reason || "error";
    }
    rows.push(row);
    chat.state.cursors[chat.channelId] = env.id;
  }
  await chat.save();
  render(chat);
  await syncArchiveQuietly(chat);
}
