// Application commands in the page: typing "/" at the start of a guild channel's composer
// opens a listbox of the guild's slash commands (arrow keys, Enter or Tab to pick, Escape to
// close); a picked command shows a field per option and Enter (or its Send button) invokes it.
// MESSAGE commands are offered by each message's "Apps" action and USER commands on the
// member card. The commands come from GET /interactions/commands, once per channel.
import { handle, invoke } from "./interactions.js";

const SUB = 1;
const GROUP = 2;
const T = { STRING: 3, INTEGER: 4, BOOLEAN: 5, USER: 6, CHANNEL: 7, ROLE: 8, MENTIONABLE: 9, NUMBER: 10 };
const cache = new Map();

function channelOf(form) {
  const shell = document.querySelector("[data-shell]");
  const pane = form.closest("[data-pane], [data-thread-pane]");
  return (pane && pane.dataset.channelId) || (shell && shell.dataset.channelId) || "";
}

export function commandsFor(channelId) {
  if (!cache.has(channelId)) {
    cache.set(
      channelId,
      fetch(`/interactions/commands?channel_id=${encodeURIComponent(channelId)}`, { credentials: "same-origin" })
        .then((r) => (r.ok ? r.json() : { commands: [] }))
        .then((data) => data.commands || [])
        .catch(() => []),
    );
  }
  return cache.get(channelId);
}

// A slash command with subcommands is offered once per subcommand, as Discord does.
function entries(commands) {
  const out = [];
  commands
    .filter((c) => c.type === 1)
    .forEach((command) => {
      const options = command.options || [];
      const subs = options.filter((o) => o.type === SUB || o.type === GROUP);
      if (!subs.length) {
        out.push({ command, path: [], label: command.name, description: command.description, options });
        return;
      }
      subs.forEach((sub) => {
        if (sub.type === SUB) {
          out.push({ command, path: [sub], label: `${command.name} ${sub.name}`, description: sub.description, options: sub.options || [] });
        } else {
          (sub.options || []).forEach((leaf) => {
            out.push({ command, path: [sub, leaf], label: `${command.name} ${sub.name} ${leaf.name}`, description: leaf.description, options: leaf.options || [] });
          });
        }
      });
    });
  return out;
}

function members() {
  const seen = new Map();
  document.querySelectorAll("[data-member]").forEach((el) => {
    if (el.dataset.userId && !seen.has(el.dataset.userId)) seen.set(el.dataset.userId, el.dataset.name || el.dataset.username);
  });
  return Array.from(seen, ([value, label]) => ({ value, label }));
}

function channels() {
  return Array.from(document.querySelectorAll("[data-channel-link]"), (el) => ({ value: el.dataset.channelLink, label: `#${el.dataset.channelName}` }));
}

let picker = 0;

class Picker {
  constructor(form) {
    picker += 1;
    this.n = picker;
    this.form = form;
    this.input = form.querySelector("[data-composer-input]");
    this.channelId = channelOf(form);
    this.all = [];
    this.shown = [];
    this.active = 0;
    this.chosen = null;
    this.list = document.createElement("ul");
    this.list.className = "autocomplete command-picker";
    this.list.id = `command-list-${this.n}`;
    this.list.setAttribute("role", "listbox");
    this.list.setAttribute("aria-label", "Commands");
    this.list.hidden = true;
    this.panel = document.createElement("fieldset");
    this.panel.className = "command-form";
    this.panel.hidden = true;
    this.panel.dataset.commandForm = "";
    this.error = form.querySelector("[data-composer-error]");
    form.append(this.list);
    form.querySelector(".composer-row").before(this.panel);
    this.listen();
  }

  report(text) {
    if (!this.error) return;
    this.error.textContent = text;
    this.error.hidden = !text;
  }

