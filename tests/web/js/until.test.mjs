// The timed-out composer's words (static/src/until.js), in a pinned zone and locale.
import assert from "node:assert/strict";
import { test } from "node:test";

import { untilWords } from "../../../static/src/until.js";

const paris = { zone: "Europe/Paris", locale: "en-GB" };
const now = Date.parse("2026-03-10T13:23:00Z"); // 14:23 in Paris

test("minutes, with the end in the reader's zone on a 24-hour clock", () => {
  const until = new Date(now + 9 * 60 * 1000);
  assert.equal(untilWords(until, now, paris), "in 9 minutes (14:32)");
  assert.equal(untilWords(until, now, { zone: "America/New_York", locale: "en-GB" }), "in 9 minutes (09:32)");
});

test("a partial minute counts as a whole one; under a minute, seconds", () => {
  assert.equal(untilWords(new Date(now + 61 * 1000), now, paris), "in 2 minutes (14:24)");
  assert.equal(untilWords(new Date(now + 40 * 1000), now, paris), "in 40 seconds (14:23)");
  assert.equal(untilWords(new Date(now + 1000), now, paris), "in 1 second (14:23)");
});

test("hours, then days with the date when it is not today", () => {
  assert.equal(untilWords(new Date(now + 3600 * 1000), now, paris), "in 1 hour (15:23)");
  const later = untilWords(new Date(now + 3 * 86400 * 1000), now, paris);
  assert.match(later, /^in 3 days \(Fri 13 Mar,? 14:23\)$/);
});
