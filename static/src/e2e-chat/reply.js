// Replying in a DM: the toolbar's Reply names the message, the banner above the composer says
// to whom, and the composer's next message carries `reply_to` (docs/e2e.md "Replies and
// reactions"). DOM state only: no imports, so both render.js and composer.js may use it.
export function startReply(chat, row) {
  const banner = chat.root.querySelector("[data-reply-banner]");
  const input = chat.root.querySelector("#composer-input");
  chat.replyTo = row.mid;
  if (banner) {
    banner.querySelector("[data-reply-name]").textContent = chat.names[row.sender] || row.sender;
    banner.hidden = false;
  }
  if (input) input.focus();
}

export function takeReply(chat) {
  const id = chat.replyTo;
  cancelReply(chat);
  return id ? { reply_to: id } : {};
}

export function cancelReply(chat) {
  chat.replyTo = null;
  const banner = chat.root.querySelector("[data-reply-banner]");
  if (banner) banner.hidden = true;
}

export function wireReply(chat) {
  const cancel = chat.root.querySelector("[data-reply-cancel]");
  if (cancel) cancel.addEventListener("click", () => cancelReply(chat));
}