  async suggest() {
    const value = this.input.value;
    if (this.chosen) {
      if (!value.startsWith(`/${this.chosen.label}`)) this.unchoose();
      else return;
    }
    const match = value.match(/^\/([\w' -]{0,100})$/u);
    if (!match) {
      this.close();
      return;
    }
    this.all = entries(await commandsFor(this.channelId));
    const query = match[1].toLowerCase();
    this.shown = this.all.filter((e) => e.label.startsWith(query)).slice(0, 25);
    if (!this.shown.length) {
      this.close();
      return;
    }
    this.active = Math.min(this.active, this.shown.length - 1);
    this.render();
  }

  render() {
    this.list.replaceChildren(
      ...this.shown.map((entry, index) => {
        const item = document.createElement("li");
        item.setAttribute("role", "option");
        item.id = `command-${this.n}-${index}`;
        item.className = index === this.active ? "active" : "";
        item.setAttribute("aria-selected", index === this.active ? "true" : "false");
        const name = document.createElement("strong");
        name.textContent = `/${entry.label}`;
        const about = document.createElement("span");
        about.className = "muted";
        about.textContent = ` ${entry.description} · ${entry.command.application_name}`;
        item.append(name, about);
        item.addEventListener("mousedown", (event) => {
          event.preventDefault();
          this.choose(index);
        });
        return item;
      }),
    );
    this.list.hidden = false;
    this.input.setAttribute("aria-controls", this.list.id);
    this.input.setAttribute("aria-activedescendant", `command-${this.n}-${this.active}`);
  }

  close() {
    this.shown = [];
    this.list.hidden = true;
    this.input.removeAttribute("aria-activedescendant");
  }

  choose(index) {
    const entry = this.shown[index];
    this.close();
    this.chosen = entry;
    this.input.value = `/${entry.label} `;
    this.input.setSelectionRange(this.input.value.length, this.input.value.length);
    this.drawOptions(entry);
    const first = this.panel.querySelector("input, select");
    if (first) first.focus();
    else this.input.focus();
  }

  unchoose() {
    this.chosen = null;
    this.panel.hidden = true;
    this.panel.replaceChildren();
  }

  field(option, index) {
    const id = `command-${this.n}-opt-${index}`;
    const wrap = document.createElement("div");
    wrap.className = "command-option";
    const label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = `${option.name}${option.required ? " (required)" : ""}`;
    const hint = document.createElement("span");
    hint.className = "muted small";
    hint.id = `${id}-hint`;
    hint.textContent = option.description;
    let control;
    const pick = (items, blank) => {
      control = document.createElement("select");
      if (blank || !option.required) control.append(new Option(blank || "—", ""));
      items.forEach((item) => control.append(new Option(item.label, item.value)));
    };
    if (option.choices && option.choices.length) pick(option.choices.map((c) => ({ label: c.name, value: String(c.value) })), option.required ? "Choose…" : null);
    else if (option.type === T.BOOLEAN) pick([{ label: "True", value: "true" }, { label: "False", value: "false" }], option.required ? "Choose…" : null);
    else if (option.type === T.USER || option.type === T.MENTIONABLE) pick(members(), "Choose a member…");
    else if (option.type === T.CHANNEL) pick(channels(), "Choose a channel…");
    else {
      control = document.createElement("input");
      if (option.type === T.INTEGER || option.type === T.NUMBER) {
        control.type = "number";
        control.step = option.type === T.INTEGER ? "1" : "any";
        if (option.min_value !== undefined) control.min = option.min_value;
        if (option.max_value !== undefined) control.max = option.max_value;
      } else {
        control.type = "text";
        if (option.min_length) control.minLength = option.min_length;
        if (option.max_length) control.maxLength = option.max_length;
      }
      if (option.autocomplete) this.autocomplete(control, option, id);
    }
    control.id = id;
    control.name = option.name;
    control.dataset.optionType = option.type;
    control.setAttribute("aria-describedby", hint.id);
    if (option.required) control.required = true;
    wrap.append(label, control, hint);
    return wrap;
  }

  autocomplete(control, option, id) {
    const list = document.createElement("datalist");
    list.id = `${id}-choices`;
    control.setAttribute("list", list.id);
    control.autocomplete = "off";
    let timer = null;
    control.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(async () => {
        const result = await invoke({ type: 4, channel_id: this.channelId, command_id: this.chosen.command.id, options: this.values(option.name) });
        if (result.outcome !== "choices") return;
        list.replaceChildren(...result.choices.map((c) => new Option(c.name, String(c.value))));
      }, 250);
    });
    queueMicrotask(() => control.after(list));
  }

  drawOptions(entry) {
    this.panel.replaceChildren();
    const legend = document.createElement("legend");
    legend.textContent = `/${entry.label}`;
    this.panel.append(legend);
    entry.options.forEach((option, index) => this.panel.append(this.field(option, index)));
    const run = document.createElement("button");
    run.type = "button";
    run.className = "command-run";
    run.textContent = `Send /${entry.label}`;
    run.addEventListener("click", () => this.run());
    const cancel = document.createElement("button");
    cancel.type = "button";
    cancel.className = "secondary";
    cancel.textContent = "Cancel";
    cancel.addEventListener("click", () => {
      this.unchoose();
      this.input.value = "";
      this.input.focus();
    });
    const actions = document.createElement("div");
    actions.className = "command-actions";
    actions.append(run, cancel);
    this.panel.append(actions);
    this.panel.hidden = false;
  }

  // The member's values, nested under the chosen subcommand (group) as Discord nests them.
  values(focused = null) {
    const leaves = [];
    this.panel.querySelectorAll("[data-option-type]").forEach((control) => {
      const type = Number(control.dataset.optionType);
      const raw = control.value;
      if (raw === "" && control.name !== focused) return;
      let value = raw;
      if (control.name !== focused) {
        if (type === T.INTEGER) value = Number.parseInt(raw, 10);
        else if (type === T.NUMBER) value = Number(raw);
        else if (type === T.BOOLEAN) value = raw === "true";
      }
      const option = { name: control.name, type, value };
      if (control.name === focused) option.focused = true;
      leaves.push(option);
    });
    const path = this.chosen.path;
    if (!path.length) return leaves;
    if (path.length === 1) return [{ name: path[0].name, type: SUB, options: leaves }];
    return [{ name: path[0].name, type: GROUP, options: [{ name: path[1].name, type: SUB, options: leaves }] }];
  }

  async run() {
    if (!this.chosen) return;
    const missing = Array.from(this.panel.querySelectorAll("[required]")).find((c) => !c.value);
    if (missing) {
      this.report(`Fill in ${missing.name}.`);
      missing.focus();
      return;
    }
    const entry = this.chosen;
    const body = { type: 2, channel_id: this.channelId, command_id: entry.command.id, options: this.values() };
    this.report("");
    this.form.classList.add("waiting");
    const result = await invoke(body);
    this.form.classList.remove("waiting");
    if (result.outcome !== "error") {
      this.unchoose();
      this.input.value = "";
      // The composer saves its draft on input: the command's text must not come back.
      this.input.dispatchEvent(new Event("input"));
      this.input.focus();
    }
    handle(result, this.channelId, (text) => this.report(text));
  }

  listen() {
    // Capture: the picker answers the keys before the composer sends or autocompletes.
    this.input.addEventListener(
      "keydown",
      (event) => {
        if (!this.list.hidden && this.shown.length) {
          if (event.key === "ArrowDown" || event.key === "ArrowUp") {
            event.preventDefault();
            event.stopImmediatePropagation();
            const step = event.key === "ArrowDown" ? 1 : -1;
            this.active = (this.active + step + this.shown.length) % this.shown.length;
            this.render();
          } else if (event.key === "Enter" || event.key === "Tab") {
            event.preventDefault();
            event.stopImmediatePropagation();
            this.choose(this.active);
          } else if (event.key === "Escape") {
            event.preventDefault();
            event.stopImmediatePropagation();
            this.close();
          }
          return;
        }
        if (this.chosen && event.key === "Enter" && !event.shiftKey) {
          event.preventDefault();
          event.stopImmediatePropagation();
          this.run();
        }
      },
      true,
    );
    this.input.addEventListener("input", () => this.suggest());
    this.panel.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && event.target.tagName !== "BUTTON") {
        event.preventDefault();
        this.run();
      } else if (event.key === "Escape") {
        event.preventDefault();
        this.unchoose();
        this.input.focus();
      }
    });
  }
}

