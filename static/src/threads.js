// Threads: the message menu's "Create thread" asks a name (the message's first words to start
// with) and opens the new thread's panel; the node's refusal is shown in the dialog.
import { decodeMentions } from "./composer.js";
import { errorText, postForm } from "./http.js";
import { friendlyTimes } from "./pane.js";

const NAME_WORDS = 6;
const NAME_MAX = 100;

// "Can we move the launch to Friday? I think…" → "Can we move the launch to"
export function defaultThreadName(content) {
  const words = decodeMentions(content || "")
    .replace(/[*_~`>|#]+/g, " ")
    .split(/\s+/)
    .filter(Boolean);
  const name = words.slice(0, NAME_WORDS).join(" ").slice(0, NAME_MAX).trim();
  return name || "New thread";
}

export function wireThreads() {
  // The thread list's times read like the pane's ("Today at 14:05").
  document.body.addEventListener("htmx:afterSettle", (event) => {
    if (event.detail.target && event.detail.target.id === "threads-body") friendlyTimes(event.detail.target);
  });
  const dialog = document.querySelector("[data-thread-dialog]");
  if (!dialog) return;
  const form = dialog.querySelector("[data-thread-form]");
  const field = dialog.querySelector("[data-thread-name]");
  const errors = dialog.querySelector("[data-thread-errors]");
  const about = dialog.querySelector("[data-thread-about]");
  let url = null;

  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-action='thread']");
    if (!button) return;
    const message = button.closest("[data-message]");
    url = button.dataset.startUrl;
    field.value = defaultThreadName(message ? message.dataset.content : "");
    const author = message && message.querySelector(".msg-author");
    about.textContent = author ? `From ${author.textContent}'s message.` : "";
    errors.replaceChildren();
    dialog.showModal();
    field.select();
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!url) return;
    const submit = form.querySelector("button[type=submit]");
    submit.disabled = true;
    try {
      const response = await postForm(url, { name: field.value });
      const next = response.headers.get("HX-Redirect");
      if (response.ok && next) {
        window.location.assign(next);
        return;
      }
      const text = await response.text();
      errors.textContent = response.status >= 500 ? `The node could not create it (${response.status}).` : errorText(text);
    } catch (error) {
      errors.textContent = "The connection dropped; try again.";
    } finally {
      submit.disabled = false;
    }
  });
}
