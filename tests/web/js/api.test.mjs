// static/src/api.js under Node against a loopback HTTP server that answers as the node does
// (united/errors.py's shape): what goes out (method, JSON body, CSRF header, cookie policy) and
// what a caller gets back (data, null for 204, an Error carrying status/code/errors/retry-after).
// Run by tests/web/test_front_js.py (node --test).
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { after, before, test } from "node:test";

import { api, APIError } from "../../../static/src/api.js";

const TOKEN = "csrf-token-from-the-meta-tag";
// The page's <meta name="csrf-token">, which is all of the DOM that http.js reads.
globalThis.document = {
  querySelector: (selector) => (selector === 'meta[name="csrf-token"]' ? { content: TOKEN } : null),
};

const seen = [];
const routes = {
  "POST /api/v1/echo": (req, body) => [200, {}, JSON.stringify({ got: JSON.parse(body) })],
  "DELETE /api/v1/thing": () => [204, {}, ""],
  "PUT /api/v1/invalid": () => [
    400,
    { "Content-Type": "application/json" },
    JSON.stringify({ code: 50035, message: "Invalid form body", errors: { name: ["This field is required."] } }),
  ],
  "GET /api/v1/limited": () => [
    429,
    { "Content-Type": "application/json", "Retry-After": "3" },
    JSON.stringify({ code: 20028, message: "You are being rate limited.", retry_after: 2.5, global: false }),
  ],
  "GET /api/v1/limited-header-only": () => [429, { "Retry-After": "7" }, "Too many"],
  "GET /api/v1/proxy-error": () => [502, { "Content-Type": "text/html" }, "<h1>Bad gateway</h1>"],
  "POST /api/v1/upload": (req, body) => [201, {}, JSON.stringify({ type: req.headers["content-type"], size: body.length })],
};

let server;
let base;
const realFetch = globalThis.fetch;

before(async () => {
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => {
      body += chunk;
    });
    req.on("end", () => {
      seen.push({ method: req.method, url: req.url, headers: req.headers, body });
      const route = routes[`${req.method} ${req.url}`];
      const [status, headers, out] = route ? route(req, body) : [404, {}, JSON.stringify({ code: 10000, message: "Unknown object" })];
      res.writeHead(status, headers);
      res.end(out);
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${server.address().port}`;
  // The page's fetch resolves paths against its own origin; under Node that is the server.
  globalThis.fetch = (path, init) => realFetch(new URL(path, base), init);
});

after(() => {
  globalThis.fetch = realFetch;
  server.close();
});

const last = () => seen[seen.length - 1];

test("a JSON body goes out with the CSRF header and the answer comes back parsed", async () => {
  const data = await api("POST", "/api/v1/echo", { name: "général", n: 1 });
  assert.deepEqual(data, { got: { name: "général", n: 1 } });
  assert.equal(last().headers["x-csrftoken"], TOKEN);
  assert.equal(last().headers["content-type"], "application/json");
  assert.equal(last().method, "POST");
});

test("204 is null, and a request without a body sends no Content-Type", async () => {
  assert.equal(await api("DELETE", "/api/v1/thing"), null);
  assert.equal(last().headers["x-csrftoken"], TOKEN);
  assert.equal(last().headers["content-type"], undefined);
  assert.equal(last().body, "");
});

test("the error shape becomes an APIError with status, code, field errors and message", async () => {
  const error = await api("PUT", "/api/v1/invalid", { name: "" }).then(
    () => assert.fail("a 400 must throw"),
    (e) => e,
  );
  assert.ok(error instanceof APIError && error instanceof Error);
  assert.equal(error.status, 400);
  assert.equal(error.code, 50035);
  assert.deepEqual(error.errors, { name: ["This field is required."] });
  assert.equal(error.message, "Invalid form body This field is required.");
  assert.equal(error.retryAfter, null);
});

test("a 404 carries its status so callers can treat 'not there' apart", async () => {
  await assert.rejects(api("GET", "/api/v1/nowhere"), { status: 404, code: 10000, message: "Unknown object" });
});

test("429: retry-after from the body's exact value, else from the header", async () => {
  await assert.rejects(api("GET", "/api/v1/limited"), { status: 429, code: 20028, retryAfter: 2.5 });
  await assert.rejects(api("GET", "/api/v1/limited-header-only"), { status: 429, code: null, retryAfter: 7, message: "HTTP 429" });
});

test("a body that is not JSON still throws with the status", async () => {
  await assert.rejects(api("GET", "/api/v1/proxy-error"), { name: "APIError", status: 502, message: "HTTP 502", data: null });
});

test("FormData goes out as multipart with the token; signed-out requests carry no token", async () => {
  const form = new FormData();
  form.append("file", new Blob([new Uint8Array([1, 2, 3])]), "blob");
  const out = await api("POST", "/api/v1/upload", form);
  assert.match(out.type, /^multipart\/form-data; boundary=/);
  assert.equal(last().headers["x-csrftoken"], TOKEN);
  await api("POST", "/api/v1/echo", { a: 1 }, { credentials: "omit" });
  assert.equal(last().headers["x-csrftoken"], undefined);
  assert.equal(last().headers["content-type"], "application/json");
});

test("extra headers (a moderator's reason) go out beside the token", async () => {
  const reason = encodeURIComponent("spam, then more spam");
  await api("DELETE", "/api/v1/thing", undefined, { headers: { "X-Audit-Log-Reason": reason } });
  assert.equal(last().headers["x-audit-log-reason"], "spam%2C%20then%20more%20spam");
  assert.equal(last().headers["x-csrftoken"], TOKEN);
});
