// The composer: Enter sends (Shift+Enter is a new line), a client nonce makes a retry safe,
// :shortcodes: become emoji, @name/#channel autocomplete (turned into <@id>/<#id> on send),
// typing notices, replies, slow-mode countdown, a draft per channel (drafts.js); messages on
// their way out and those that failed live in the outbox (outbox.js).
import { replaceShortcodes } from "./emoji.js";
import { Draft } from "./drafts.js";
import { gateway } from "./gateway.js";
import { errorText, postForm } from "./http.js";
import { Outbox } from "./outbox.js";
import { Uploads, wireDrop } from "./upload.js";

const TYPING_EVERY_MS = 8000;
const TRIGGER = /(^|\s)([@#])([\w.-]{0,32})$/;

function newNonce() {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function members() {
  return Array.from(document.querySelectorAll("[data-member]"), (el) => ({
    id: el.dataset.userId,
    key: el.dataset.username,
    label: el.dataset.name,
  }));
}

function channels() {
  return Array.from(document.querySelectorAll("[data-channel-link]"), (el) => ({
    id: el.dataset.channelLink,
    key: el.dataset.channelName,
    label: el.dataset.channelName,
  }));
}

// "@alice" → "<@id>", "#general" → "<#id>" for names that exist here; the rest stays text.
export function encodeMentions(text) {
  const users = new Map(members().map((m) => [m.key.toLowerCase(), m.id]));
  const chans = new Map(channels().map((c) => [c.key.toLowerCase(), c.id]));
  return text
    .replace(/(^|\s)@([\w.-]{1,32})/g, (whole, lead, name) => (users.has(name.toLowerCase()) ? `${lead}<@${users.get(name.toLowerCase())}>` : whole))
    .replace(/(^|\s)#([\w-]{1,100})/g, (whole, lead, name) => (chans.has(name.toLowerCase()) ? `${lead}<#${chans.get(name.toLowerCase())}>` : whole));
}

// The reverse, for editing: "<@id>" → "@username", "<#id>" → "#name".
export function decodeMentions(text) {
  const users = new Map(members().map((m) => [m.id, m.key]));
  const chans = new Map(channels().map((c) => [c.id, c.key]));
  return text
    .replace(/<@!?(\d+)>/g, (whole, id) => (users.has(id) ? `@${users.get(id)}` : whole))
    .replace(/<#(\d+)>/g, (whole, id) => (chans.has(id) ? `#${chans.get(id)}` : whole));
}

export class Composer {
  constructor(form, pane) {
    this.form = form;
    this.pane = pane;
    this.input = form.querySelector("[data-composer-input]");
    this.nonce = form.querySelector("[data-nonce]");
    this.replyTo = form.querySelector("[data-reply-to]");
    this.replyBanner = form.querySelector("[data-reply-banner]");
    this.error = form.querySelector("[data-composer-error]");
    this.slowStatus = form.querySelector("[data-slowmode-status]");
    this.list = form.querySelector("[data-autocomplete]");
    this.slowmode = Number(form.dataset.slowmode || 0);
    this.typingUrl = pane.root.dataset.typingUrl;
    this.lastTyping = 0;
    this.waitUntil = 0;
    this.choices = [];
    this.active = 0;
    this.nonce.value = newNonce();
    this.uploads = form.dataset.uploadUrl ? new Uploads(form) : null;
    if (this.uploads) wireDrop(pane.root, this.uploads);
    this.outbox = new Outbox(pane, form.querySelector("[data-send-status]"), (entry) => this.deliver(entry));
    const shell = document.querySelector("[data-shell]");
    this.draft = new Draft(shell?.dataset.userId, pane.root.dataset.channelId || shell?.dataset.channelId);
    if (!this.input.value) this.input.value = this.draft.load();
    this.listen();
    this.autosize();
  }

  autosize() {
    this.input.style.height = "auto";
    this.input.style.height = `${Math.min(this.input.scrollHeight, 240)}px`;
  }

  showError(text) {
    this.error.textContent = text;
    this.error.hidden = !text;
  }

  // The text leaves the composer at once (into the outbox's pending entry), so whatever is
  // typed while it goes out stays in the composer.
  send() {
    const raw = this.input.value;
    const content = encodeMentions(replaceShortcodes(raw)).trim();
    const uploads = this.uploads;
    const withFiles = Boolean(uploads && uploads.items.some((i) => i.state !== "error"));
    if (!content && !withFiles) return;
    if (Date.now() < this.waitUntil) {
      this.showError("Slow mode is on: wait for the countdown.");
      return;
    }
    const entry = { raw, content, withFiles, nonce: this.nonce.value, replyTo: this.replyTo.value, attachments: null };
    this.input.value = "";
    this.autosize();
    this.draft.save("");
    this.nonce.value = newNonce();
    this.cancelReply();
    this.showError("");
    this.outbox.add(entry);
  }

  // One entry's trip to the node; the outbox runs them one at a time, and again on Retry.
  async deliver(entry) {
    const uploads = this.uploads;
    if (entry.attachments === null) {
      if (entry.withFiles && uploads.pending().length) {
        // Sent as soon as the files are up; the tiles show how far they are.
        this.form.classList.add("waiting");
        await Promise.all(uploads.pending());
        this.form.classList.remove("waiting");
      }
      entry.attachments = entry.withFiles ? uploads.ids() : [];
      if (entry.withFiles) uploads.clear();
    }
    if (!entry.content && !entry.attachments.length) {
      // Every file was refused: their tiles said why; there is nothing left to send.
      this.outbox.drop(entry);
      return;
    }
    // A message queued behind one that started the slow-mode countdown waits for it.
    const wait = this.waitUntil - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    if (await this.deliverBySocket(entry)) return;
    let response;
    let html;
    try {
      response = await postForm(this.form.action, { content: entry.content, nonce: entry.nonce, reply_to: entry.replyTo, attachments: entry.attachments });
      html = await response.text();
    } catch (error) {
      this.outbox.fail(entry, "the connection dropped.");
      return;
    }
    if (response.status === 429) {
      // Not a failure: the text goes back into the composer ahead of anything typed since.
      this.outbox.drop(entry);
      this.input.value = this.input.value ? `${entry.raw}\n${this.input.value}` : entry.raw;
      this.autosize();
      this.draft.save(this.input.value);
      this.countdown(Number(response.headers.get("Retry-After") || this.slowmode || 5));
      this.showError(errorText(html));
      return;
    }
    if (!response.ok) {
      // A server error page is a whole document; only a refusal's fragment is worth quoting.
      this.outbox.fail(entry, response.status >= 500 ? `the node could not take it (${response.status}).` : errorText(html));
      return;
    }
    this.outbox.done(entry, html);
    if (this.slowmode) this.countdown(this.slowmode);
  }

  // The socket's send door, when the socket is up and the message carries no file: true when
  // the node answered (stored or refused), false to go by POST instead, with the same nonce.
  async deliverBySocket(entry) {
    const gw = gateway();
    const channelId = this.pane.root.dataset.channelId || document.querySelector("[data-shell]")?.dataset.channelId;
    if (!channelId || entry.attachments.length || !gw.isOpen()) return false;
    const d = { channel_id: channelId, content: entry.content, nonce: entry.nonce };
    if (entry.replyTo) d.message_reference = { message_id: entry.replyTo };
    let result;
    try {
      result = await gw.sendMessage(d);
    } catch (error) {
      return false;
    }
    if (result.message) {
      const m = result.message;
      try {
        await this.pane.add(m.id, m.author ? m.author.id : "", m.timestamp, entry.nonce);
      } catch (error) {
        // The gateway's MESSAGE_CREATE brings it into the pane as well.
      }
      // A pane scrolled back in history does not append: the message is stored all the same.
      if (entry.node.isConnected) this.outbox.drop(entry);
      if (this.slowmode) this.countdown(this.slowmode);
      return true;
    }
    if (result.status >= 500) return false;
    const error = result.error || {};
    const detail = Object.values(error.errors || {}).flat().filter((x) => typeof x === "string");
    const reason = [error.message || "Something went wrong.", ...detail].join(" ");
    if (result.status === 429) {
      this.outbox.drop(entry);
      this.input.value = this.input.value ? `${entry.raw}\n${this.input.value}` : entry.raw;
      this.autosize();
      this.draft.save(this.input.value);
      this.countdown(Number(error.retry_after || this.slowmode || 5));
      this.showError(reason);
      return true;
    }
    this.outbox.fail(entry, reason);
    return true;
  }

  countdown(seconds) {
    this.waitUntil = Date.now() + seconds * 1000;
    clearInterval(this.slowTimer);
    const tick = () => {
      const left = Math.ceil((this.waitUntil - Date.now()) / 1000);
      if (left <= 0) {
        clearInterval(this.slowTimer);
        this.slowStatus.textContent = this.slowmode ? `Slow mode is on: one message every ${this.slowmode}s.` : "";
        this.form.classList.remove("waiting");
        return;
      }
      this.form.classList.add("waiting");
      this.slowStatus.textContent = `Slow mode: you can send again in ${left}s.`;
    };
    tick();
    this.slowTimer = setInterval(tick, 1000);
  }

  typing() {
    if (Date.now() - this.lastTyping < TYPING_EVERY_MS || !this.input.value.trim()) return;
    this.lastTyping = Date.now();
    postForm(this.typingUrl, {}).catch(() => {});
  }

  reply(message) {
    this.replyTo.value = message.dataset.messageId;
    const author = message.querySelector(".msg-author");
    let name = author ? author.textContent : "";
    for (let prev = message; !name && prev; prev = prev.previousElementSibling) {
      const head = prev.querySelector && prev.querySelector(".msg-author");
      if (head) name = head.textContent;
    }
    this.replyBanner.querySelector("[data-reply-name]").textContent = name;
    this.replyBanner.hidden = false;
    this.input.focus();
  }

  cancelReply() {
    this.replyTo.value = "";
    this.replyBanner.hidden = true;
  }

  suggest() {
    const before = this.input.value.slice(0, this.input.selectionStart);
    const match = before.match(TRIGGER);
    if (!match) return this.closeSuggestions();
    const [, , sigil, query] = match;
    const pool = sigil === "@" ? members() : channels();
    const q = query.toLowerCase();
    this.choices = pool.filter((c) => c.key.toLowerCase().startsWith(q) || c.label.toLowerCase().startsWith(q)).slice(0, 8);
    this.sigil = sigil;
    this.query = query;
    if (!this.choices.length) return this.closeSuggestions();
    this.active = 0;
    this.renderSuggestions();
    return undefined;
  }

  renderSuggestions() {
    this.list.replaceChildren(
      ...this.choices.map((choice, index) => {
        const item = document.createElement("li");
        item.role = "option";
        item.id = `ac-${index}`;
        item.className = index === this.active ? "active" : "";
        item.setAttribute("aria-selected", index === this.active ? "true" : "false");
        item.textContent = `${this.sigil}${choice.key}`;
        if (choice.label !== choice.key) {
          const hint = document.createElement("span");
          hint.className = "muted";
          hint.textContent = ` ${choice.label}`;
          item.append(hint);
        }
        item.addEventListener("mousedown", (event) => {
          event.preventDefault();
          this.pick(index);
        });
        return item;
      }),
    );
    this.list.hidden = false;
    this.input.setAttribute("aria-activedescendant", `ac-${this.active}`);
  }

  closeSuggestions() {
    this.choices = [];
    this.list.hidden = true;
    this.input.removeAttribute("aria-activedescendant");
  }

  pick(index) {
    const choice = this.choices[index];
    const caret = this.input.selectionStart;
    const start = caret - this.query.length - 1;
    const text = `${this.sigil}${choice.key} `;
    this.input.value = this.input.value.slice(0, start) + text + this.input.value.slice(caret);
    this.input.setSelectionRange(start + text.length, start + text.length);
    this.closeSuggestions();
    this.draft.save(this.input.value);
    this.input.focus();
  }

  liveShortcodes() {
    const caret = this.input.selectionStart;
    const before = this.input.value.slice(0, caret);
    const replaced = replaceShortcodes(before);
    if (replaced !== before) {
      this.input.value = replaced + this.input.value.slice(caret);
      this.input.setSelectionRange(replaced.length, replaced.length);
    }
  }

  listen() {
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.send();
    });
    this.input.addEventListener("keydown", (event) => {
      if (this.choices.length) {
        if (event.key === "ArrowDown" || event.key === "ArrowUp") {
          event.preventDefault();
          const step = event.key === "ArrowDown" ? 1 : -1;
          this.active = (this.active + step + this.choices.length) % this.choices.length;
          this.renderSuggestions();
          return;
        }
        if (event.key === "Enter" || event.key === "Tab") {
          event.preventDefault();
          this.pick(this.active);
          return;
        }
        if (event.key === "Escape") {
          event.preventDefault();
          event.stopPropagation();
          this.closeSuggestions();
          return;
        }
      }
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.send();
      } else if (event.key === "ArrowUp" && !this.input.value) {
        if (this.pane.editLast()) event.preventDefault();
      }
    });
    this.input.addEventListener("paste", (event) => {
      const files = Array.from(event.clipboardData?.files || []);
      if (!files.length || !this.uploads) return;
      event.preventDefault();
      this.uploads.add(files);
    });
    this.input.addEventListener("input", () => {
      this.liveShortcodes();
      this.draft.save(this.input.value);
      this.autosize();
      this.suggest();
      this.typing();
    });
    this.replyBanner.querySelector("[data-reply-cancel]").addEventListener("click", () => this.cancelReply());
    this.pane.root.addEventListener("united:reply", (event) => this.reply(event.detail.message));
  }
}
