// Buttons and select menus under an application's message (templates/bots/_components.html):
// a click or a pick is a MESSAGE_COMPONENT interaction; the application's answer (an edit of
// the message, a new message, a modal) comes back through interactions.js.
import { handle, invoke } from "./interactions.js";

function reporter(group) {
  return (text) => {
    let box = group.querySelector("[data-component-error]");
    if (!box) {
      box = document.createElement("p");
      box.className = "component-error";
      box.setAttribute("role", "alert");
      box.dataset.componentError = "";
      group.append(box);
    }
    box.textContent = text;
    box.hidden = !text;
  };
}

async function send(control, values) {
  const group = control.closest("[data-components]");
  if (!group || control.getAttribute("aria-busy") === "true") return;
  const body = {
    type: 3,
    channel_id: group.dataset.channelId,
    message_id: group.dataset.messageId,
    custom_id: control.dataset.customId,
  };
  if (values) body.values = values;
  control.setAttribute("aria-busy", "true");
  control.classList.add("pending");
  const result = await invoke(body);
  control.removeAttribute("aria-busy");
  control.classList.remove("pending");
  handle(result, group.dataset.channelId, reporter(group));
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-component-button]");
  if (button && !button.disabled) {
    send(button, null);
    return;
  }
  const choose = event.target.closest("[data-component-choose]");
  if (choose && !choose.disabled) {
    const select = choose.parentElement.querySelector(`[data-component-select][data-custom-id="${CSS.escape(choose.dataset.customId)}"]`);
    if (select) send(select, Array.from(select.selectedOptions, (o) => o.value));
  }
});

document.addEventListener("change", (event) => {
  const select = event.target.closest("[data-component-select]");
  if (select && !select.multiple && select.value) send(select, [select.value]);
});
