// The search box in the chat header. Focused and empty it lists the operators; after
// `from:`/`mentions:` it suggests members, after `in:` channels, after `has:`/`pinned:` their
// values (all from what the page already shows). Enter searches: htmx asks the node for the
// results fragment (the same service and permission checks as the API) and the results panel
// takes the member list's place. A refused query (400) is shown in the panel, not dropped.
import { friendlyTimes } from "./pane.js";

const OPERATORS = [
  { insert: "from:", hint: "user", help: "messages by a member" },
  { insert: "in:", hint: "channel", help: "in one channel" },
  { insert: "has:", hint: "link, file, image or video", help: "" },
  { insert: "mentions:", hint: "user", help: "messages mentioning a member" },
  { insert: "before:", hint: "2026-01-31", help: "sent before a day" },
  { insert: "after:", hint: "2026-01-01", help: "sent after a day" },
  { insert: "during:", hint: "2026-01-15", help: "sent on a day" },
  { insert: "pinned:", hint: "true or false", help: "" },
];
const VALUES = { "has:": ["link", "file", "image", "video"], "pinned:": ["true", "false"] };
const TOKEN = /(?:^|\s)(\S*)$/;

function members() {
  return Array.from(document.querySelectorAll("[data-member]"), (el) => ({
    value: el.dataset.username,
    label: el.dataset.name,
  }));
}

function channels() {
  return Array.from(document.querySelectorAll("[data-channel-link]"), (el) => ({
    value: el.dataset.channelName,
    label: `#${el.dataset.channelName}`,
  }));
}

function quoted(value) {
  return /\s/.test(value) ? `"${value}"` : value;
}

export function wireSearch() {
  const form = document.querySelector("[data-search]");
  if (!form) return;
  const input = form.querySelector("[data-search-input]");
  const pop = form.querySelector("[data-search-pop]");
  const title = form.querySelector("[data-search-pop-title]");
  const list = form.querySelector("[data-search-suggest]");
  const panel = document.querySelector("[data-search-panel]");
  const results = document.querySelector("[data-search-results]");
  const shell = document.querySelector("[data-shell]");
  let choices = [];
  let active = -1;

  const close = () => {
    pop.hidden = true;
    choices = [];
    active = -1;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
  };

  const draw = (heading) => {
    title.textContent = heading;
    list.replaceChildren(
      ...choices.map((choice, index) => {
        const item = document.createElement("li");
        item.role = "option";
        item.id = `search-opt-${index}`;
        item.className = index === active ? "active" : "";
        item.setAttribute("aria-selected", index === active ? "true" : "false");
        const main = document.createElement("strong");
        main.textContent = choice.text;
        const hint = document.createElement("span");
        hint.className = "muted";
        hint.textContent = choice.hint ? ` ${choice.hint}` : "";
        item.append(main, hint);
        item.addEventListener("mousedown", (event) => {
          event.preventDefault();
          pick(index);
        });
        return item;
      }),
    );
    pop.hidden = !choices.length;
    input.setAttribute("aria-expanded", choices.length ? "true" : "false");
    if (active >= 0) input.setAttribute("aria-activedescendant", `search-opt-${active}`);
    else input.removeAttribute("aria-activedescendant");
  };

  const suggest = () => {
    const before = input.value.slice(0, input.selectionStart ?? input.value.length);
    const token = (before.match(TOKEN) || ["", ""])[1];
    const colon = token.indexOf(":");
    active = -1;
    if (colon < 0) {
      const q = token.toLowerCase();
      choices = OPERATORS.filter((op) => op.insert.startsWith(q)).map((op) => ({
        text: op.insert,
        hint: op.hint + (op.help ? ` — ${op.help}` : ""),
        replace: token,
        with: op.insert,
        keepOpen: true,
      }));
      if (q && choices.length === 0) return close();
      return draw(q ? "Search options" : "Search options — or just type words");
    }
    const operator = token.slice(0, colon + 1).toLowerCase();
    const partial = token.slice(colon + 1).replace(/^["#@]/, "").toLowerCase();
    let pool = [];
    let heading = "";
    if (operator === "from:" || operator === "mentions:") {
      pool = members();
      heading = "Members";
    } else if (operator === "in:") {
      pool = channels();
      heading = "Channels";
    } else if (VALUES[operator]) {
      pool = VALUES[operator].map((v) => ({ value: v, label: v }));
      heading = operator.slice(0, -1);
    } else {
      return close();
    }
    choices = pool
      .filter((c) => c.value.toLowerCase().startsWith(partial) || c.label.toLowerCase().startsWith(partial))
      .slice(0, 8)
      .map((c) => ({
        text: operator === "in:" ? c.label : c.value,
        hint: c.label !== c.value && operator !== "in:" ? c.label : "",
        replace: token,
        with: `${operator}${quoted(c.value)} `,
      }));
    if (choices.length) active = 0;
    return choices.length ? draw(heading) : close();
  };

  const pick = (index) => {
    const choice = choices[index];
    const caret = input.selectionStart ?? input.value.length;
    const start = caret - choice.replace.length;
    input.value = input.value.slice(0, start) + choice.with + input.value.slice(caret);
    const at = start + choice.with.length;
    input.setSelectionRange(at, at);
    input.focus();
    suggest();
  };

  const showPanel = (on) => {
    panel.hidden = !on;
    shell.classList.toggle("searching", on);
  };

  input.addEventListener("focus", suggest);
  input.addEventListener("click", suggest);
  input.addEventListener("input", suggest);
  input.addEventListener("blur", () => setTimeout(close, 120));
  input.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      if (!choices.length) return;
      event.preventDefault();
      active = (active + (event.key === "ArrowDown" ? 1 : -1) + choices.length + (active < 0 ? 1 : 0)) % choices.length;
      draw(title.textContent);
    } else if ((event.key === "Enter" || event.key === "Tab") && active >= 0 && choices.length) {
      event.preventDefault();
      pick(active);
    } else if (event.key === "Escape") {
      event.stopPropagation();
      if (!pop.hidden) close();
      else if (!panel.hidden) showPanel(false);
      else input.blur();
    } else if (event.key === "Enter") {
      close();
    }
  });
  form.addEventListener("submit", (event) => {
    if (!input.value.trim()) event.preventDefault();
  });
  form.addEventListener("htmx:beforeRequest", () => results.setAttribute("aria-busy", "true"));
  document.body.addEventListener("htmx:beforeSwap", (event) => {
    if (event.detail.target === results && event.detail.xhr.status === 400) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
  document.body.addEventListener("htmx:afterSwap", (event) => {
    if (event.detail.target !== results) return;
    results.setAttribute("aria-busy", "false");
    results.scrollTop = 0;
    friendlyTimes(results);
    showPanel(true);
  });
  panel.querySelector("[data-search-close]").addEventListener("click", () => {
    showPanel(false);
    input.focus();
  });
  // Ctrl/Cmd+F while in the client: straight into the search box (the page has no other
  // text worth the browser's own find here).
  document.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "f" && !document.querySelector("dialog[open]")) {
      event.preventDefault();
      input.focus();
      input.select();
    }
  });
}
