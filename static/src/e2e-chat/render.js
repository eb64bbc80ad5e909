// The DM conversation in the channel view's message layout (templates/web/_message.html):
// day dividers, consecutive messages by one author within 7 minutes grouped under one avatar
// and name, timestamps, the quoted message a reply answers, reactions, the hover toolbar
// (react, reply; edit and delete on one's own). Everything drawn here comes from the rows this device decrypted; a row it
// could not decrypt is shown loudly with what fixes it (actions.js). view.js calls
// conversationRows() and supplies the body and attachments of a row, which it owns; reacting
// and asking for a resend go through `chat.act` (actions.js, wired in e2e-chat.js), and so
// do editing and deleting (edits.js), which also supplies the edit box drawn in a row.
import { PICKER } from "../emoji.js";
import { startReply } from "./reply.js";

const GROUP_WINDOW_MS = 7 * 60 * 1000; // as web/timeline.py GROUP_WINDOW

// The list is drawn again on every arriving message; an attachment keeps the element it was
// drawn in, so a file or picture decrypted on click stays open instead of folding back.
const attachmentBoxes = new Map();
function attachmentBox(a, make) {
  const key = `${a.id}:${a.sha256 || ""}`;
  if (!attachmentBoxes.has(key)) attachmentBoxes.set(key, make(a));
  return attachmentBoxes.get(key);
}

// What fixes a row this device could not decrypt. Restoring helps when this browser is not
// (or no longer) the device the message was encrypted for; otherwise only the sender can help.
const RESTORE_HELPS = new Set(["not_for_device", "unknown_prekey", "no_session"]);

export function nameOf(chat, uid) {
  return chat.names[uid] || uid;
}

export function initials(name) {
  const words = String(name).replace(/-/g, " ").split(/\s+/).filter(Boolean);
  const letters = words.length > 1 ? words[0][0] + words[1][0] : String(name).slice(0, 2);
  return letters.toUpperCase();
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function moment(row) {
  const at = new Date(row.at);
  return Number.isNaN(at.getTime()) ? null : at;
}

const pad = (n) => String(n).padStart(2, "0");
const dayText = (d) => d.toLocaleDateString("en-US", { month: "long", day: "numeric", year: "numeric" });
const clock = (d) => `${pad(d.getHours())}:${pad(d.getMinutes())}`;
const stamp = (d) => `${pad(d.getDate())}/${pad(d.getMonth() + 1)}/${d.getFullYear()} ${clock(d)}`;

// The one-line text of a row as a reply quote or a list preview shows it.
export function summary(row) {
  if (!row) return "";
  if (row.error) return "Encrypted message";
  if (row.deleted) return "Message deleted";
  const text = (row.text || "").replace(/\s+/g, " ").trim();
  if (text) return text.length > 90 ? `${text.slice(0, 89)}…` : text;
  const [first] = row.attachments || [];
  return first ? `📎 ${first.name}` : "";
}

function replyQuote(chat, rows, row) {
  const target = rows.find((m) => m.mid && m.mid === row.replyTo);
  const quote = el("a", "reply-ref");
  quote.dataset.e2eReplyTo = row.replyTo;
  quote.append(el("span", "reply-spine"), el("span", "visually-hidden", "Replying to "));
  quote.firstChild.setAttribute("aria-hidden", "true");
  if (!target) {
    quote.append(el("span", "reply-text", "The original message is not on this device"));
    return quote;
  }
  quote.href = `#e2e-message-${target.id}`;
  quote.append(el("strong", null, `@${nameOf(chat, target.sender)}`), el("span", "reply-text", summary(target)));
  quote.addEventListener("click", (event) => {
    event.preventDefault();
    const li = chat.list.querySelector(`#e2e-message-${CSS.escape(String(target.id))}`);
    if (!li) return;
    li.scrollIntoView({ block: "center" });
    li.classList.add("highlight");
    li.focus({ preventScroll: true });
    setTimeout(() => li.classList.remove("highlight"), 1500);
  });
  return quote;
}

function reactionsView(chat, row) {
  const entries = Object.entries(row.reactions || {}).filter(([, who]) => who.length);
  if (!entries.length) return null;
  const box = el("div", "reactions");
  box.setAttribute("role", "group");
  box.setAttribute("aria-label", "Reactions");
  for (const [emoji, who] of entries) {
    const mine = who.includes(chat.userId);
    const chip = el("button", `reaction${mine ? " mine" : ""}`);
    chip.type = "button";
    chip.dataset.e2eReaction = emoji;
    chip.setAttribute("aria-pressed", String(mine));
    chip.setAttribute("aria-label", `${emoji} ${who.length} reaction${who.length === 1 ? "" : "s"}${mine ? ", including yours" : ""}`);
    chip.title = who.map((uid) => nameOf(chat, uid)).join(", ");
    const face = el("span", null, emoji);
    const count = el("span", "reaction-count", String(who.length));
    face.setAttribute("aria-hidden", "true");
    count.setAttribute("aria-hidden", "true");
    chip.append(face, " ", count);
    chip.addEventListener("click", () => chat.act.react(row, emoji, !mine));
    box.append(chip);
  }
  return box;
}

function icon(path) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", "18");
  svg.setAttribute("height", "18");
  svg.setAttribute("aria-hidden", "true");
  const p = document.createElementNS("http://www.w3.org/2000/svg", "path");
  p.setAttribute("fill", "currentColor");
  p.setAttribute("d", path);
  svg.append(p);
  return svg;
}

