// The E2E page's inputs: the composer (text and encrypted files) and the local search box.
import { upload } from "./envelopes.js";
import { queueMessage } from "./pending.js";
import { startReply, takeReply, wireReply } from "./reply.js";
import { render } from "./view.js";

export function wireComposer(chat) {
  wireReply(chat);
  const form = chat.root.querySelector("[data-e2e-composer]");
  const input = form.querySelector("textarea");
  const error = form.querySelector("[data-composer-error]");
  const submit = () => {
    const text = input.value;
    if (!text.trim()) return;
    input.value = "";
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
        // And still a reply to what it answered.
        const target = reply.reply_to && (chat.state.messages[chat.channelId] || []).find((m) => m.mid === reply.reply_to);
        if (target && !chat.replyTo) startReply(chat, target);
      }
    });
  };
  const picker = form.querySelector("[data-e2e-file]");
  if (picker) {
    picker.addEventListener("change", () => {
      const chosen = [...picker.files];
      picker.value = "";
      for (const file of chosen) {
        chat.serial(async () => {
          try {
            await queueMessage(chat, "", [await upload(chat, file)]);
          } catch (e) {
            error.hidden = false;
            error.textContent = e.message;
          }
        });
      }
    });
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      submit();
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
