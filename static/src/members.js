// Members: the profile card (opened from the member list or a message's author), its actions
// (roles checklist, timeout, kick, ban, through the REST API and its check_* services), role
// colours (set through the CSSOM: the CSP forbids style attributes), and the drag-and-drop
// role order in the roles settings, with Up/Down buttons as its keyboard alternative.
import htmx from "./htmx-global.js";
import { api } from "./api.js";
import { getText } from "./http.js";

// WCAG relative luminance of an "#rrggbb" or "rgb(r, g, b)" colour.
function luminance(color) {
  let parts;
  if (color.startsWith("#")) parts = [1, 3, 5].map((i) => parseInt(color.slice(i, i + 2), 16));
  else parts = (color.match(/[\d.]+/g) || []).slice(0, 3).map(Number);
  const [r, g, b] = parts.map((v) => {
    const c = v / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

function backgroundOf(el) {
  for (let node = el; node && node.nodeType === 1; node = node.parentElement) {
    const bg = getComputedStyle(node).backgroundColor;
    const alpha = bg.match(/rgba\((?:[^,]+,){3}\s*([\d.]+)\)/);
    if (bg && bg !== "transparent" && !(alpha && Number(alpha[1]) < 1)) return bg;
  }
  return getComputedStyle(document.body).backgroundColor;
}

// A role colour is the owner's choice: it colours a name only where it stays readable
// (WCAG AA, 4.5:1) on the current theme, else the name keeps the theme's text colour.
function paintName(el) {
  el.style.color = "";
  const a = luminance(el.dataset.nameColor);
  const b = luminance(backgroundOf(el));
  const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  if (ratio >= 4.5) el.style.color = el.dataset.nameColor;
}

export function paintRoleColors(root = document) {
  root.querySelectorAll("[data-name-color]").forEach(paintName);
  root.querySelectorAll("[data-swatch]").forEach((el) => {
    el.style.backgroundColor = el.dataset.swatch;
  });
}

// --- the profile card --------------------------------------------------------------------

const DIALOG = "[data-member-card-dialog]";

function cardParts() {
  const dialog = document.querySelector(DIALOG);
  return dialog ? { dialog, body: dialog.querySelector("[data-member-card-body]") } : null;
}

function showFailure(body, text) {
  const title = document.createElement("h2");
  title.id = "member-card-name";
  title.textContent = "Profile unavailable";
  const line = document.createElement("p");
  line.textContent = text;
  const close = document.createElement("button");
  close.type = "button";
  close.className = "secondary";
  close.dataset.dialogClose = "";
  close.textContent = "Close";
  body.replaceChildren(title, line, close);
}

async function loadCard(url) {
  const parts = cardParts();
  if (!parts) return;
  try {
    parts.body.innerHTML = await getText(url);
    htmx.process(parts.body);
    paintRoleColors(parts.body);
  } catch (error) {
    showFailure(
      parts.body,
      error.status === 404 ? "This person is not a member of this community any more." : "The profile could not be loaded. Try again.",
    );
  }
}

async function openCard(opener) {
  const parts = cardParts();
  const shell = document.querySelector("[data-shell]");
  if (!parts || !shell || !shell.dataset.guildId) return;
  const url = `/app/guilds/${shell.dataset.guildId}/members/${opener.dataset.userId}/card/`;
  if (!parts.dialog.open) parts.body.replaceChildren(); // never a glimpse of the last card
  await loadCard(url);
  parts.dialog.returnTo = opener;
  if (!parts.dialog.open) parts.dialog.showModal();
  const first = parts.body.querySelector("[data-dialog-close]");
  if (first) first.focus();
}

function say(card, text, isError = false) {
  const status = card.querySelector("[data-card-status]");
  const alert = card.querySelector("[data-card-error]");
  if (status) status.textContent = isError ? "" : text;
  if (alert) alert.textContent = isError ? text : "";
}

const memberPath = (card) => `/api/v1/guilds/${card.dataset.guildId}/members/${card.dataset.userId}`;
const reasonHeader = (reason) => (reason ? { "X-Audit-Log-Reason": encodeURIComponent(reason) } : {});

async function toggleRole(card, box) {
  box.disabled = true;
  const name = box.closest("label").textContent.trim();
  try {
    await api(box.checked ? "PUT" : "DELETE", `${memberPath(card)}/roles/${box.value}`);
    await loadCard(card.dataset.cardUrl);
    const fresh = document.querySelector("[data-member-card]");
    if (fresh) {
      say(fresh, `${box.checked ? "Gave" : "Took away"} the role ${name}.`);
      const again = fresh.querySelector(`[data-role-toggle][value="${box.value}"]`);
      if (again) again.focus();
    }
  } catch (error) {
    box.checked = !box.checked;
    box.disabled = false;
    say(card, error.message, true);
  }
}

async function act(card, form, submitter) {
  const data = new FormData(form);
  const reason = String(data.get("reason") || "").trim();
  const name = card.dataset.name;
  const action = form.dataset.memberAction;
  const buttons = form.querySelectorAll("button");
  buttons.forEach((b) => {
    b.disabled = true;
  });
  try {
    if (action === "timeout") {
      const lift = submitter && submitter.hasAttribute("data-lift");
      const seconds = Number(data.get("seconds"));
      const until = lift ? null : new Date(Date.now() + seconds * 1000).toISOString();
      await api("PATCH", memberPath(card), { communication_disabled_until: until }, { headers: reasonHeader(reason) });
      await loadCard(card.dataset.cardUrl);
      const fresh = document.querySelector("[data-member-card]");
      if (fresh) say(fresh, lift ? `${name} can talk again.` : `${name} is timed out.`);
      return;
    }
    if (action === "kick") {
      await api("DELETE", memberPath(card), undefined, { headers: reasonHeader(reason) });
    } else if (action === "ban") {
      const path = `/api/v1/guilds/${card.dataset.guildId}/bans/${card.dataset.userId}`;
      await api("PUT", path, { delete_message_seconds: Number(data.get("delete_message_seconds")), reason });
    }
    const parts = cardParts();
    const done = document.createElement("p");
    done.setAttribute("role", "status");
    done.textContent = action === "kick" ? `${name} was kicked.` : `${name} was banned.`;
    const title = document.createElement("h2");
    title.id = "member-card-name";
    title.textContent = name;
    const close = document.createElement("button");
    close.type = "button";
    close.dataset.dialogClose = "";
    close.textContent = "Close";
    parts.body.replaceChildren(title, done, close);
    close.focus();
    htmx.trigger(document.body, "refresh-members");
  } catch (error) {
    buttons.forEach((b) => {
      b.disabled = false;
    });
    say(card, error.message, true);
  }
}

function wireCard() {
  document.addEventListener("click", (event) => {
    const opener = event.target.closest("[data-member-card-open]");
    if (opener && !event.target.closest("[data-member-card]")) {
      event.preventDefault();
      openCard(opener);
    }
  });
  document.addEventListener("change", (event) => {
    const box = event.target.closest("[data-role-toggle]");
    const card = box && box.closest("[data-member-card]");
    if (card) toggleRole(card, box);
  });
  document.addEventListener("submit", (event) => {
    const form = event.target.closest("[data-member-action]");
    const card = form && form.closest("[data-member-card]");
    if (!card) return;
    event.preventDefault();
    act(card, form, event.submitter);
  });
  const dialog = document.querySelector(DIALOG);
  if (dialog) {
    dialog.addEventListener("close", () => {
      const back = dialog.returnTo;
      if (back && back.isConnected) back.focus();
    });
  }
}

// --- role order: drag, or Up/Down -------------------------------------------------------

function wireRoleOrder() {
  const list = document.querySelector("[data-role-order]");
  if (!list) return;
  const alert = document.querySelector("[data-role-order-error]");
  let dragged = null;

  const rows = () => Array.from(list.querySelectorAll("[data-role-row]"));
  const save = async (row) => {
    // Displayed highest first; positions count up from @everyone (0), which never moves.
    const ordered = rows().filter((r) => !r.hasAttribute("data-everyone"));
    const position = ordered.length - ordered.indexOf(row);
    try {
      await api("PATCH", `/api/v1/guilds/${list.dataset.guildId}/roles`, [{ id: row.dataset.roleId, position }]);
      window.location.assign(`${window.location.pathname}?saved=1`);
    } catch (error) {
      if (alert) alert.textContent = error.message;
      window.setTimeout(() => window.location.reload(), 2500);
    }
  };

  list.addEventListener("dragstart", (event) => {
    const row = event.target.closest("[data-role-row][draggable='true']");
    if (!row) return;
    dragged = row;
    row.classList.add("dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", row.dataset.roleId);
  });
  list.addEventListener("dragover", (event) => {
    const over = event.target.closest("[data-role-row]");
    if (!dragged || !over || over === dragged) return;
    // Nothing goes below @everyone, nor above the highest role one may move.
    if (over.hasAttribute("data-everyone") || !over.hasAttribute("data-movable")) return;
    event.preventDefault();
    const box = over.getBoundingClientRect();
    const after = event.clientY > box.top + box.height / 2;
    over.parentNode.insertBefore(dragged, after ? over.nextSibling : over);
  });
  list.addEventListener("drop", (event) => {
    if (!dragged) return;
    event.preventDefault();
  });
  list.addEventListener("dragend", () => {
    if (!dragged) return;
    const row = dragged;
    dragged = null;
    row.classList.remove("dragging");
    if (row.dataset.index !== String(rows().indexOf(row))) save(row);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  paintRoleColors();
  wireCard();
  wireRoleOrder();
  // The member list is redrawn by htmx (gateway events): paint the new names.
  document.body.addEventListener("htmx:afterSwap", (event) => paintRoleColors(event.target));
  new MutationObserver(() => paintRoleColors()).observe(document.documentElement, {
    attributes: true,
    attributeFilter: ["data-theme"],
  });
});