function tool(label, action, path, onClick) {
  const button = el("button", "icon-btn");
  button.type = "button";
  button.dataset.e2eAction = action;
  button.setAttribute("aria-label", label);
  button.title = label;
  button.append(icon(path));
  button.addEventListener("click", onClick);
  return button;
}

function picker(chat) {
  let box = document.querySelector("[data-e2e-picker]");
  if (!box) {
    box = el("div", "emoji-picker");
    box.dataset.e2ePicker = "";
    box.setAttribute("role", "group");
    box.setAttribute("aria-label", "Pick a reaction");
    box.hidden = true;
    chat.root.append(box); // inside the page's main landmark
    document.addEventListener("click", (event) => {
      if (!box.hidden && !event.target.closest("[data-e2e-picker], [data-e2e-action=react]")) box.hidden = true;
    });
    box.addEventListener("keydown", (event) => {
      if (event.key === "Escape") box.hidden = true;
    });
  }
  return box;
}

function openPicker(chat, button, row) {
  const box = picker(chat);
  box.replaceChildren(
    ...PICKER.map((emoji) => {
      const choice = el("button", null, emoji);
      choice.type = "button";
      choice.setAttribute("aria-label", `React with ${emoji}`);
      choice.addEventListener("click", () => {
        box.hidden = true;
        const mine = (row.reactions?.[emoji] || []).includes(chat.userId);
        chat.act.react(row, emoji, !mine);
      });
      return choice;
    }),
  );
  const rect = button.getBoundingClientRect();
  box.hidden = false;
  box.style.top = `${Math.max(8, rect.top - box.offsetHeight - 6)}px`;
  box.style.left = `${Math.max(8, rect.right - box.offsetWidth)}px`;
  box.querySelector("button").focus();
}

function tools(chat, row) {
  const bar = el("div", "msg-tools");
  bar.setAttribute("role", "toolbar");
  bar.setAttribute("aria-label", "Message actions");
  const reactButton = tool("Add reaction", "react",
    "M12 2a10 10 0 1 0 10 10A10 10 0 0 0 12 2Zm-3.5 6A1.5 1.5 0 1 1 7 9.5 1.5 1.5 0 0 1 8.5 8Zm7 0A1.5 1.5 0 1 1 14 9.5 1.5 1.5 0 0 1 15.5 8ZM12 18a6 6 0 0 1-5.2-3h10.4A6 6 0 0 1 12 18Z",
    () => openPicker(chat, reactButton, row));
  const replyButton = tool("Reply", "reply", "M10 9V5l-7 7 7 7v-4.1c5 0 8.5 1.6 11 5.1-1-5-4-10-11-11Z", () => startReply(chat, row));
  // A message still waiting on this device takes a reply (it goes after it, in order) but no
  // reaction, which would reach the other side before the message it names.
  if (row.pending) bar.append(replyButton);
  else bar.append(reactButton, replyButton);
  // One's own sent messages can be edited and deleted (edits.js through chat.act).
  if (chat.act.editable(row)) {
    bar.append(
      tool("Edit", "edit", "M3 17.2V21h3.8l11-11-3.8-3.8-11 11ZM20.7 7a1 1 0 0 0 0-1.4l-2.3-2.3a1 1 0 0 0-1.4 0l-1.8 1.8 3.8 3.8L20.7 7Z", () => chat.act.edit(row)),
      tool("Delete", "delete", "M6 19a2 2 0 0 0 2 2h8a2 2 0 0 0 2-2V7H6v12ZM19 4h-3.5l-1-1h-5l-1 1H5v2h14V4Z", () => chat.act.remove(row)),
    );
  }
  return bar;
}

