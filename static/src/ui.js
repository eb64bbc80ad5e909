// Page chrome: dialogs, copy buttons, the phone-width panels, the status picker, the
// reconnecting banner, and the keyboard: Ctrl/Cmd+K quick switcher, Esc marks read.
import { getText } from "./http.js";

export function wireDialogs() {
  // The node said the dialog's work is done (a voice channel or category created): close it.
  document.body.addEventListener("united:dialog-done", () => {
    document.querySelectorAll("dialog[open]").forEach((dialog) => {
      dialog.querySelectorAll("form").forEach((form) => form.reset());
      dialog.close();
    });
  });
  document.addEventListener("click", (event) => {
    const opener = event.target.closest("[data-dialog-open]");
    if (opener) {
      const dialog = document.getElementById(opener.dataset.dialogOpen);
      const parent = dialog.querySelector("[data-parent-field]");
      if (parent) parent.value = opener.dataset.parentId || "";
      // The opener says which channel type to start from (a voice category's "+": voice).
      const wanted = opener.dataset.channelType || "0";
      dialog.querySelectorAll("[data-channel-type-choice]").forEach((radio) => {
        radio.checked = radio.value === wanted;
      });
      // One dialog serves many rows (delete this channel): the row's opener fills it in.
      dialog.querySelectorAll("[data-from-opener]").forEach((field) => {
        const value = opener.dataset[field.dataset.fromOpener] || "";
        if ("value" in field && field.tagName === "INPUT") field.value = value;
        else field.textContent = value;
      });
      if (!dialog.open) dialog.showModal();
    }
    const closer = event.target.closest("[data-dialog-close]");
    if (closer) closer.closest("dialog").close();
    const copy = event.target.closest("[data-copy]");
    if (copy) {
      const field = document.querySelector(copy.dataset.copy);
      field.select();
      navigator.clipboard?.writeText(field.value).then(() => {
        copy.textContent = "Copied";
      });
    }
    const toggle = event.target.closest("[data-toggle-panel]");
    const shell = document.querySelector("[data-shell]");
    if (toggle && shell) {
      const name = `show-${toggle.dataset.togglePanel}`;
      const on = !shell.classList.contains(name);
      shell.classList.remove("show-sidebar", "show-members");
      shell.classList.toggle(name, on);
      toggle.setAttribute("aria-expanded", on ? "true" : "false");
    } else if (shell && !event.target.closest("[data-sidebar], [data-members]")) {
      shell.classList.remove("show-sidebar", "show-members");
    }
  });
}

export function wireStatus(gw) {
  const picker = document.querySelector("[data-status-picker]");
  if (picker) picker.addEventListener("change", () => gw.setStatus(picker.value));
  const banner = document.querySelector("[data-conn-banner]");
  if (banner) gw.onState((state) => {
    banner.hidden = state !== "reconnecting";
  });
}

function matches(channels, query) {
  const q = query.trim().toLowerCase().replace(/^#/, "");
  const scored = channels.filter((c) => !q || c.name.toLowerCase().includes(q) || c.guild.toLowerCase().includes(q));
  return scored.sort((a, b) => Number(b.unread) - Number(a.unread)).slice(0, 12);
}

export function wireKeyboard(pane) {
  const dialog = document.getElementById("switcher");
  let channels = null;
  let active = 0;
  let shown = [];
  const input = dialog && dialog.querySelector("[data-switcher-input]");
  const results = dialog && dialog.querySelector("[data-switcher-results]");

  const draw = () => {
    shown = matches(channels || [], input.value);
    active = Math.min(active, Math.max(shown.length - 1, 0));
    results.replaceChildren(
      ...shown.map((c, index) => {
        const item = document.createElement("li");
        item.role = "option";
        item.id = `sw-${index}`;
        item.className = `${index === active ? "active" : ""}${c.unread ? " unread" : ""}`;
        item.setAttribute("aria-selected", index === active ? "true" : "false");
        const name = document.createElement("span");
        name.textContent = `# ${c.name}`;
        const guild = document.createElement("span");
        guild.className = "muted small";
        guild.textContent = c.guild;
        item.append(name, guild);
        item.addEventListener("click", () => window.location.assign(c.url));
        return item;
      }),
    );
    input.setAttribute("aria-activedescendant", shown.length ? `sw-${active}` : "");
  };

  const open = async () => {
    if (!dialog) return;
    input.value = "";
    active = 0;
    dialog.showModal();
    if (!channels) channels = JSON.parse(await getText("/app/switcher.json")).channels;
    draw();
  };

  if (dialog) {
    input.addEventListener("input", () => {
      active = 0;
      draw();
    });
    input.addEventListener("keydown", (event) => {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        active = (active + (event.key === "ArrowDown" ? 1 : -1) + shown.length) % Math.max(shown.length, 1);
        draw();
      } else if (event.key === "Enter" && shown[active]) {
        event.preventDefault();
        window.location.assign(shown[active].url);
      }
    });
  }
  document.addEventListener("click", (event) => {
    if (event.target.closest("[data-open-switcher]")) open();
  });
  document.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "k") {
      event.preventDefault();
      open();
    } else if (event.key === "Escape" && pane && !document.querySelector("dialog[open]")) {
      pane.markRead(true);
    }
  });
}
