// The name the Create thread dialog starts with (static/src/threads.js): the message's first
// words, mentions as the @names the page knows.
import assert from "node:assert/strict";
import { test } from "node:test";

// The member list on the page, which is all of the DOM decodeMentions reads.
globalThis.document = {
  querySelectorAll: (selector) =>
    selector === "[data-member]" ? [{ dataset: { userId: "42", username: "bob", name: "Bob" } }] : [],
};

const { defaultThreadName } = await import("../../../static/src/threads.js");

test("the first six words, markdown marks dropped", () => {
  assert.equal(defaultThreadName("Shall we plan the launch for Friday? I think so"), "Shall we plan the launch for");
  assert.equal(defaultThreadName("**Big** news:\n> quoted   line"), "Big news: quoted line");
});

test("mentions read as the names people see", () => {
  assert.equal(defaultThreadName("<@42> can you review this"), "@bob can you review this");
});

test("a message with no words (only files) still gets a name, and never more than 100 characters", () => {
  assert.equal(defaultThreadName(""), "New thread");
  assert.equal(defaultThreadName("***"), "New thread");
  assert.equal(defaultThreadName("x".repeat(300)).length, 100);
});
