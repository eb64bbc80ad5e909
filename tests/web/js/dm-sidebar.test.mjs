// The DM list's arithmetic (static/src/e2e-chat/sidebar.js, render.js, actions.js): snowflake
// order, unread counts and the read marker (which a waiting message never moves), previews, and reactions applied to a row.
import assert from "node:assert/strict";
import { test } from "node:test";

import { applyReaction } from "../../../static/src/e2e-chat/actions.js";
import { initials, summary } from "../../../static/src/e2e-chat/render.js";
import { compareIds, markRead, unreadCount } from "../../../static/src/e2e-chat/sidebar.js";

test("snowflake ids compare as numbers, not as strings", () => {
  assert.ok(compareIds("123424641053097984", "99999999999999999") > 0);
  assert.ok(compareIds("5", "40") < 0);
  assert.equal(compareIds("7", "7"), 0);
  assert.ok(compareIds("1", undefined) > 0); // nothing read yet: everything is after it
});

test("unread: others' rows after the read marker, never one's own", () => {
  const chat = {
    userId: "1",
    state: {
      messages: { 9: [{ id: "100", sender: "2" }, { id: "101", sender: "1" }, { id: "102", sender: "2", error: "tampered" }] },
      read: {},
    },
  };
  assert.equal(unreadCount(chat, "9"), 2); // an undecryptable message is unread too
  chat.state.read["9"] = "100";
  assert.equal(unreadCount(chat, "9"), 1);
  chat.state.read["9"] = "102";
  assert.equal(unreadCount(chat, "9"), 0);
  assert.equal(unreadCount(chat, "404"), 0);
  // A message its sender deleted (an encrypted "delete", e2e-chat/edits.js) is not unread.
  chat.state.read["9"] = "100";
  chat.state.messages["9"][2].deleted = true;
  assert.equal(unreadCount(chat, "9"), 0);
});

test("a message still waiting on this device does not move the read marker", () => {
  globalThis.document ??= { visibilityState: "visible" };
  const chat = {
    userId: "1",
    channelId: "9",
    state: { messages: { 9: [{ id: "100", sender: "2" }, { id: "pending-4f0c", mid: "4f0c", sender: "1", pending: true }] } },
  };
  assert.equal(markRead(chat), true);
  assert.equal(chat.state.read["9"], "100"); // not the provisional id, which sorts above every real one
  chat.state.messages["9"].push({ id: "101", sender: "2" });
  assert.equal(unreadCount(chat, "9"), 1); // so what arrives after it still counts
  chat.state.messages["9"] = [chat.state.messages["9"][1]];
  chat.state.read = {};
  assert.equal(markRead(chat), false);
});

test("previews say what a row is without showing what cannot be read", () => {
  assert.equal(summary({ error: "tampered", text: "x" }), "Encrypted message");
  assert.equal(summary({ deleted: true }), "Message deleted");
  assert.equal(summary({ text: "  two\n lines " }), "two lines");
  assert.equal(summary({ text: "", attachments: [{ name: "map.png" }] }), "📎 map.png");
  assert.equal(summary({ text: "a".repeat(200) }).length, 90);
  assert.equal(initials("Ada Lovelace"), "AL");
  assert.equal(initials("bob"), "BO");
});

test("a reaction is one per member and emoji, and can be taken back", () => {
  const row = {};
  assert.equal(applyReaction(row, "1", "🎉", true), true);
  assert.equal(applyReaction(row, "1", "🎉", true), false);
  assert.equal(applyReaction(row, "2", "🎉", true), true);
  assert.deepEqual(row.reactions, { "🎉": ["1", "2"] });
  applyReaction(row, "1", "🎉", false);
  applyReaction(row, "2", "🎉", false);
  assert.deepEqual(row.reactions, {});
  assert.equal(applyReaction(row, "3", "👍", false), false);
});