// --- context menus: MESSAGE commands on a message, USER commands on the member card ---------

function menuOf(commands, kind, onPick, label) {
  const menu = document.createElement("div");
  menu.className = "app-menu";
  menu.setAttribute("role", "menu");
  menu.setAttribute("aria-label", label);
  commands
    .filter((c) => c.type === kind)
    .forEach((command) => {
      const item = document.createElement("button");
      item.type = "button";
      item.setAttribute("role", "menuitem");
      item.textContent = `${command.name} · ${command.application_name}`;
      item.addEventListener("click", () => onPick(command));
      menu.append(item);
    });
  menu.addEventListener("keydown", (event) => {
    const items = Array.from(menu.querySelectorAll("[role=menuitem]"));
    const at = items.indexOf(document.activeElement);
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      items[(at + (event.key === "ArrowDown" ? 1 : -1) + items.length) % items.length].focus();
    } else if (event.key === "Escape") {
      event.preventDefault();
      menu.dispatchEvent(new CustomEvent("close-menu"));
    }
  });
  return menu;
}

async function messageApps(button) {
  const message = button.closest("[data-message]");
  const existing = message.querySelector(".app-menu");
  if (existing) {
    existing.remove();
    button.setAttribute("aria-expanded", "false");
    return;
  }
  const pane = message.closest("[data-pane], [data-thread-pane]");
  const shell = document.querySelector("[data-shell]");
  const channelId = (pane && pane.dataset.channelId) || shell.dataset.channelId;
  const commands = await commandsFor(channelId);
  const status = (text) => {
    let box = message.querySelector("[data-app-status]");
    if (!box) {
      box = document.createElement("p");
      box.className = "component-error";
      box.setAttribute("role", "alert");
      box.dataset.appStatus = "";
      message.append(box);
    }
    box.textContent = text;
    box.hidden = !text;
  };
  const menu = menuOf(
    commands,
    3,
    async (command) => {
      menu.remove();
      button.setAttribute("aria-expanded", "false");
      const result = await invoke({ type: 2, channel_id: channelId, command_id: command.id, target_id: message.dataset.messageId });
      handle(result, channelId, status);
      button.focus();
    },
    "Apps",
  );
  if (!menu.children.length) {
    status("No app in this guild acts on messages.");
    return;
  }
  menu.addEventListener("close-menu", () => {
    menu.remove();
    button.setAttribute("aria-expanded", "false");
    button.focus();
  });
  button.closest(".msg-tools").after(menu);
  button.setAttribute("aria-expanded", "true");
  menu.querySelector("[role=menuitem]").focus();
}

