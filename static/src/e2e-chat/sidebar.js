// The DM list in the sidebar (templates/web/_dm_list.html): each conversation's last-message
// preview and unread count, drawn from the rows this device decrypted and keeps in its state
// (IndexedDB) — "Encrypted message" for one it could not open. The node never sees either.
// The list page and every conversation page start the device (e2e-chat.js), catch up on every
// conversation and open each arriving E2E_ENVELOPE_CREATE, so the list stays live; what has
// been read is `state.read[channel]`, the id of the last envelope seen in the open
// conversation, kept on this device only.
import { summary } from "./render.js";

// Snowflake ids as strings: longer is larger, then by character.
export function compareIds(a, b) {
  a = String(a || "");
  b = String(b || "");
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

export function unreadCount(chat, channelId) {
  const read = (chat.state.read || {})[channelId];
  return (chat.state.messages[channelId] || []).filter((m) => m.sender !== chat.userId && !m.deleted && compareIds(m.id, read) > 0).length;
}

// The id of the last row the node has (a message still on this device, pending.js, has a
// provisional id that is no envelope's and would sort above every real one).
function lastStored(rows) {
  for (let i = rows.length - 1; i >= 0; i--) if (!rows[i].pending) return rows[i].id;
  return null;
}

// Marks the open conversation read up to its last row; true when that moved the marker.
export function markRead(chat) {
  if (!chat.channelId || document.visibilityState === "hidden") return false;
  const last = lastStored(chat.state.messages[chat.channelId] || []);
  if (!last) return false;
  chat.state.read ||= {};
  if (compareIds(last, chat.state.read[chat.channelId]) <= 0) return false;
  chat.state.read[chat.channelId] = last;
  return true;
}

export function sidebarChannels() {
  return [...document.querySelectorAll("[data-dm-item]")].map((li) => li.dataset.dmItem);
}

export function renderSidebar(chat) {
  const list = document.querySelector("[data-dm-list]");
  if (!list) return;
  const items = [...list.querySelectorAll("[data-dm-item]")];
  for (const li of items) {
    const id = li.dataset.dmItem;
    const rows = chat.state.messages[id] || [];
    // A deleted message is gone from the conversation, so from its preview too.
    const last = rows.findLast((m) => !m.deleted);
    if (last) {
      const who = last.sender === chat.userId ? "You: " : "";
      li.querySelector("[data-dm-preview]").textContent = `${who}${summary(last) || "Message"}`;
      const stored = lastStored(rows);
      if (stored && compareIds(stored, li.dataset.dmLast) > 0) li.dataset.dmLast = stored;
    }
    const unread = id === chat.channelId ? 0 : unreadCount(chat, id);
    const badge = li.querySelector("[data-dm-unread]");
    badge.hidden = !unread;
    badge.textContent = unread > 99 ? "99+" : String(unread);
    li.querySelector("[data-dm-unread-text]").textContent = unread ? `, ${unread} unread message${unread === 1 ? "" : "s"}` : "";
    li.querySelector("[data-dm-link]").classList.toggle("unread", !!unread);
  }
  // The most recent conversation first, as the node ordered them when it drew the page.
  const sorted = [...items].sort((a, b) => compareIds(b.dataset.dmLast, a.dataset.dmLast) || compareIds(b.dataset.dmItem, a.dataset.dmItem));
  if (sorted.some((li, i) => li !== items[i])) list.append(...sorted);
}

// A conversation this page does not list yet (someone just wrote to us for the first time):
// the list is drawn again from the node, which knows who is in it.
export async function reloadList() {
  const response = await fetch(location.href, { credentials: "same-origin" });
  if (!response.ok) return;
  const fresh = new DOMParser().parseFromString(await response.text(), "text/html").querySelector("[data-dm-list]");
  const list = document.querySelector("[data-dm-list]");
  if (fresh && list) list.replaceWith(fresh);
}

// The "New message" dialog: filters the people as one types; opens by itself when the page
// came back with an error for the handle typed in it.
export function wireNewMessage() {
  const dialog = document.querySelector("[data-new-dm]");
  if (!dialog) return;
  const filter = dialog.querySelector("[data-new-dm-filter]");
  const nobody = dialog.querySelector("[data-new-dm-nobody]");
  const people = [...dialog.querySelectorAll("[data-person]")];
  filter.addEventListener("input", () => {
    const q = filter.value.trim().toLowerCase().replace(/^@/, "");
    let shown = 0;
    for (const li of people) {
      li.hidden = !!q && !li.dataset.person.includes(q);
      if (!li.hidden) shown += 1;
    }
    nobody.hidden = !people.length || shown > 0;
  });
  if ("showOnLoad" in dialog.dataset && !dialog.open) dialog.showModal();
}
