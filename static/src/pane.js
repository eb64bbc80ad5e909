// The message pane: scrolling, inserting and refreshing server-rendered message fragments,
// the message toolbar (react, reply, edit in place, pin, delete), unread and read markers.
import { decodeMentions, encodeMentions } from "./composer.js";
import { PICKER, replaceShortcodes } from "./emoji.js";
import { wireAttachments } from "./attachments.js";
import { errorText, fragmentNodes, getText, postForm } from "./http.js";

const GROUP_WINDOW_MS = 7 * 60 * 1000;

const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const day = new Intl.DateTimeFormat(undefined, { dateStyle: "short" });

// "Today at 14:05", "Yesterday at 09:12", else the date: in the reader's own time zone.
export function friendlyTimes(root) {
  const today = new Date().toDateString();
  const yesterday = new Date(Date.now() - 86400000).toDateString();
  root.querySelectorAll("time.msg-time, time.msg-hover-time, time.thread-time").forEach((el) => {
    const when = new Date(el.getAttribute("datetime"));
    if (Number.isNaN(when.getTime())) return;
    el.title = when.toLocaleString();
    if (el.classList.contains("msg-hover-time")) {
      el.textContent = clock.format(when);
      return;
    }
    const date = when.toDateString();
    const prefix = date === today ? "Today" : date === yesterday ? "Yesterday" : day.format(when);
    el.textContent = `${prefix} at ${clock.format(when)}`;
  });
}

// A message re-rendered while its edit form is open (a reaction, an embed, the gateway's copy of
// what the composer just placed) keeps the form, what was typed in it and the caret.
export function swapMessage(existing, nodes) {
  const form = existing.querySelector("[data-edit-form]");
  const area = form && form.querySelector("textarea");
  const focused = Boolean(area) && document.activeElement === area;
  const caret = area ? [area.selectionStart, area.selectionEnd] : null;
  existing.replaceWith(...nodes);
  if (!form) return;
  const fresh = nodes.find((node) => node.id === existing.id);
  const body = fresh && fresh.querySelector("[data-body]");
  if (!body) return;
  body.hidden = true;
  body.after(form);
  if (focused) {
    area.focus();
    area.setSelectionRange(...caret);
  }
}

export class Pane {
  constructor(root) {
    this.root = root;
    this.list = root.querySelector("[data-messages]");
    this.scroller = root.querySelector("[data-scroller]");
    this.base = root.dataset.fragmentBase;
    this.readUrl = root.dataset.lastReadUrl;
    this.acked = "0";
    this.jumpBottom = root.querySelector("[data-jump-bottom]");
    this.picker = document.querySelector("[data-emoji-picker]");
    // The thread panel is a second pane beside the channel's: page-wide duties stay with the
    // channel's pane.
    this.inThread = root.hasAttribute("data-thread-pane");
    this.listen();
    friendlyTimes(this.list);
    new MutationObserver(() => friendlyTimes(this.list)).observe(this.list, { childList: true });
    wireAttachments(this.list);
    if (root.dataset.around) {
      // Opened on a message in history (a search result, an old reply): show it in context.
      requestAnimationFrame(() => this.jumpTo(root.dataset.around, { linger: true }));
    } else {
      this.scrollToBottom();
      this.markReadSoon();
    }
  }

  // Below a jump into history the newest messages are not on the page yet.
  detached() {
    return this.root.hasAttribute("data-detached");
  }

  messages() {
    return this.list.querySelectorAll("[data-message]");
  }

  lastMessage() {
    const all = this.messages();
    return all.length ? all[all.length - 1] : null;
  }