async function userApps(section) {
  section.dataset.filled = "1";
  const shell = document.querySelector("[data-shell]");
  const channelId = shell && shell.dataset.channelId;
  if (!channelId) return;
  const commands = (await commandsFor(channelId)).filter((c) => c.type === 2);
  if (!commands.length) return;
  const list = section.querySelector("[data-user-apps-list]");
  const status = section.querySelector("[data-user-apps-status]");
  commands.forEach((command) => {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "secondary";
    button.textContent = `${command.name} · ${command.application_name}`;
    button.addEventListener("click", async () => {
      const result = await invoke({ type: 2, channel_id: channelId, command_id: command.id, target_id: section.dataset.userId });
      handle(result, channelId, (text) => {
        status.textContent = text;
      });
      if (result.outcome !== "error" && result.outcome !== "timeout") status.textContent = `${command.name}: sent.`;
    });
    list.append(button);
  });
  section.hidden = false;
}

document.addEventListener("click", (event) => {
  const apps = event.target.closest("[data-action=apps]");
  if (apps) messageApps(apps);
});

document.addEventListener("DOMContentLoaded", () => {
  const shell = document.querySelector("[data-shell]");
  if (!shell || !shell.dataset.guildId) return;
  document.querySelectorAll("[data-composer]").forEach((form) => {
    if (form.querySelector("[data-composer-input]") && form.querySelector(".composer-row")) new Picker(form);
  });
  const fill = () => document.querySelectorAll("[data-user-apps]:not([data-filled])").forEach((section) => userApps(section));
  fill();
  new MutationObserver(fill).observe(document.body, { childList: true, subtree: true });
  // Messages offer "Apps" only where some app has a MESSAGE command.
  const channelId = shell.dataset.channelId;
  if (channelId) {
    commandsFor(channelId).then((commands) => {
      if (commands.some((c) => c.type === 3)) document.body.classList.add("has-message-apps");
    });
  }
});
