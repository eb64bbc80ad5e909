"""How a message's attachments are drawn: pictures and videos in an adaptive grid (with the
BlurHash media computed, decoded in the browser while the WebP thumbnail loads), everything
else as a file card. The grid's shape depends only on how many tiles there are, so the pane
never jumps when a thumbnail arrives: a lone picture gets its real aspect ratio from the
`width`/`height` attributes, several share fixed cells."""

from __future__ import annotations

from typing import Any

# A lone picture is drawn at most this big (CSS pixels); the grid cells are square.
SINGLE_MAX = (400, 320)
GRID_THUMB = 480


def _fit(width: int | None, height: int | None) -> tuple[int, int]:
    if not width or not height:
        return SINGLE_MAX
    scale = min(SINGLE_MAX[0] / width, SINGLE_MAX[1] / height, 1.0)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _thumb(attachment: dict[str, Any]) -> str | None:
    """The smallest thumbnail that still fills a grid cell, else the largest there is."""
    thumbs = sorted(attachment.get("thumbnails") or [], key=lambda t: t["size"])
    if not thumbs:
        return None
    fitting = [t for t in thumbs if t["size"] >= GRID_THUMB]
    return (fitting[0] if fitting else thumbs[-1])["url"]


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} bytes"


def layout(attachments: list[dict[str, Any]]) -> dict[str, Any]:
    """`{"tiles": [...], "files": [...], "shape": "n1".."n5"}` for the message template."""
    tiles, files = [], []
    for item in attachments:
        kind = item.get("kind")
        if kind == "image" or (kind == "video" and item.get("thumbnails")):
            tiles.append(item)
        else:
            files.append(
                {
                    "id": item["id"],
                    "filename": item["filename"],
                    "url": item["url"],
                    "size": human_size(item["size"]),
                    "kind": kind,
                    "content_type": item["content_type"],
                }
            )
    shown = []
    single = len(tiles) == 1
    for index, item in enumerate(tiles):
        width, height = _fit(item.get("width"), item.get("height"))
        shown.append(
            {
                "id": item["id"],
                "index": index,
                "filename": item["filename"],
                "kind": item["kind"],
                "url": item["url"],
                # Small pictures have no thumbnail: the original is small enough.
                "thumb": _thumb(item) or (item["url"] if item["kind"] == "image" else None),
                "placeholder": item.get("placeholder") or "",
                "width": width if single else GRID_THUMB,
                "height": height if single else GRID_THUMB,
                "full_width": item.get("width") or "",
                "full_height": item.get("height") or "",
            }
        )
    return {"tiles": shown, "files": files, "shape": f"n{min(len(shown), 5)}"}
