// The E2E page's inputs: the composer (text and encrypted files, picked or pasted; Up to edit
// the last message sent) and the local search box.
//
// What is typed is a draft per conversation kept in the device state (`state.drafts`), which
// chat.save() stores in IndexedDB encrypted under the device's non-extractable key, like the
// messages themselves: never in localStorage (where the channels' drafts.js keeps plaintext)
// and never sent to the node. It comes back after navigating away or reloading and is cleared
// when sent.
import { editLast } from "./edits.js";
import { upload } from "./envelopes.js";
import { queueMessage } from "./pending.js";
import { startReply, takeReply, wireReply } from "./reply.js";
import { render } from "./view.js";

export function wireComposer(chat) {
  wireReply(chat);
  const form = chat.root.querySelector("[data-e2e-composer]");
  const input = form.querySelector("textarea");
  const error = form.querySelector("[data-composer-error]");
  const drafts = (chat.state.drafts ||= {});
  if (!input.value) input.value = drafts[chat.channelId] || "";
  // One save queued at a time: it stores whatever the box holds when its turn comes.
  let saving = false;
  const keepDraft = () => {
    if (input.value) drafts[chat.channelId] = input.value;
    else delete drafts[chat.channelId];
    if (saving) return;
    saving = true;
    chat.serial(async () => {
      saving = false;
      await chat.save();
    });
  };
  input.addEventListener("input", keepDraft);
  const submit = () => {
    const text = input.value;
    if (!text.trim()) return;
    input.value = "";
    keepDraft(); // queueMessage saves the state too; the draft is gone before it does
    error.hidden = true;
    const reply = takeReply(chat);
    chat.serial(async () => {
      try {
        await queueMessage(chat, text, [], reply);
      } catch (e) {
        error.hidden = false;
        error.textContent = e.message;
        // Back in the box ahead of whatever was typed while it was being encrypted and sent.
        input.value = input.value ? `${text}\n${input.value}` : text;
        keepDraft();
        // And still a reply to what it answered.
        const target = reply.reply_to && (chat.state.messages[chat.channelId] || []).find((m) => m.mid === reply.reply_to);
        if (target && !chat.replyTo) startReply(chat, target);
      }
    });
  };
  // Each file is encrypted here, uploaded as an opaque blob and sent as a message of its own.
  const sendFiles = (files) => {
    for (const file of files) {
      chat.serial(async () => {
        try {
          await queueMessage(chat, "", [await upload(chat, file)]);
        } catch (e) {
          error.hidden = false;
          error.textContent = e.message;
        }
      });
    }
  };
  const picker = form.querySelector("[data-e2e-file]");
  if (picker) {
    picker.addEventListener("change", () => {
      const chosen = [...picker.files];
      picker.value = "";
      sendFiles(chosen);
    });
  }
  // A pasted picture (or any file) goes the way a picked one does; pasted text stays text.
  input.addEventListener("paste", (event) => {
    const pasted = [...(event.clipboardData?.files || [])];
    if (!pasted.length) return;
    event.preventDefault();
    sendFiles(pasted);
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      submit();
    } else if (event.key === "ArrowUp" && !input.value && !event.shiftKey && !event.altKey) {
      if (editLast(chat)) event.preventDefault();
    }
  });
}

export function wireSearch(chat) {
  const form = chat.root.querySelector("[data-e2e-search-form]");
  const input = chat.root.querySelector("[data-e2e-search]");
  if (!form || !input) return;
  chat.query = "";
  input.disabled = false;
  const run = () => {
    chat.query = input.value.trim();
    render(chat);
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run();
    const first = chat.root.querySelector("[data-e2e-result]");
    if (first) first.click();
  });
  input.addEventListener("input", run);
  input.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      input.value = "";
      run();
    }
  });
}
