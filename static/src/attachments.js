// Attachments in the pane: each picture's BlurHash is decoded onto a small canvas at once, so
// the grid has its colours before the WebP thumbnail arrives (which then fades in); a click
// opens the lightbox: a modal <dialog> (the page behind is inert), Esc or the close button
// closes it and gives focus back to the picture, ←/→ move through the message's pictures,
// Tab stays inside.
import { decode } from "blurhash";

function paint(canvas) {
  if (canvas.dataset.painted) return;
  canvas.dataset.painted = "1";
  try {
    const pixels = decode(canvas.dataset.blurhash, canvas.width, canvas.height);
    const context = canvas.getContext("2d");
    const image = context.createImageData(canvas.width, canvas.height);
    image.data.set(pixels);
    context.putImageData(image, 0, 0);
  } catch (error) {
    canvas.remove(); // a malformed hash: the tile's plain background stays
  }
}

function reveal(img) {
  const shown = () => img.closest("[data-tile]")?.classList.add("loaded");
  if (img.complete && img.naturalWidth) shown();
  else img.addEventListener("load", shown, { once: true });
}

export function hydrate(root) {
  root.querySelectorAll("canvas[data-blurhash]").forEach(paint);
  root.querySelectorAll("img[data-thumb]").forEach(reveal);
}

class Lightbox {
  constructor(dialog) {
    this.dialog = dialog;
    this.img = dialog.querySelector("[data-lightbox-img]");
    this.video = dialog.querySelector("[data-lightbox-video]");
    this.caption = dialog.querySelector("[data-lightbox-caption]");
    this.open = dialog.querySelector("[data-lightbox-open]");
    this.prev = dialog.querySelector("[data-lightbox-prev]");
    this.next = dialog.querySelector("[data-lightbox-next]");
    this.tiles = [];
    this.index = 0;
    this.opener = null;
    this.prev.addEventListener("click", () => this.move(-1));
    this.next.addEventListener("click", () => this.move(1));
    dialog.querySelector("[data-lightbox-close]").addEventListener("click", () => dialog.close());
    dialog.addEventListener("close", () => {
      this.video.pause();
      this.video.removeAttribute("src");
      if (this.opener && this.opener.isConnected) this.opener.focus();
    });
    // A click on the dark backdrop (the dialog itself, not its content) closes too.
    dialog.addEventListener("click", (event) => {
      if (event.target === dialog || event.target.classList.contains("lightbox-stage")) dialog.close();
    });
    dialog.addEventListener("keydown", (event) => {
      if (event.key === "ArrowLeft" || event.key === "ArrowRight") {
        if (event.target === this.video) return; // the video's own seeking
        event.preventDefault();
        this.move(event.key === "ArrowLeft" ? -1 : 1);
      } else if (event.key === "Tab") {
        this.trap(event);
      }
    });
  }

  focusables() {
    return Array.from(this.dialog.querySelectorAll("a[href], button:not([hidden]), video:not([hidden])")).filter(
      (el) => !el.disabled && el.offsetParent !== null,
    );
  }

  trap(event) {
    const items = this.focusables();
    if (!items.length) return;
    const first = items[0];
    const last = items[items.length - 1];
    if (event.shiftKey && document.activeElement === first) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && document.activeElement === last) {
      event.preventDefault();
      first.focus();
    }
  }

  show(tile) {
    this.tiles = Array.from(tile.closest("[data-gallery]").querySelectorAll("[data-tile]"));
    this.index = this.tiles.indexOf(tile);
    this.opener = tile;
    this.draw();
    if (!this.dialog.open) this.dialog.showModal();
    this.dialog.querySelector("[data-lightbox-close]").focus();
  }

  move(step) {
    if (this.tiles.length < 2) return;
    this.index = (this.index + step + this.tiles.length) % this.tiles.length;
    this.opener = this.tiles[this.index];
    this.draw();
  }

  draw() {
    const tile = this.tiles[this.index];
    const { full, kind, filename, fullWidth, fullHeight } = tile.dataset;
    const isVideo = kind === "video";
    this.img.hidden = isVideo;
    this.video.hidden = !isVideo;
    if (isVideo) {
      this.img.removeAttribute("src");
      this.video.src = full;
      this.video.setAttribute("aria-label", filename);
    } else {
      this.video.removeAttribute("src");
      this.img.src = full;
      this.img.alt = filename;
      if (fullWidth && fullHeight) {
        this.img.width = Number(fullWidth);
        this.img.height = Number(fullHeight);
      }
    }
    const many = this.tiles.length > 1;
    this.caption.textContent = many ? `${filename} — ${this.index + 1} of ${this.tiles.length}` : filename;
    this.open.href = full;
    this.prev.hidden = !many;
    this.next.hidden = !many;
  }
}

export function wireAttachments(list) {
  const dialog = document.querySelector("[data-lightbox]");
  const lightbox = dialog ? new Lightbox(dialog) : null;
  hydrate(list);
  new MutationObserver(() => hydrate(list)).observe(list, { childList: true, subtree: true });
  list.addEventListener("click", (event) => {
    const tile = event.target.closest("[data-tile]");
    if (tile && lightbox) {
      event.preventDefault();
      lightbox.show(tile);
    }
  });
}
