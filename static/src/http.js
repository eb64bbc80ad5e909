// Small fetch helpers: Django's CSRF token from the meta tag, HTML fragments as text.
export function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

export async function postForm(url, fields) {
  const body = new URLSearchParams();
  Object.entries(fields).forEach(([key, value]) => {
    if (Array.isArray(value)) value.forEach((item) => body.append(key, item));
    else if (value !== undefined && value !== null) body.append(key, value);
  });
  return fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "X-CSRFToken": csrfToken(), "Content-Type": "application/x-www-form-urlencoded" },
    body,
  });
}

export async function getText(url) {
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok) throw Object.assign(new Error(`GET ${url}: ${response.status}`), { status: response.status });
  return response.text();
}

export function fragmentNodes(html) {
  const template = document.createElement("template");
  template.innerHTML = html.trim();
  return Array.from(template.content.children);
}

export function errorText(html) {
  return fragmentNodes(html).map((node) => node.textContent.trim()).join(" ") || "Something went wrong.";
}