// The loud state of a row this device could not decrypt, with what fixes it.
function failure(chat, row, reasons) {
  const box = el("div", "e2e-failure");
  box.append(el("strong", null, "This message could not be decrypted on this device."));
  box.append(el("span", "e2e-failure-why", ` ${reasons[row.error] ? `Reason: ${reasons[row.error]}.` : ""}`));
  const actions = el("div", "e2e-failure-actions");
  const restore = RESTORE_HELPS.has(row.error) && chat.root.querySelector("[data-backup-open]");
  if (restore) {
    const button = el("button", "secondary", "Restore from your recovery phrase");
    button.type = "button";
    button.dataset.e2eFix = "restore";
    button.addEventListener("click", () => chat.root.querySelector("[data-backup-open]").click());
    actions.append(button);
  }
  if (row.sender !== chat.userId) {
    const button = el("button", "secondary", row.asked ? `Asked ${nameOf(chat, row.sender)} to resend` : `Ask ${nameOf(chat, row.sender)} to resend`);
    button.type = "button";
    button.dataset.e2eFix = "resend";
    button.disabled = !!row.asked;
    button.addEventListener("click", () => {
      button.disabled = true;
      chat.act.askResend(row);
    });
    actions.append(button);
  } else {
    actions.append(el("span", "muted", "You sent it from another device: it can be read there."));
  }
  box.append(actions);
  return box;
}

// The <li> elements of the conversation: day dividers and messages. `body(row)` gives the
// element of a row's text, `attachment(a)` that of one attachment and `pending(row)` the note
// on a message still on this device, sending or waiting for a device (view.js, pending.js).
export function conversationRows(chat, rows, { body, attachment, pending, reasons }) {
  const out = [];
  let before = null;
  for (const row of rows) {
    // A deleted message is gone from the conversation; its row stays in the state, so a
    // reply to it still quotes "Message deleted".
    if (row.deleted) continue;
    const at = moment(row);
    const newDay = at && (!before || !moment(before) || moment(before).toDateString() !== at.toDateString());
    if (newDay) {
      const sep = el("li", "day-sep");
      sep.append(el("span", null, dayText(at)));
      out.push(sep);
    }
    const grouped = !!(
      before && !newDay && !row.error && !before.error && !row.replyTo && at && moment(before)
      && before.sender === row.sender && at - moment(before) < GROUP_WINDOW_MS
    );
    const li = el("li", `msg e2e-message${grouped ? " grouped" : ""}`);
    li.id = `e2e-message-${row.id}`;
    li.tabIndex = -1;
    li.dataset.message = row.id;
    li.dataset.authorId = row.sender;
    if (row.replyTo) li.append(replyQuote(chat, rows, row));
    if (grouped) {
      const time = el("time", "msg-hover-time", clock(at));
      time.dateTime = row.at;
      li.append(time);
    } else {
      const name = nameOf(chat, row.sender);
      const avatar = el("span", "avatar", initials(name));
      avatar.setAttribute("aria-hidden", "true");
      const head = el("h3", "msg-head");
      head.append(el("span", "msg-author", name));
      if (at) {
        const time = el("time", "msg-time", stamp(at));
        time.dateTime = row.at;
        head.append(time);
      }
      li.append(avatar, head);
    }
    if (row.error) {
      li.classList.add("undecryptable");
      li.dataset.undecryptable = row.error;
      li.append(failure(chat, row, reasons));
    } else {
      const text = el("div", "msg-body");
      text.dataset.body = "";
      if (row.deleted) li.classList.add("deleted");
      text.append(body(row));
      if (row.edited && !row.deleted) text.append(" ", el("span", "edited", "(edited)"));
      li.append(text);
      if (chat.editing && chat.editing === row.mid) {
        text.hidden = true;
        li.append(chat.act.editBox(row));
      }
      for (const a of row.attachments || []) li.append(attachmentBox(a, attachment));
      if (row.pending && pending) {
        li.classList.add("pending");
        li.append(pending(row));
      }
      const reactions = reactionsView(chat, row);
      if (reactions) li.append(reactions);
      if (!row.deleted && row.mid) li.append(tools(chat, row));
    }
    out.push(li);
    before = row;
  }
  return out;
}
