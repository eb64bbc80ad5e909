// The conversation as this device knows it: decrypted rows kept in the device state
// (IndexedDB), a cursor per channel, pages of envelopes fetched after it, and edits and
// deletions and reactions applied to the rows they name. The open conversation is
// `chat.channelId`; the DM list (sidebar.js) has the others caught up the same way.
import { api } from "../api.js";
import { applyReaction } from "./actions.js";
import { syncArchiveQuietly } from "./archive.js";
import { open } from "./envelopes.js";
import { refreshLists } from "./keys.js";
import { markRead, renderSidebar } from "./sidebar.js";
import { render } from "./view.js";

export async function catchUp(chat, channelId = chat.channelId) {
  for (;;) {
    const after = chat.state.cursors[channelId];
    const q = `device_id=${chat.device.deviceId}` + (after ? `&after=${after}` : "");
    const page = await api("GET", `/api/v1/channels/${channelId}/envelopes?${q}`);
    if (!page.length) break;
    await receive(chat, page, channelId);
    if (page.length < 100) break;
  }
}

// The sender of an envelope in a conversation other than the open one is not among the
// page's peers: their signed device list is fetched and checked (pinned) here.
async function pinSender(chat, uid) {
  if (chat.peers.includes(uid) || uid === chat.userId) return refreshLists(chat);
  chat.device.checkDeviceList(uid, await api("GET", `/api/v1/users/${uid}/device-list`));
}

export async function receive(chat, envelopes, channelId = chat.channelId) {
  const rows = (chat.state.messages[channelId] ||= []);
  for (const env of envelopes) {
    if (rows.some((m) => m.id === env.id)) continue;
    const mine = env.copies.find((cp) => cp.device_id === chat.device.deviceId);
    if (!mine && env.sender.device_id === chat.device.deviceId) continue;
    const row = { id: env.id, sender: env.sender.user_id, at: env.created_at };
    try {
      if (!chat.device.pins[env.sender.user_id]) await pinSender(chat, env.sender.user_id);
      const p = await open(chat, env);
      if (p.type === "edit" || p.type === "delete") {
        const target = rows.find((m) => m.mid === p.target && m.sender === env.sender.user_id);
        if (target) {
          if (p.type === "edit") Object.assign(target, { text: String(p.content), edited: true });
          else Object.assign(target, { text: null, deleted: true, attachments: [] });
          // An edit box open on a message deleted or edited elsewhere closes.
          if (chat.editing === target.mid) chat.editing = null;
        }
        chat.state.cursors[channelId] = env.id;
        continue;
      }
      if (p.type === "reaction") {
        const target = rows.find((m) => m.mid && m.mid === p.target);
        if (target && typeof p.emoji === "string" && p.emoji.length <= 32) applyReaction(target, env.sender.user_id, p.emoji, p.on !== false);
        chat.state.cursors[channelId] = env.id;
        continue;
      }
      Object.assign(row, { mid: p.id, text: String(p.content ?? ""), attachments: Array.isArray(p.attachments) ? p.attachments : [] });
      if (typeof p.reply_to === "string") row.replyTo = p.reply_to;
    } catch (error) {
      row.error = error.reason || "error";
    }
    // Above the messages still waiting on this device (pending.js), which stay last until
    // the node has them, as a channel's outbox does.
    const waiting = rows.findIndex((m) => m.pending);
    if (waiting < 0) rows.push(row);
    else rows.splice(waiting, 0, row);
    chat.state.cursors[channelId] = env.id;
  }
  markRead(chat);
  await chat.save();
  if (channelId === chat.channelId) render(chat);
  renderSidebar(chat);
  await syncArchiveQuietly(chat);
}
