// JSON requests to the node, the one way the bundle calls its API: Django's CSRF token rides
// in a header, the body goes out as JSON (or as multipart when it is a FormData), and a refusal
// in the project's error shape (united/errors.py: {"code", "message", "errors", "retry_after"})
// comes back as a thrown Error a caller can branch on (status, code) and show (message).
import { csrfToken } from "./http.js";

export class APIError extends Error {
  constructor(message, { status, code = null, errors = {}, retryAfter = null, data = null }) {
    super(message);
    this.name = "APIError";
    this.status = status;
    this.code = code;
    this.errors = errors;
    this.retryAfter = retryAfter;
    this.data = data;
  }
}

// The message people see: the node's sentence, then the field problems it listed.
function messageOf(data, status) {
  if (!data || typeof data !== "object") return `HTTP ${status}`;
  const fields = Object.values(data.errors || {}).flat().filter((v) => typeof v === "string");
  return [data.message, ...fields].filter(Boolean).join(" ") || `HTTP ${status}`;
}

// Seconds to wait before retrying a 429: the body's exact value, else the Retry-After header.
function retryAfterOf(data, response) {
  if (data && typeof data.retry_after === "number") return data.retry_after;
  const header = Number(response.headers.get("Retry-After"));
  return response.headers.has("Retry-After") && Number.isFinite(header) ? header : null;
}

// `credentials: "omit"` is for the signed-out recovery page: without the cookie the token
// means nothing, so it is not sent either.
// `headers` adds request headers (X-Audit-Log-Reason for a moderator's reason).
export async function api(method, path, body, { credentials = "same-origin", headers: extra = {} } = {}) {
  const headers = { Accept: "application/json", ...extra };
  if (credentials !== "omit") headers["X-CSRFToken"] = csrfToken();
  let payload;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const response = await fetch(path, { method, credentials, headers, body: payload });
  // A body that is not JSON (a proxy's error page, an empty 200) reads as null.
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    throw new APIError(messageOf(data, response.status), {
      status: response.status,
      code: data && typeof data.code === "number" ? data.code : null,
      errors: (data && data.errors) || {},
      retryAfter: retryAfterOf(data, response),
      data,
    });
  }
  return data;
}
