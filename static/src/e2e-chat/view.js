// What the E2E DM page draws: the decrypted rows (or why one could not be decrypted), local
// search results with their highlights, and attachments that decrypt on demand.
import { highlighted, search } from "../e2e/search.js";
import { download } from "./envelopes.js";
import { conversationRows } from "./render.js";

export const REASONS = {
  tampered: "it was modified or is bound to another conversation",
  replay: "it was already received, or its key was discarded",
  too_far_ahead: "too many messages were skipped",
  not_for_device: "it was not encrypted for this device (sent before this device was added)",
  no_session: "there is no session with the sending device",
  unknown_device: "the sending device is not on the sender's signed device list",
  unknown_prekey: "it used a prekey this device no longer has",
  malformed: "it is malformed",
};

// Who a waiting message waits for (pending.js): the other members the last attempt found no
// device of (before any attempt on this page: those with no signed device list yet).
export function waitingFor(chat) {
  const uids = chat.waitingFor || chat.peers.filter((uid) => !chat.device.pins[uid]);
  return uids.map((uid) => chat.names[uid] || uid);
}

function author(chat, uid) {
  return uid === chat.userId ? "You" : chat.names[uid] || uid;
}

export function render(chat) {
  if (!chat.list) return; // the DM list page: no conversation open
  const rows = chat.state.messages[chat.channelId] || [];
  // An open edit box is drawn again with the list; it keeps the focus it had.
  const editing = chat.editFocus || !!document.activeElement?.closest?.("[data-e2e-edit]");
  chat.editFocus = false;
  chat.list.replaceChildren(
    ...conversationRows(chat, rows, { body: (m) => bodyOf(chat, m), attachment: attachmentView, pending: (m) => pendingNote(chat, m), reasons: REASONS }),
  );
  const scroller = chat.root.querySelector("[data-scroller]");
  if (scroller && !chat.editing) scroller.scrollTop = scroller.scrollHeight;
  const area = editing && chat.list.querySelector("[data-e2e-edit] textarea");
  if (area) {
    area.focus({ preventScroll: true });
    area.setSelectionRange(area.value.length, area.value.length);
    area.closest("li").scrollIntoView({ block: "nearest" });
  }
  renderResults(chat);
}

function bodyOf(chat, m) {
  const body = document.createElement("p");
  body.className = "content";
  if (m.deleted) {
    body.textContent = "(message deleted)";
  } else if (chat.query) {
    const [hit] = search([m], chat.query);
    if (hit) body.replaceChildren(...highlighted(m.text, hit.ranges));
    else body.textContent = m.text;
  } else {
    body.textContent = m.text;
  }
  return body;
}

// Local search runs over the decrypted rows of this conversation, which live in the device
// state (IndexedDB, AES-GCM under the non-extractable wrapping key). Nothing is sent anywhere.
function renderResults(chat) {
  const box = chat.root.querySelector("[data-e2e-results]");
  if (!box) return;
  if (!chat.query) {
    box.hidden = true;
    return;
  }
  const hits = search(chat.state.messages[chat.channelId] || [], chat.query);
  box.hidden = false;
  box.querySelector("[data-e2e-results-count]").textContent = hits.length
    ? `${hits.length === 50 ? "50+" : hits.length} message${hits.length === 1 ? "" : "s"} found on this device`
    : "No messages on this device match.";
  box.querySelector("[data-e2e-results-list]").replaceChildren(
    ...hits.map(({ row, ranges }) => {
      const li = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.e2eResult = row.id;
      const who = document.createElement("strong");
      who.textContent = `${author(chat, row.sender)}: `;
      button.append(who, ...highlighted(row.text, ranges));
      button.addEventListener("click", () => jumpTo(chat, row.id));
      li.append(button);
      return li;
    }),
  );
}

// A message kept on this device until the other side has somewhere to receive it
// (e2e-chat/pending.js).
function pendingNote(chat, m) {
  const note = document.createElement("p");
  note.className = "e2e-pending";
  note.dataset.e2ePending = m.waiting ? "waiting" : "sending";
  const who = waitingFor(chat);
  if (!m.waiting) note.textContent = "Sending…";
  else if (who.length) note.textContent = `⏳ Waiting for ${who.join(", ")}'s device`;
  else note.textContent = "⏳ Waiting for a device to send it to";
  return note;
}

function jumpTo(chat, id) {
  for (const el of chat.list.querySelectorAll(".e2e-hit")) el.classList.remove("e2e-hit");
  const target = chat.list.querySelector(`[data-message="${CSS.escape(String(id))}"]`);
  if (!target) return;
  target.classList.add("e2e-hit");
  target.tabIndex = -1;
  target.scrollIntoView({ block: "center" });
  target.focus({ preventScroll: true });
}

function attachmentView(a) {
  const box = document.createElement("div");
  box.className = "e2e-attachment";
  const button = document.createElement("button");
  button.type = "button";
  button.className = "secondary";
  button.dataset.e2eAttachment = a.id;
  button.textContent = `🔒 ${a.name} (${a.size} bytes) — decrypt`;
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const plain = await download(a);
      const url = URL.createObjectURL(new Blob([plain], { type: a.type || "application/octet-stream" }));
      const link = document.createElement("a");
      link.href = url;
      link.download = a.name;
      link.textContent = `Save ${a.name}`;
      link.dataset.e2eSaved = a.name;
      box.replaceChildren(link);
      if (/^image\/(png|jpeg|gif|webp)$/.test(a.type || "")) {
        const img = document.createElement("img");
        img.src = url;
        img.alt = a.name;
        img.className = "e2e-image";
        box.append(img);
      }
    } catch (error) {
      button.disabled = false;
      box.dataset.undecryptable = error.reason || "error";
      button.textContent = `🔒 ${a.name}: could not be decrypted (${REASONS[error.reason] || error.message})`;
    }
  });
  box.append(button);
  return box;
}
