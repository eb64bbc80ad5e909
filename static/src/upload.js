// Attachments in the composer: files come from the button, a drop on the pane or a paste in
// the message box. Each is uploaded at once (POST /api/v1/upload, so the same size limit,
// quota and type checks as the API) with a progress bar and a cancel button; the message
// carries the ids of the finished ones. A file over the node's limit is refused before a
// byte is sent, and any refusal from the node is shown on the file's own tile.
import { api } from "./api.js";
import { csrfToken } from "./http.js";

const MAX_FILES = 10;

export function humanSize(bytes) {
  const units = ["bytes", "KB", "MB", "GB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} bytes` : `${value.toFixed(1)} ${units[unit]}`;
}

function apiError(xhr) {
  try {
    const data = JSON.parse(xhr.responseText);
    const details = Object.values(data.errors || {}).flat();
    return [data.message, ...details].filter(Boolean).join(": ");
  } catch (error) {
    return `The node refused the upload (${xhr.status}).`;
  }
}

export class Uploads {
  constructor(form, onChange) {
    this.form = form;
    this.url = form.dataset.uploadUrl;
    this.max = Number(form.dataset.maxUpload || 0);
    this.tray = form.querySelector("[data-uploads]");
    this.onChange = onChange;
    this.items = [];
    this.serial = 0;
    const input = form.querySelector("[data-file-input]");
    form.querySelector("[data-attach]").addEventListener("click", () => input.click());
    input.addEventListener("change", () => {
      this.add(input.files);
      input.value = "";
    });
  }

  add(fileList) {
    Array.from(fileList).forEach((file) => {
      const item = { id: ++this.serial, file, state: "uploading", attachmentId: null, error: "" };
      this.items.push(item);
      this.draw(item);
      if (this.items.filter((i) => i.state !== "error").length > MAX_FILES) {
        this.fail(item, `At most ${MAX_FILES} files per message.`);
      } else if (this.max && file.size > this.max) {
        this.fail(item, `${file.name} is too large (${humanSize(file.size)}): files can be at most ${humanSize(this.max)} here.`);
      } else {
        this.start(item);
      }
    });
    this.changed();
  }

  start(item) {
    const xhr = new XMLHttpRequest();
    item.xhr = xhr;
    item.done = new Promise((resolve) => {
      xhr.upload.addEventListener("progress", (event) => {
        if (event.lengthComputable) this.progress(item, event.loaded / event.total);
      });
      xhr.addEventListener("load", () => {
        if (xhr.status === 201) {
          item.state = "done";
          item.attachmentId = JSON.parse(xhr.responseText).id;
          this.progress(item, 1);
          item.li.classList.add("done");
          item.status.textContent = humanSize(item.file.size);
        } else {
          this.fail(item, apiError(xhr));
        }
        this.changed();
        resolve();
      });
      xhr.addEventListener("error", () => {
        this.fail(item, "The upload failed: the connection dropped. Remove it and try again.");
        resolve();
      });
      xhr.addEventListener("abort", () => resolve());
    });
    const body = new FormData();
    body.append("file", item.file, item.file.name);
    body.append("purpose", "attachment");
    xhr.open("POST", this.url);
    xhr.setRequestHeader("X-CSRFToken", csrfToken());
    xhr.send(body);
  }

  draw(item) {
    const li = document.createElement("li");
    li.className = "upload";
    li.dataset.upload = "";
    const preview = document.createElement("span");
    preview.className = "upload-preview";
    preview.setAttribute("aria-hidden", "true");
    if (item.file.type.startsWith("image/")) {
      const img = document.createElement("img");
      img.alt = "";
      img.src = URL.createObjectURL(item.file);
      img.addEventListener("load", () => URL.revokeObjectURL(img.src));
      preview.append(img);
    } else {
      preview.textContent = (item.file.name.split(".").pop() || "file").slice(0, 4).toUpperCase();
    }
    const name = document.createElement("span");
    name.className = "upload-name";
    name.textContent = item.file.name;
    const bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute("aria-label", `Uploading ${item.file.name}`);
    const status = document.createElement("span");
    status.className = "upload-status";
    status.textContent = `0% of ${humanSize(item.file.size)}`;
    const cancel = document.createElement("button");
    cancel.type = "button";
    cancel.className = "icon-btn upload-cancel";
    cancel.dataset.uploadCancel = "";
    cancel.setAttribute("aria-label", `Remove ${item.file.name}`);
    cancel.title = "Remove";
    cancel.textContent = "✕";
    cancel.addEventListener("click", () => this.remove(item));
    li.append(preview, name, bar, status, cancel);
    Object.assign(item, { li, bar, status });
    this.tray.append(li);
    this.tray.hidden = false;
  }

  progress(item, fraction) {
    const percent = Math.round(fraction * 100);
    item.bar.value = percent;
    if (item.state === "uploading") item.status.textContent = `${percent}% of ${humanSize(item.file.size)}`;
  }

  fail(item, text) {
    item.state = "error";
    item.error = text;
    item.li.classList.add("failed");
    item.bar.remove();
    item.status.textContent = text;
    item.status.setAttribute("role", "alert");
    this.changed();
  }

  remove(item) {
    if (item.state === "uploading" && item.xhr) item.xhr.abort();
    if (item.state === "done" && item.attachmentId) {
      // Not sent yet: the node would keep it against the member's quota until collected.
      api("DELETE", `/api/v1/attachments/${item.attachmentId}`).catch(() => {});
    }
    item.state = "removed";
    item.li.remove();
    this.items = this.items.filter((i) => i !== item);
    this.tray.hidden = this.items.length === 0;
    this.changed();
  }

  pending() {
    return this.items.filter((i) => i.state === "uploading").map((i) => i.done);
  }

  failed() {
    return this.items.filter((i) => i.state === "error");
  }

  ids() {
    return this.items.filter((i) => i.state === "done").map((i) => i.attachmentId);
  }

  clear() {
    this.items.forEach((item) => item.li.remove());
    this.items = [];
    this.tray.hidden = true;
    this.changed();
  }

  changed() {
    if (this.onChange) this.onChange();
  }
}

// Files dragged over the message pane: an overlay says where they go; a drop adds them.
export function wireDrop(root, uploads) {
  const zone = root.querySelector("[data-drop-zone]");
  if (!zone) return;
  let depth = 0;
  const hasFiles = (event) => Array.from(event.dataTransfer?.types || []).includes("Files");
  root.addEventListener("dragenter", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    depth += 1;
    zone.hidden = false;
  });
  root.addEventListener("dragover", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
  });
  root.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (!depth) zone.hidden = true;
  });
  root.addEventListener("drop", (event) => {
    if (!event.dataTransfer?.files?.length) return;
    event.preventDefault();
    depth = 0;
    zone.hidden = true;
    uploads.add(event.dataTransfer.files);
    root.querySelector("[data-composer-input]")?.focus();
  });
}
