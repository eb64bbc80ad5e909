// Keeps this device's decrypted conversations in the account's encrypted history backup on
// the node (format: e2e/history.js), and brings them back on a restore. Only a device that
// was given the recovery phrase (backup enabled here, or restored here) holds the history
// key; it is kept in the device state, encrypted at rest like the other secrets. After every
// change the chunks whose content changed are sealed again and uploaded; a digest of each
// chunk as last sent is kept so an unchanged one is not sent twice.
import { api } from "../api.js";
import * as c from "../e2e/primitives.js";
import { CHUNK_ROWS, chunkName, openChunk, sealChunk } from "../e2e/history.js";

// `replyTo` and `reactions` too, so a restore brings back a reply's quote and the reactions.
const FIELDS = ["id", "mid", "sender", "text", "attachments", "at", "edited", "deleted", "replyTo", "reactions"];

// What a chunk keeps of a row: nothing waiting to be sent, nothing that failed to decrypt.
function backedUp(rows) {
  return rows.filter((m) => !m.pending && !m.error).map((m) => Object.fromEntries(FIELDS.filter((f) => f in m).map((f) => [f, m[f]])));
}

function key(chat) {
  return chat.state.historyKey ? c.unb64(chat.state.historyKey, 32) : null;
}

export async function syncArchive(chat) {
  const k = key(chat);
  if (!k) return;
  const sent = (chat.state.historySent ||= {});
  let changed = false;
  for (const [channelId, all] of Object.entries(chat.state.messages)) {
    const rows = backedUp(all);
    for (let index = 0; index * CHUNK_ROWS < rows.length; index++) {
      const body = { v: 1, device_id: chat.device.deviceId, channel_id: channelId, index, rows: rows.slice(index * CHUNK_ROWS, (index + 1) * CHUNK_ROWS) };
      const digest = c.b64(c.sodium.crypto_generichash(16, c.enc.encode(JSON.stringify(body))));
      const name = await chunkName(k, chat.device.deviceId, channelId, index);
      if (sent[name] === digest) continue;
      await api("PUT", `/api/v1/users/@me/e2e-history/${name}`, sealChunk(k, chat.userId, name, body));
      sent[name] = digest;
      changed = true;
    }
  }
  if (changed) await chat.save();
}

// The backup is a convenience next to the conversation itself: a failed upload is retried
// with the next change, never shown as an encryption error.
export async function syncArchiveQuietly(chat) {
  try {
    await syncArchive(chat);
  } catch (error) {
    console.warn("History backup not updated yet:", error.message);
  }
}

function byId(a, b) {
  if (!!a.pending !== !!b.pending) return a.pending ? 1 : -1;
  if (a.pending) return 0;
  const x = BigInt(a.id);
  const y = BigInt(b.id);
  return x < y ? -1 : x > y ? 1 : 0;
}

// Downloads every chunk, merges the rows into this device's conversations (one row per
// envelope id, ordered by it: ids are time-sortable), then drops the chunks of devices that
// are no longer on `keep` (the list the restore just published), once this device has sent
// its own. Returns how many messages came back.
export async function restoreArchive(chat, historyKey, keep) {
  chat.state.historyKey = c.b64(historyKey);
  chat.state.historySent = {};
  const merged = {};
  const stale = [];
  let after = "";
  for (;;) {
    const page = await api("GET", `/api/v1/users/@me/e2e-history?limit=50${after ? `&after=${encodeURIComponent(after)}` : ""}`);
    for (const chunk of page) {
      let body;
      try {
        body = openChunk(historyKey, chat.userId, chunk);
      } catch {
        continue; // sealed under another phrase (replaced since) or altered: not ours to read
      }
      if (!keep.includes(String(body.device_id))) stale.push(chunk.name);
      const rows = (merged[body.channel_id] ||= new Map());
      for (const row of body.rows) if (row && row.id) rows.set(String(row.id), row);
    }
    if (page.length < 50) break;
    after = page[page.length - 1].name;
  }
  let count = 0;
  for (const [channelId, rows] of Object.entries(merged)) {
    const mine = (chat.state.messages[channelId] ||= []);
    const have = new Set(mine.map((m) => String(m.id)));
    for (const row of rows.values()) {
      if (have.has(String(row.id))) continue;
      mine.push({ ...row, restored: true });
      count += 1;
    }
    mine.sort(byId);
  }
  await chat.save();
  await syncArchive(chat);
  for (const name of stale) await api("DELETE", `/api/v1/users/@me/e2e-history/${name}`);
  return count;
}