  nearBottom() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < 120;
  }

  scrollToBottom() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  groupedAfter(previous, authorId, timestamp) {
    if (!previous || previous.dataset.authorId !== authorId) return false;
    return new Date(timestamp) - new Date(previous.dataset.timestamp) < GROUP_WINDOW_MS;
  }

  url(id, action) {
    return `${this.base}${id}/${action}/`;
  }

  // Insert or replace: the same message may arrive from the composer and from the gateway.
  place(html) {
    const stick = this.nearBottom();
    fragmentNodes(html).forEach((node) => {
      const existing = node.id ? document.getElementById(node.id) : null;
      if (existing) swapMessage(existing, [node]);
      else this.list.appendChild(node);
    });
    if (stick) this.scrollToBottom();
    else if (this.jumpBottom) this.jumpBottom.hidden = false;
    this.markReadSoon();
  }

  // A message of mine still on its way out, by the nonce it was sent with.
  pendingFor(nonce) {
    return nonce ? this.list.querySelector(`[data-pending][data-nonce="${CSS.escape(nonce)}"]`) : null;
  }

  // The node's rendering of a message sent from here takes its pending entry's place, unless
  // that message is on the page already (the gateway's copy, or the composer's answer, came
  // first): then the entry just goes, so the message never shows twice.
  settle(nonce, html) {
    const pending = this.pendingFor(nonce);
    const nodes = fragmentNodes(html);
    const message = nodes.find((node) => node.matches("[data-message]"));
    if (pending && message && !document.getElementById(message.id)) {
      const stick = this.nearBottom();
      pending.replaceWith(...nodes);
      if (stick) this.scrollToBottom();
      this.markReadSoon();
      return;
    }
    if (pending) pending.remove();
    if (html.trim()) this.place(html);
  }

  async add(id, authorId, timestamp, nonce) {
    if (document.getElementById(`message-${id}`)) return;
    if (this.detached()) {
      // Appending here would leave a gap; the newer pages or the present have it.
      if (this.jumpBottom) this.jumpBottom.hidden = false;
      return;
    }
    const grouped = this.groupedAfter(this.lastMessage(), authorId, timestamp) ? "1" : "0";
    const html = await getText(`${this.url(id, "fragment")}?grouped=${grouped}`);
    if (this.pendingFor(nonce)) this.settle(nonce, html);
    else this.place(html);
  }

  async refresh(id) {
    const element = document.getElementById(`message-${id}`);
    if (!element) return;
    const grouped = element.classList.contains("grouped") ? "1" : "0";
    const html = await getText(`${this.url(id, "fragment")}?grouped=${grouped}`);
    const [node] = fragmentNodes(html);
    const current = document.getElementById(`message-${id}`);
    if (node && current) swapMessage(current, [node]);
  }

  remove(id) {
    const element = document.getElementById(`message-${id}`);
    if (!element) return;
    const next = element.nextElementSibling;
    // The next message of the run now needs its own header: refetch it ungrouped.
    element.remove();
    if (next && next.classList.contains("grouped")) {
      next.classList.remove("grouped");
      this.refresh(next.dataset.messageId);
    }
  }

  // keepEdit: an action other than saving the edit leaves an open edit form where it is.
  async act(url, fields, message, { keepEdit = true } = {}) {
    const grouped = message.classList.contains("grouped") ? "1" : "0";
    const response = await postForm(`${url}?grouped=${grouped}`, fields);
    const html = await response.text();
    if (!response.ok) {
      this.flash(errorText(html));
      return;
    }
    // The message may have been re-rendered while the request was out: act on the one shown.
    const shown = document.getElementById(message.id) || message;
    if (html.trim()) {
      const nodes = fragmentNodes(html);
      if (keepEdit) swapMessage(shown, nodes);
      else shown.replaceWith(...nodes);
    } else this.remove(message.dataset.messageId);
  }

  flash(text) {
    const region = this.root.querySelector("[data-composer-error]") || document.querySelector("[data-composer-error]");
    if (!region) return;
    region.textContent = text;
    region.hidden = false;
    setTimeout(() => {
      region.hidden = true;
    }, 6000);
  }

  markReadSoon() {
    clearTimeout(this.readTimer);
    this.readTimer = setTimeout(() => this.markRead(false), 800);
  }

  async markRead(force) {
    if (this.detached()) return;
    const last = this.lastMessage();
    if (!last || document.visibilityState !== "visible") return;
    if (!force && !this.nearBottom()) return;
    const id = last.dataset.messageId;
    if (BigInt(id) <= BigInt(this.acked)) return;
    this.acked = id;
    const response = await postForm(this.readUrl, { message_id: id });
    if (response.ok) {
      const bar = this.root.querySelector("[data-new-bar]");
      if (bar) bar.hidden = true;
    }
  }

  openPicker(button, message) {
    const picker = this.picker;
    picker.replaceChildren(
      ...PICKER.map((emoji) => {
        const choice = document.createElement("button");
        choice.type = "button";
        choice.textContent = emoji;
        choice.setAttribute("aria-label", `React with ${emoji}`);
        choice.addEventListener("click", () => {
          picker.hidden = true;
          this.act(this.url(message.dataset.messageId, "react"), { emoji }, message);
        });
        return choice;
      }),
    );
    const rect = button.getBoundingClientRect();
    picker.hidden = false;
    picker.style.top = `${Math.max(8, rect.top - picker.offsetHeight - 6)}px`;
    picker.style.left = `${Math.max(8, rect.right - picker.offsetWidth)}px`;
    picker.querySelector("button").focus();
  }

  edit(message) {
    if (message.querySelector("[data-edit-form]")) return;
    const body = message.querySelector("[data-body]");
    const form = document.createElement("form");
    form.dataset.editForm = "";
    form.className = "edit-form";
    const area = document.createElement("textarea");
    area.value = decodeMentions(message.dataset.content);
    area.setAttribute("aria-label", "Edit message");
    area.rows = Math.min(8, area.value.split("\n").length + 1);
    const hint = document.createElement("p");
    hint.className = "small muted";
    hint.textContent = "Esc to cancel · Enter to save";
    form.append(area, hint);
    body.hidden = true;
    body.after(form);
    area.focus();
    area.setSelectionRange(area.value.length, area.value.length);
    // The form outlives re-renders of its message (swapMessage): always act on the one shown.
    const shown = () => document.getElementById(message.id) || message;
    const cancel = () => {
      const current = shown();
      form.remove();
      const currentBody = current.querySelector("[data-body]");
      if (currentBody) currentBody.hidden = false;
    };
    const save = () => {
      const content = encodeMentions(replaceShortcodes(area.value));
      if (content.trim() === shown().dataset.content.trim()) cancel();
      else this.act(this.url(message.dataset.messageId, "edit"), { content }, shown(), { keepEdit: false });
    };
    area.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        event.stopPropagation();
        cancel();
      } else if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        save();
      }
    });
  }

  editLast() {
    const mine = this.list.querySelectorAll("[data-message][data-mine]:not(.deleted)");
    if (mine.length) this.edit(mine[mine.length - 1]);
    return mine.length > 0;
  }

  jumpTo(id, { linger = false } = {}) {
    const target = document.getElementById(`message-${id}`);
    if (!target && this.inThread) return;
    if (!target) {
      // Further back than what is loaded: open the channel around it.
      const url = new URL(window.location.href);
      url.search = `?around=${id}`;
      url.hash = `message-${id}`;
      window.location.assign(url.toString());
      return;
    }
    target.scrollIntoView({ block: "center" });
    target.classList.add("highlight");
    target.focus({ preventScroll: true });
    setTimeout(() => target.classList.remove("highlight"), linger ? 4000 : 2000);
  }

  listen() {
    this.list.addEventListener("click", (event) => {
      const message = event.target.closest("[data-message]");
      const jump = event.target.closest("[data-jump-to]");
      if (jump) {
        event.preventDefault();
        this.jumpTo(jump.dataset.jumpTo);
        return;
      }
      if (!message) return;
      const chip = event.target.closest("[data-react]");
      if (chip) {
        this.act(this.url(message.dataset.messageId, "react"), { emoji: chip.dataset.react }, message);
        return;
      }
      const button = event.target.closest("[data-action]");
      if (!button) return;
      const id = message.dataset.messageId;
      const action = button.dataset.action;
      if (action === "react") this.openPicker(button, message);
      else if (action === "edit") this.edit(message);
      else if (action === "reply") this.root.dispatchEvent(new CustomEvent("united:reply", { detail: { message } }));
      else if (action === "pin") this.act(this.url(id, "pin"), { pinned: button.dataset.pinned }, message);
      else if (action === "delete" && window.confirm("Delete this message? This cannot be undone.")) {
        this.act(this.url(id, "delete"), {}, message);
      }
    });
    document.addEventListener("click", (event) => {
      const jump = event.target.closest("#pins-dialog [data-jump-to]");
      if (jump && !this.inThread) {
        event.preventDefault();
        jump.closest("dialog").close();
        this.jumpTo(jump.dataset.jumpTo);
      }
      if (!this.picker.hidden && !event.target.closest("[data-emoji-picker], [data-action='react']")) this.picker.hidden = true;
    });
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !this.picker.hidden) this.picker.hidden = true;
    });
    this.scroller.addEventListener("scroll", () => {
      if (this.nearBottom()) {
        if (this.jumpBottom) this.jumpBottom.hidden = true;
        this.markReadSoon();
      }
    });
    if (this.jumpBottom) {
      this.jumpBottom.addEventListener("click", () => {
        if (this.detached()) window.location.assign(this.jumpBottom.dataset.presentUrl);
        else this.scrollToBottom();
      });
    }
    const jumpUnread = this.root.querySelector("[data-jump-unread]");
    if (jumpUnread) {
      jumpUnread.addEventListener("click", () => {
        const marker = document.getElementById("unread-marker");
        if (marker) marker.scrollIntoView({ block: "center" });
        else if (jumpUnread.dataset.unreadId) this.jumpTo(jumpUnread.dataset.unreadId);
      });
    }
    const markRead = this.root.querySelector("[data-mark-read]");
    if (markRead) markRead.addEventListener("click", () => this.markRead(true));
    document.addEventListener("visibilitychange", () => this.markReadSoon());
    // Older pages load above what is on screen: keep the reader's place.
    let fromBottom = null;
    document.body.addEventListener("htmx:beforeSwap", (event) => {
      const target = event.detail.target;
      if (target.matches && target.matches("[data-sentinel]:not([data-sentinel-newer])") && this.list.contains(target)) {
        fromBottom = this.scroller.scrollHeight - this.scroller.scrollTop;
      }
    });
    document.body.addEventListener("htmx:afterSettle", () => {
      if (this.detached() && !this.list.querySelector("[data-sentinel-newer]")) {
        // The newest page arrived: from here on live messages append again.
        this.root.removeAttribute("data-detached");
        if (this.jumpBottom) {
          this.jumpBottom.hidden = true;
          this.jumpBottom.textContent = "New messages below — jump to present";
        }
      }
      if (fromBottom !== null) {
        this.scroller.scrollTop = this.scroller.scrollHeight - fromBottom;
        fromBottom = null;
      }
    });
  }
}
