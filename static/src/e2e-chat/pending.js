// A message is never refused for want of a device on the other side. It is stored on this
// device (the encrypted device state in IndexedDB) before anything is sent, marked pending,
// and sent in order as soon as every earlier one is: at once when the other person has a
// device, otherwise when one appears (their signed device list changes: the gateway's
// E2E_DEVICE_LIST_UPDATE, a re-check every RECHECK_MS while the page is open, and the next
// page load). Its client id is the envelope's nonce, so a send repeated after a reload or by
// a second tab is stored once by the node.
import { syncArchiveQuietly } from "./archive.js";
import { post } from "./envelopes.js";
import { markRead, renderSidebar } from "./sidebar.js";
import { render, waitingFor } from "./view.js";

export const RECHECK_MS = 5000;

export function pendingRows(chat) {
  return (chat.state.messages[chat.channelId] || []).filter((m) => m.pending);
}

export function showWaiting(chat) {
  const box = chat.root.querySelector("[data-e2e-waiting]");
  if (!box) return;
  const waiting = pendingRows(chat).some((m) => m.waiting);
  box.hidden = !waiting;
  if (!waiting) return;
  const who = waitingFor(chat);
  const names = who.length ? who.join(", ") : "The other person";
  const verb = who.length > 1 ? "have" : "has";
  box.textContent = `${names} ${verb} not signed in on a device that can receive encrypted messages yet; your message will be sent when they do.`;
}

// Sends the pending messages of this conversation in order; stops at the first one that has
// nobody to go to yet. Returns true when none is left.
export async function flushPending(chat) {
  for (const row of pendingRows(chat)) {
    const stored = await post(chat, row.text, row.attachments || [], row.mid, row.replyTo ? { reply_to: row.replyTo } : {});
    if (!stored) {
      if (!row.waiting) {
        row.waiting = true;
        await chat.save();
      }
      redraw(chat);
      showWaiting(chat);
      return false;
    }
    Object.assign(row, { id: stored.id, at: stored.created_at });
    delete row.pending;
    delete row.waiting;
    markRead(chat);
    await chat.save();
    redraw(chat);
    await syncArchiveQuietly(chat);
  }
  showWaiting(chat);
  return true;
}

// The conversation and its entry in the DM list (preview, order).
function redraw(chat) {
  render(chat);
  renderSidebar(chat);
}

// Keeps the message before it leaves, then tries to send it. An error other than "no device"
// (network, rate limit) takes it back out and is thrown for the composer to show, as before.
// `extra.reply_to` (reply.js) is kept on the row as `replyTo`, which render.js quotes and
// every later attempt puts back into the payload.
export async function queueMessage(chat, text, attachments = [], extra = {}) {
  const mid = crypto.randomUUID();
  const rows = (chat.state.messages[chat.channelId] ||= []);
  const row = { id: `pending-${mid}`, mid, sender: chat.userId, text, attachments, at: new Date().toISOString(), pending: true };
  if (extra.reply_to) row.replyTo = extra.reply_to;
  rows.push(row);
  // Stored before it leaves; drawn once it is sent or known to wait (as a sent message
  // always was: it appears when the node has it), "Sending…" only if something redraws
  // the conversation meanwhile.
  await chat.save();
  try {
    await flushPending(chat);
  } catch (error) {
    if (row.pending && !row.waiting) {
      rows.splice(rows.indexOf(row), 1);
      await chat.save();
      redraw(chat);
    }
    throw error;
  }
}

// The periodic re-check and the gateway's nudge, both off the serial queue's error path: a
// failed retry leaves the message waiting and is tried again later.
export function retryPending(chat) {
  if (!pendingRows(chat).length) return;
  chat.serial(async () => {
    try {
      await flushPending(chat);
    } catch (error) {
      console.warn("A waiting message could not be sent yet:", error.message);
    }
  });
}
