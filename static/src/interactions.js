// Talking to applications from the page: invoke (POST /interactions/invoke, which waits up to
// 3 s for the answer), then act on the outcome: a channel message comes by the gateway like any
// other; an ephemeral answer is fetched and shown to this member alone; a modal opens as a
// dialog; autocomplete choices go back to the caller; silence says so.
import { csrfToken, fragmentNodes, getText } from "./http.js";

export async function invoke(body) {
  let response;
  try {
    response = await fetch("/interactions/invoke", {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(), "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
  } catch (error) {
    return { outcome: "error", message: "The connection dropped." };
  }
  let data = {};
  try {
    data = await response.json();
  } catch (error) {
    data = {};
  }
  if (!response.ok) {
    const fields = data.errors ? Object.values(data.errors).flat().filter((e) => typeof e === "string") : [];
    return { outcome: "error", message: fields.join(" ") || data.message || `The node refused it (${response.status}).` };
  }
  return data;
}

function messageList(channelId) {
  const shell = document.querySelector("[data-shell]");
  const panes = Array.from(document.querySelectorAll("[data-pane], [data-thread-pane]"));
  const pane = panes.find((p) => (p.dataset.channelId || shell?.dataset.channelId) === channelId) || panes[0];
  return pane ? pane.querySelector("[data-messages]") : null;
}

export async function showEphemeral(interactionId, channelId) {
  const list = messageList(channelId);
  if (!list) return;
  let html;
  try {
    html = await getText(`/interactions/${interactionId}/ephemeral`);
  } catch (error) {
    return;
  }
  list.querySelectorAll(`[data-ephemeral="${CSS.escape(interactionId)}"]`).forEach((node) => node.remove());
  const nodes = fragmentNodes(html);
  list.append(...nodes);
  if (nodes.length) nodes[nodes.length - 1].scrollIntoView({ block: "nearest" });
}

let modalCount = 0;

export function openModal(interactionId, modal, channelId, report) {
  modalCount += 1;
  const id = `app-modal-${modalCount}`;
  const dialog = document.createElement("dialog");
  dialog.className = "app-modal";
  dialog.setAttribute("aria-labelledby", `${id}-title`);
  const form = document.createElement("form");
  form.method = "dialog";
  form.className = "stack";
  const title = document.createElement("h2");
  title.id = `${id}-title`;
  title.textContent = modal.title;
  form.append(title);
  modal.components.forEach((row, index) => {
    const field = row.components[0];
    const label = document.createElement("label");
    label.htmlFor = `${id}-f${index}`;
    label.textContent = field.label;
    const input = document.createElement(field.style === 2 ? "textarea" : "input");
    input.id = `${id}-f${index}`;
    input.name = field.custom_id;
    if (field.style === 2) input.rows = 4;
    if (field.required) input.required = true;
    if (field.min_length) input.minLength = field.min_length;
    if (field.max_length) input.maxLength = field.max_length;
    if (field.value) input.value = field.value;
    if (field.placeholder) input.placeholder = field.placeholder;
    form.append(label, input);
  });
  const error = document.createElement("p");
  error.className = "error";
  error.setAttribute("role", "alert");
  error.hidden = true;
  const actions = document.createElement("div");
  actions.className = "dialog-actions";
  const cancel = document.createElement("button");
  cancel.type = "button";
  cancel.className = "secondary";
  cancel.textContent = "Cancel";
  cancel.addEventListener("click", () => dialog.close());
  const submit = document.createElement("button");
  submit.type = "submit";
  submit.textContent = "Submit";
  actions.append(cancel, submit);
  form.append(error, actions);
  dialog.append(form);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const values = {};
    form.querySelectorAll("input, textarea").forEach((input) => {
      values[input.name] = input.value;
    });
    submit.disabled = true;
    const result = await invoke({ type: 5, interaction_id: interactionId, values });
    submit.disabled = false;
    if (result.outcome === "error") {
      error.textContent = result.message;
      error.hidden = false;
      return;
    }
    dialog.close();
    handle(result, channelId, report);
  });
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  const first = form.querySelector("input, textarea");
  if (first) first.focus();
}

// What the page does with an invocation's outcome; `report(text)` shows a problem where the
// member acted (under the composer, or under the message's buttons).
export function handle(result, channelId, report) {
  if (result.outcome === "error" || result.outcome === "timeout") {
    report(result.message || "The application did not respond");
    return;
  }
  report("");
  if (result.outcome === "ephemeral") showEphemeral(result.id, channelId);
  else if (result.outcome === "modal") openModal(result.id, result.modal, channelId, report);
}

document.addEventListener("click", (event) => {
  const dismiss = event.target.closest("[data-dismiss-ephemeral]");
  if (dismiss) dismiss.closest("[data-ephemeral]").remove();
});

document.addEventListener("DOMContentLoaded", () => {
  const gw = window.unitedGateway;
  if (!gw) return;
  gw.on((t, d) => {
    if (t === "INTERACTION_EPHEMERAL" && d && d.interaction_id) showEphemeral(d.interaction_id, d.channel_id);
  });
});
