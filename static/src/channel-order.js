// Drag and drop to reorder channels and categories, in the chat sidebar and in the settings
// list (any `[data-reorder="<guild id>"]` holding `[data-drag-id]` items). A drop is one
// PATCH /api/v1/guilds/{id}/channels, Discord's bulk position update, which the guild services
// check (MANAGE_CHANNELS, a category of this guild); the lists then redraw from the server:
// the sidebar on the CHANNEL_UPDATE events every member gets, the settings page by reloading.
// Keyboard users have the settings list's move buttons and category select.
import htmx from "./htmx-global.js";
import { api } from "./api.js";

let dragged = null;

const item = (event) => (event.target instanceof Element ? event.target.closest("[data-drag-id]") : null);

// Where the dragged entry goes when dropped on `onto`: a channel takes the slot of the channel
// it is dropped on (in that one's category) or goes last in a category it is dropped on; a
// category takes the slot of another category.
function moveFor(source, onto) {
  if (!source || !onto || source === onto) return null;
  const id = source.dataset.dragId;
  if (source.dataset.dragKind === "category") {
    return onto.dataset.dragKind === "category" ? { id, position: Number(onto.dataset.position) } : null;
  }
  if (onto.dataset.dragKind === "category") {
    return onto.dataset.dragId === source.dataset.parentId ? null : { id, parent_id: onto.dataset.dragId };
  }
  return { id, parent_id: onto.dataset.parentId || null, position: Number(onto.dataset.position) };
}

function report(list, message) {
  let box = list.querySelector(":scope > [data-reorder-error]");
  if (!box) {
    box = document.createElement("p");
    box.className = "error-box";
    box.setAttribute("role", "alert");
    box.dataset.reorderError = "";
    list.prepend(box);
  }
  box.textContent = message;
}

function clearMarks() {
  document.querySelectorAll(".drop-target").forEach((el) => el.classList.remove("drop-target"));
}

document.addEventListener("dragstart", (event) => {
  const source = item(event);
  if (!source || !source.closest("[data-reorder]")) return;
  dragged = source;
  source.classList.add("dragging");
  event.dataTransfer.effectAllowed = "move";
  event.dataTransfer.setData("text/plain", source.dataset.dragId);
});

document.addEventListener("dragover", (event) => {
  const onto = item(event);
  if (!dragged || !onto || onto.closest("[data-reorder]") !== dragged.closest("[data-reorder]")) return;
  if (!moveFor(dragged, onto)) return;
  event.preventDefault();
  event.dataTransfer.dropEffect = "move";
  clearMarks();
  onto.classList.add("drop-target");
});

document.addEventListener("dragend", () => {
  if (dragged) dragged.classList.remove("dragging");
  dragged = null;
  clearMarks();
});

document.addEventListener("drop", async (event) => {
  const onto = item(event);
  const source = dragged;
  const move = moveFor(source, onto);
  if (!move) return;
  event.preventDefault();
  clearMarks();
  const list = source.closest("[data-reorder]");
  try {
    await api("PATCH", `/api/v1/guilds/${list.dataset.reorder}/channels`, [move]);
  } catch (error) {
    report(list, error.message);
    return;
  }
  if ("reorderReload" in list.dataset) window.location.reload();
  else htmx.trigger(document.body, "refresh-channels");
});
