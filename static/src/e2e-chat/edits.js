// Editing and deleting your own DM messages. An edit or a delete is a control payload inside
// the ordinary envelope (`{"type": "edit"|"delete", "target": <mid>, "content"}`, docs/e2e.md),
// which history.js applies on every other device of the conversation. It goes the way a
// message goes (postPayload in envelopes.js: devices the node reports revoked are left out,
// and its nonce, made once, keeps a repeated POST to one stored envelope), is applied here at
// once, and is taken back with the reason shown if it cannot be sent. The history backup is
// resealed afterwards, so a restore brings back the edited text, not the first one.
//
// The edit box lives in `chat.editing` (the mid) and `chat.editText`, not only in the DOM:
// render.js redraws the whole list on every arriving message, and draws the box again there.
import { syncArchiveQuietly } from "./archive.js";
import { postPayload } from "./envelopes.js";
import { render } from "./view.js";

function complain(chat, error) {
  const box = chat.root.querySelector("[data-composer-error]");
  box.hidden = false;
  box.textContent = error.message;
}

function rowsOf(chat) {
  return chat.state.messages[chat.channelId] || [];
}

// Mine, sent (a waiting one has no envelope to amend yet), readable and not deleted.
export function editable(chat, row) {
  return row.sender === chat.userId && !!row.mid && !row.pending && !row.error && !row.deleted;
}

export function startEdit(chat, row) {
  if (!editable(chat, row)) return false;
  chat.editing = row.mid;
  chat.editText = row.text || "";
  chat.editFocus = true;
  render(chat);
  return true;
}

// Up in an empty composer: the last message this member sent in the conversation.
export function editLast(chat) {
  const last = [...rowsOf(chat)].reverse().find((m) => editable(chat, m));
  return last ? startEdit(chat, last) : false;
}

export function cancelEdit(chat) {
  chat.editing = null;
  chat.editText = "";
  render(chat);
  chat.root.querySelector("#composer-input")?.focus();
}

// Applies `change` to the row now, sends the control payload, and puts the row back as it
// was if the payload could not be sent.
function amend(chat, row, payload, change) {
  const before = { text: row.text, edited: row.edited, deleted: row.deleted, attachments: row.attachments };
  Object.assign(row, change);
  render(chat);
  return chat.serial(async () => {
    try {
      const stored = await postPayload(chat, payload, crypto.randomUUID().replaceAll("-", ""));
      if (!stored) throw new Error("Nobody in this conversation has a device that can receive it yet.");
    } catch (error) {
      for (const [k, v] of Object.entries(before)) {
        if (v === undefined) delete row[k];
        else row[k] = v;
      }
      render(chat);
      complain(chat, error);
      return;
    }
    await chat.save();
    await syncArchiveQuietly(chat);
  });
}

export function saveEdit(chat, row, text) {
  chat.editing = null;
  chat.editText = "";
  chat.root.querySelector("#composer-input")?.focus();
  if (!text.trim() || text === row.text) {
    render(chat);
    return Promise.resolve();
  }
  return amend(chat, row, { type: "edit", target: row.mid, content: text }, { text, edited: true });
}

export function deleteMessage(chat, row) {
  if (!editable(chat, row)) return Promise.resolve();
  if (chat.editing === row.mid) chat.editing = null;
  return amend(chat, row, { type: "delete", target: row.mid }, { text: null, deleted: true, attachments: [] });
}

// The box drawn in place of the row's text while it is being edited.
export function editBox(chat, row) {
  const form = document.createElement("form");
  form.className = "edit-form";
  form.dataset.e2eEdit = row.mid;
  const area = document.createElement("textarea");
  area.value = chat.editText;
  area.setAttribute("aria-label", "Edit message");
  area.rows = Math.min(8, area.value.split("\n").length + 1);
  const hint = document.createElement("p");
  hint.className = "small muted";
  hint.textContent = "Esc to cancel · Enter to save";
  form.append(area, hint);
  area.addEventListener("input", () => {
    chat.editText = area.value;
  });
  area.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      cancelEdit(chat);
    } else if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      saveEdit(chat, row, area.value);
    }
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    saveEdit(chat, row, area.value);
  });
  return form;
}
