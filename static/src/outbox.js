// Messages on their way out. The composer empties as soon as Enter is pressed, so the text
// lives here until the node has it: a dimmed "Sending…" entry at the end of the message list,
// replaced by the node's own rendering when the answer (or the gateway's copy, matched by
// nonce) arrives. A send that fails stays in the list with Retry and Discard; a retry reuses
// the entry's nonce, and the node keeps one message per nonce, so it can never double-post.
// Sends go out one at a time, in the order they were written.

export class Outbox {
  constructor(pane, announcer, post) {
    this.pane = pane;
    this.announcer = announcer;
    this.post = post;
    this.queue = Promise.resolve();
  }

  // entry: { raw, nonce, ... } — raw is what the member typed, shown as plain text.
  add(entry) {
    const li = document.createElement("li");
    li.className = "msg grouped pending";
    li.dataset.pending = "";
    li.dataset.nonce = entry.nonce;
    const body = document.createElement("div");
    body.className = "msg-body";
    const text = document.createElement("p");
    text.className = "pending-text";
    text.textContent = entry.raw.trim() || "Files";
    const status = document.createElement("p");
    status.className = "msg-status";
    body.append(text);
    li.append(body, status);
    entry.node = li;
    entry.status = status;
    this.pane.list.appendChild(li);
    this.pane.scrollToBottom();
    this.sending(entry);
    this.enqueue(entry);
  }

  enqueue(entry) {
    this.queue = this.queue.then(() => this.post(entry)).catch((error) => this.fail(entry, error.message));
  }

  sending(entry) {
    entry.node.classList.remove("failed");
    entry.status.replaceChildren("Sending…");
  }

  fail(entry, reason) {
    // The gateway may already have brought the message (the answer was lost on the way back).
    if (!entry.node.isConnected) return;
    entry.node.classList.add("failed");
    const retry = document.createElement("button");
    retry.type = "button";
    retry.className = "secondary";
    retry.dataset.retry = "";
    retry.textContent = "Retry";
    retry.addEventListener("click", () => {
      this.sending(entry);
      this.announce("Sending again…");
      this.enqueue(entry);
    });
    const discard = document.createElement("button");
    discard.type = "button";
    discard.className = "secondary";
    discard.dataset.discard = "";
    discard.textContent = "Discard";
    discard.addEventListener("click", () => {
      entry.node.remove();
      this.announce("Message discarded.");
      this.pane.root.querySelector("[data-composer-input]")?.focus();
    });
    const actions = document.createElement("span");
    actions.className = "msg-retry";
    actions.append(retry, discard);
    entry.status.replaceChildren(`Not sent: ${reason} `, actions);
    this.announce(`Your message was not sent: ${reason} Retry or discard it at the end of the message list.`);
  }

  // The node has it: its rendering takes the entry's place (see Pane.settle).
  done(entry, html) {
    this.pane.settle(entry.nonce, html);
  }

  drop(entry) {
    entry.node.remove();
  }

  announce(text) {
    if (!this.announcer) return;
    // Cleared first so the same sentence twice is still read out.
    this.announcer.textContent = "";
    requestAnimationFrame(() => {
      this.announcer.textContent = text;
    });
  }
}
