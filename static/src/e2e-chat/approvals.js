// A new device of one's own, from both ends. The new browser is not on the account's signed
// device list, so nobody encrypts for it: it says so and shows its approval code. Every
// browser of the account that is on the list shows a request for it (on load and on the
// gateway's DEVICE_CREATE) with the code computed from the key the node lists; when the two
// codes match, Approve signs the next list naming both (keys.js approveDevice), and the new
// browser hears E2E_DEVICE_LIST_UPDATE and starts receiving.
import { api } from "../api.js";
import * as c from "../e2e/primitives.js";
import { approvalCode } from "../e2e/devicelist.js";
import { approveDevice, refreshLists } from "./keys.js";

function onList(chat) {
  const listed = chat.device.pins[chat.userId];
  return !!(listed && listed.devices[chat.device.deviceId]);
}

// On the new browser: the warning, with the code to compare.
export async function showOwnCode(chat) {
  if (onList(chat) || !chat.device.pins[chat.userId]) return;
  const code = document.createElement("strong");
  code.className = "e2e-code";
  code.dataset.e2eOwnCode = "";
  code.textContent = await approvalCode(chat.device.identityPub);
  chat.warning.replaceChildren(
    "This browser is not on your signed device list yet, so your contacts will not encrypt for it. Approve it from one of your other devices — it will show the code ",
    code,
    " — or restore your key from your backup (🔑).",
  );
  chat.warning.hidden = false;
  chat.unlisted = true;
}

// After the account's list changed: this browser may have just been approved (or removed).
export async function ownListChanged(chat) {
  await refreshLists(chat);
  if (chat.unlisted && onList(chat)) {
    chat.unlisted = false;
    chat.warning.hidden = true;
    chat.status.textContent = "This browser is now on your signed device list: new messages are encrypted for it too.";
  }
  await offerApprovals(chat);
}

// On a listed browser: one request per device of the account that is not on the list.
export async function offerApprovals(chat) {
  const box = chat.root.querySelector("[data-e2e-approvals]");
  if (!box) return;
  if (!onList(chat)) {
    box.hidden = true;
    return;
  }
  const listed = chat.device.pins[chat.userId];
  const replaced = chat.state.replaced || [];
  const waiting = (await api("GET", "/api/v1/users/@me/devices")).filter(
    (d) => d.id !== chat.device.deviceId && !listed.devices[d.id] && !replaced.includes(d.id),
  );
  const items = [];
  for (const d of waiting) items.push(await request(chat, d));
  if (chat.approvalNote) {
    const note = document.createElement("p");
    note.className = "e2e-ok";
    note.setAttribute("role", "status");
    note.dataset.approvalDone = "";
    note.textContent = chat.approvalNote;
    items.push(note);
  }
  box.replaceChildren(...items);
  box.hidden = !items.length;
}

async function request(chat, d) {
  const key = c.unb64(d.identity_key, 32);
  const item = document.createElement("div");
  item.className = "e2e-approval";
  item.dataset.approvalRequest = d.id;
  const text = document.createElement("p");
  const code = document.createElement("strong");
  code.className = "approval-code";
  code.dataset.approvalCode = "";
  code.textContent = await approvalCode(key);
  const name = d.name || "unnamed device";
  text.append(`A new device of yours, “${name}”, asks to receive your encrypted messages. Approve it only if it shows the code `, code, ".");
  const error = document.createElement("p");
  error.className = "composer-error";
  error.setAttribute("role", "alert");
  error.hidden = true;
  const actions = document.createElement("div");
  actions.className = "modal-actions";
  const reject = document.createElement("button");
  reject.type = "button";
  reject.className = "secondary";
  reject.dataset.rejectRequest = d.id;
  reject.textContent = "Not mine: remove it";
  const approve = document.createElement("button");
  approve.type = "button";
  approve.dataset.approveRequest = d.id;
  approve.textContent = "Approve this device";
  const act = (fn, note) =>
    chat.serial(async () => {
      error.hidden = true;
      try {
        await fn();
        chat.approvalNote = note;
        await offerApprovals(chat);
      } catch (e) {
        error.textContent = e.message;
        error.hidden = false;
      }
    });
  approve.addEventListener("click", () =>
    act(() => approveDevice(chat, d.id, key), `Approved “${name}”: it now receives your encrypted messages.`),
  );
  reject.addEventListener("click", () =>
    act(() => api("DELETE", `/api/v1/users/@me/devices/${d.id}`), `Removed “${name}”: it receives nothing.`),
  );
  actions.append(reject, approve);
  item.append(text, error, actions);
  return item;
}
