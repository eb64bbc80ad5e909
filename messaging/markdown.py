"""Message Markdown: the subset Discord users type, rendered to HTML on the server.

Input is never trusted. markdown-it runs with raw HTML disabled, so `<script>` stays text;
its output then passes through nh3 (an allowlist HTML sanitiser) as a second wall, so a parser
bug cannot smuggle markup through. Links are detected in bare text, may only be http(s) or
mailto, and open with rel="noopener noreferrer nofollow ugc".

Supported: **bold**, *italic*/_italic_, __underline__, ~~strike~~, ||spoiler||, `code`,
```fenced code```, > quotes, # / ## / ### headings, - lists, [text](url) and bare links.
"""

from __future__ import annotations

import re

import nh3
from markdown_it import MarkdownIt

ALLOWED_TAGS = {
    "p",
    "br",
    "strong",
    "em",
    "u",
    "s",
    "code",
    "pre",
    "blockquote",
    "h1",
    "h2",
    "h3",
    "ul",
    "ol",
    "li",
    "a",
    "span",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "span": {"class"}, "code": {"class"}}
SAFE_SCHEMES = {"http", "https", "mailto"}

_md = (
    MarkdownIt("commonmark", {"html": False, "linkify": True, "breaks": True})
    .enable(["linkify", "strikethrough"])
    .disable(["image", "html_block", "html_inline", "hr", "lheading", "reference"])
)
# markdown-it's documented way to decide which links are allowed.
_md.validateLink = lambda url: url.split(":", 1)[0].lower() in SAFE_SCHEMES if ":" in url else False  # type: ignore[method-assign]

# Discord's `__underline__` and `||spoiler||` are not CommonMark: swap them for private-use
# sentinels before parsing (markdown-it would read `__x__` as bold) and for tags after.
_UNDERLINE = re.compile(r"(?<![\w_])__(?=\S)(.+?)(?<=\S)__(?![\w_])", re.S)
_SPOILER = re.compile(r"\|\|(?=\S)(.+?)(?<=\S)\|\|", re.S)
_U_OPEN, _U_CLOSE, _S_OPEN, _S_CLOSE = "\ue000", "\ue001", "\ue002", "\ue003"
_CODE = re.compile(r"(```.*?```|`[^`\n]*`)", re.S)


def _mark_outside_code(text: str) -> str:
    parts = _CODE.split(text)
    for i in range(0, len(parts), 2):  # even parts are outside code spans
        parts[i] = _UNDERLINE.sub(lambda m: f"{_U_OPEN}{m.group(1)}{_U_CLOSE}", parts[i])
        parts[i] = _SPOILER.sub(lambda m: f"{_S_OPEN}{m.group(1)}{_S_CLOSE}", parts[i])
    return "".join(parts)


def render(text: str) -> str:
    """Safe HTML for a message body."""
    cleaned = text.translate({ord(c): None for c in (_U_OPEN, _U_CLOSE, _S_OPEN, _S_CLOSE)})
    html = _md.render(_mark_outside_code(cleaned))
    html = (
        html.replace(_U_OPEN, "<u>")
        .replace(_U_CLOSE, "</u>")
        .replace(_S_OPEN, '<span class="spoiler">')
        .replace(_S_CLOSE, "</span>")
    )
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=SAFE_SCHEMES,
        link_rel="noopener noreferrer nofollow ugc",
    ).strip()


_LINK = re.compile(r"https?://[^\s<>\"']+", re.I)


def find_links(text: str) -> list[str]:
    """Bare and Markdown links in a message, for `has:link` and embeds."""
    return [m.group(0).rstrip(".,;:!?)") for m in _LINK.finditer(text)]
