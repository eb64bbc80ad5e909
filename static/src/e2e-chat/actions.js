// What a person does to a DM message from its toolbar or its failure notice: react (an
// encrypted control message inside the ordinary envelope, docs/e2e.md "Replies and
// reactions") and ask the sender to resend a message this device could not decrypt (an
// ordinary encrypted message, through the pending queue like any other). Nothing decrypted
// leaves the browser except inside a new envelope. render.js reaches these through `chat.act`
// (e2e-chat.js), so imports stay one way.
import { syncArchiveQuietly } from "./archive.js";
import { postPayload } from "./envelopes.js";
import { queueMessage } from "./pending.js";
import { render } from "./view.js";

// Encrypts a control payload for every device of the conversation (the sender's other devices
// included, so they stay in step) and posts it; the node sees one more envelope. Devices the
// node reports revoked are left out, as for a message (envelopes.js).
export async function postControl(chat, payload) {
  const stored = await postPayload(chat, payload, crypto.randomUUID().replaceAll("-", ""));
  if (!stored) throw new Error("Nobody in this conversation has a device that can receive it yet.");
  return stored;
}

// Adds or removes `who`'s `emoji` on the row; true when something changed.
export function applyReaction(row, who, emoji, on) {
  const reactions = (row.reactions ||= {});
  const list = reactions[emoji] || [];
  const has = list.includes(who);
  if (on === has) return false;
  reactions[emoji] = on ? [...list, who] : list.filter((uid) => uid !== who);
  if (!reactions[emoji].length) delete reactions[emoji];
  return true;
}

function complain(chat, error) {
  const box = chat.root.querySelector("[data-composer-error]");
  if (!box) throw error;
  box.hidden = false;
  box.textContent = error.message;
}

export function react(chat, row, emoji, on) {
  return chat.serial(async () => {
    try {
      await postControl(chat, { type: "reaction", target: row.mid, emoji, on });
    } catch (error) {
      complain(chat, error);
      return;
    }
    applyReaction(row, chat.userId, emoji, on);
    await chat.save();
    render(chat);
    await syncArchiveQuietly(chat);
  });
}

export function askResend(chat, row) {
  const at = new Date(row.at);
  const when = Number.isNaN(at.getTime()) ? "" : ` (sent ${at.toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "short" })})`;
  const text = `Your message${when} could not be decrypted on my device. Could you send it again?`;
  return chat.serial(async () => {
    try {
      await queueMessage(chat, text);
    } catch (error) {
      complain(chat, error);
      render(chat);
      return;
    }
    row.asked = true;
    await chat.save();
    render(chat);
  });
}
