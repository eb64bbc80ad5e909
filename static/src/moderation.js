// Moderation in the chat: the report dialog, the moderators' HTMX forms answering a refusal in
// place, and the timed-out composer's humane countdown.
//
// Another screen opens the report dialog for a member with any element carrying
//   data-action="report-user" data-user-id="<id>" [data-guild-id="<id>"] [data-user-name="<name>"]
// (the guild defaults to the open one), or from code with openReport({ type: "user", ... }).

import { untilWords } from "./until.js";

function excerpt(text, length = 140) {
  const flat = (text || "").replace(/\s+/g, " ").trim();
  return flat.length > length ? `${flat.slice(0, length - 1)}…` : flat;
}

// { type: "message", channelId, messageId, about } or { type: "user", userId, guildId, about }
export function openReport(target) {
  const dialog = document.getElementById("report-dialog");
  if (!dialog) return;
  const form = dialog.querySelector("[data-report-form]");
  form.reset();
  form.classList.remove("sent");
  dialog.querySelector("#report-result").replaceChildren();
  dialog.querySelector("[data-report-fields]").hidden = false;
  dialog.querySelector("[data-report-submit]").hidden = false;
  dialog.querySelector("[data-report-close]").textContent = "Cancel";
  dialog.querySelectorAll("[data-report-field]").forEach((field) => {
    field.value = target[field.dataset.reportField] || "";
  });
  dialog.querySelector("[data-report-title]").textContent = target.type === "user" ? "Report a member" : "Report a message";
  dialog.querySelector("[data-report-about]").textContent = target.about || "";
  dialog.showModal();
  dialog.querySelector("input[name=category]").focus();
}

function wireReports() {
  const shell = document.querySelector("[data-shell]");
  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-action='report'], [data-action='report-user']");
    if (!button) return;
    if (button.dataset.action === "report") {
      const message = button.closest("[data-message]");
      if (!message) return;
      const author = message.querySelector(".msg-author");
      const name = author ? `${author.textContent.trim()}: ` : "";
      openReport({
        type: "message",
        channelId: shell ? shell.dataset.channelId : "",
        messageId: message.dataset.messageId,
        about: `${name}“${excerpt(message.querySelector("[data-body]")?.textContent)}”`,
      });
    } else {
      openReport({
        type: "user",
        userId: button.dataset.userId,
        guildId: button.dataset.guildId || (shell ? shell.dataset.guildId : ""),
        about: button.dataset.userName || "",
      });
    }
  });
  // A sent report: the dialog now only says so and offers to close.
  document.body.addEventListener("htmx:afterSwap", (event) => {
    if (event.detail.target.id !== "report-result") return;
    const sent = event.detail.target.querySelector("[data-report-sent]");
    if (!sent) return;
    const dialog = event.detail.target.closest("dialog");
    dialog.querySelector("[data-report-form]").classList.add("sent");
    dialog.querySelector("[data-report-fields]").hidden = true;
    dialog.querySelector("[data-report-submit]").hidden = true;
    const close = dialog.querySelector("[data-report-close]");
    close.textContent = "Close";
    close.focus();
  });
}

// A refusal (4xx) answered into a region marked data-swap-errors is shown there, not dropped:
// HTMX leaves 4xx bodies unswapped by default.
function wireRefusals() {
  document.body.addEventListener("htmx:beforeSwap", (event) => {
    const status = event.detail.xhr.status;
    const target = event.detail.target;
    if (status >= 400 && status < 500 && target && target.closest && target.closest("[data-swap-errors]")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
  // After a case action the page's notice takes the focus, so a keyboard user hears the outcome.
  document.body.addEventListener("htmx:afterSettle", (event) => {
    const flash = document.querySelector("#case-body [data-flash]");
    if (flash && event.detail.target && event.detail.target.id === "case-body") flash.focus();
    localTimes(document);
  });
}

function localTimes(root) {
  root.querySelectorAll("time[data-local-time]").forEach((el) => {
    const when = new Date(el.getAttribute("datetime"));
    if (!Number.isNaN(when.getTime())) el.textContent = when.toLocaleString();
  });
}

// The composer of a timed-out member: disabled, saying when they may speak again in their own
// time zone, counting down, and re-enabled by itself at the end or when a moderator lifts the
// timeout (GUILD_MEMBER_UPDATE for them on the gateway).
function wireTimeout(gw, shell, form) {
  const notice = form.querySelector("[data-timeout-notice]");
  if (!notice) return;
  const input = form.querySelector("[data-composer-input]");
  const text = notice.querySelector("[data-timeout-text]");
  const controls = () => form.querySelectorAll("textarea, [data-attach], input[type=file]");
  let timer = null;
  let until = null;

  const draw = () => {
    if (!until || until.getTime() <= Date.now()) {
      set(null);
      return;
    }
    text.textContent = `You are timed out. You can send messages again ${untilWords(until)}.`;
  };
  const set = (moment) => {
    clearInterval(timer);
    timer = null;
    until = moment && moment.getTime() > Date.now() ? moment : null;
    controls().forEach((el) => {
      el.disabled = Boolean(until);
    });
    form.classList.toggle("timed-out", Boolean(until));
    notice.hidden = !until;
    if (until) {
      notice.dataset.until = until.toISOString();
      draw();
      timer = setInterval(draw, 1000);
    } else {
      delete notice.dataset.until;
      text.textContent = "";
      if (document.activeElement === document.body) input.focus();
    }
  };
  if (notice.dataset.until) set(new Date(notice.dataset.until));

  const here = [notice.dataset.channelId, notice.dataset.parentId].filter(Boolean);
  gw.on((t, d) => {
    if (t !== "GUILD_MEMBER_UPDATE" || !d || d.guild_id !== shell.dataset.guildId) return;
    if (!d.user || d.user.id !== shell.dataset.userId) return;
    const ends = [d.communication_disabled_until, ...(d.channel_timeouts || []).filter((c) => here.includes(c.channel_id)).map((c) => c.until)]
      .filter(Boolean)
      .map((iso) => new Date(iso));
    set(ends.length ? new Date(Math.max(...ends.map((e) => e.getTime()))) : null);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  wireReports();
  wireRefusals();
  localTimes(document);
  const shell = document.querySelector("[data-shell]");
  // chat.js, imported before this module, has started the tab's gateway by now.
  // Each composer on the page: the channel's, and an open thread's beside it.
  if (shell && window.unitedGateway) {
    document.querySelectorAll("[data-composer]").forEach((form) => wireTimeout(window.unitedGateway, shell, form));
  }
});
