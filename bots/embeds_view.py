"""Embeds as the message pane draws them (templates/web/_embeds.html), for channel messages
and for the ephemeral answers of interactions alike.

What is stored passed bots/embeds.py on its way in; it is read through the same validator
again here, because a message may come from elsewhere (a federated copy, an older row) and
this is the last step before a member's browser: anything that does not pass is not drawn.
Descriptions and field values get the messages' own safe Markdown (messaging/markdown.py).

Images and icons are never loaded: the node has no media proxy, and a picture fetched from a
third-party host would tell that host every reader's address. The pane shows their address
as a link instead, which a member may choose to open.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from bots.embeds import clean_embeds
from messaging import markdown
from united.errors import APIError


def _shown_url(url: str) -> str:
    parts = urlsplit(url)
    tail = parts.path if len(parts.path) <= 40 else parts.path[:39] + "…"
    return f"{parts.netloc}{tail}"


def view(raw: Any) -> list[dict[str, Any]]:
    try:
        embeds = clean_embeds(raw)
    except APIError:
        return []
    out = []
    for embed in embeds:
        item: dict[str, Any] = {
            "title": embed.get("title"),
            "url": embed.get("url"),
            "author": embed.get("author"),
            "footer": (embed.get("footer") or {}).get("text"),
            "color": f"#{embed['color']:06x}" if "color" in embed else None,
        }
        if embed.get("description"):
            item["description_html"] = markdown.render(embed["description"])
        item["fields"] = [
            {**field, "value_html": markdown.render(field["value"])}
            for field in embed.get("fields", [])
        ]
        if embed.get("timestamp"):
            item["timestamp"] = datetime.fromisoformat(embed["timestamp"])
        item["pictures"] = [
            {"label": label, "url": embed[key]["url"], "shown": _shown_url(embed[key]["url"])}
            for key, label in (("image", "Image"), ("thumbnail", "Thumbnail"))
            if key in embed
        ]
        out.append(item)
    return out
