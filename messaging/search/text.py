"""Text handling every engine shares: word splitting, folding, `has:` detection, snippets.

All engines match on the same words: runs of letters and digits (underscores and punctuation
split words, as SQLite's unicode61 tokenizer does), compared case- and accent-insensitively and
by prefix. The highlighter uses the same rule, so what is marked is what matched.
"""

from __future__ import annotations

import html
import re
import unicodedata
from urllib.parse import urlsplit

from messaging.search import MARK_END, MARK_START

WORD = re.compile(r"[^\W_]+")
URL = re.compile(r"\bhttps?://[^\s<>\"']+", re.IGNORECASE)

IMAGE_EXTS = frozenset({"png", "jpg", "jpeg", "gif", "webp", "avif", "bmp", "svg", "heic"})
VIDEO_EXTS = frozenset({"mp4", "webm", "mov", "mkv", "avi", "m4v"})
OTHER_FILE_EXTS = frozenset(
    {
        "pdf", "zip", "tar", "gz", "tgz", "7z", "rar", "txt", "csv", "json", "doc", "docx",
        "odt", "xls", "xlsx", "ods", "ppt", "pptx", "odp", "mp3", "ogg", "wav", "flac", "epub",
    }
)  # fmt: skip
SNIPPET_CHARS = 240


def fold(text: str) -> str:
    """Lower case without accents: "Crème" → "creme"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def words(text: str) -> list[str]:
    return [fold(w) for w in WORD.findall(text)]


def index_text(text: str) -> str:
    """The text engines without our tokenizer (PostgreSQL) index: folded words only, so a URL
    or `snake_case` splits into the same words everywhere."""
    return " ".join(words(text))


# An attachment's kind (media.models.Kind) → what `has:` finds for it.
ATTACHMENT_HAS = {
    "image": {"image", "file"},
    "video": {"video", "file"},
    "audio": {"file"},
    "file": {"file"},
    "encrypted": {"file"},
}


def has_kinds(content: str, attachment_kinds: tuple[str, ...] = ()) -> tuple[str, ...]:
    """What `has:` finds in a message: its attachments (by their sniffed kind), and links,
    where a path ending in a known extension also counts as a file / image / video."""
    kinds: set[str] = set()
    for kind in attachment_kinds:
        kinds.update(ATTACHMENT_HAS.get(kind, {"file"}))
    for url in URL.findall(content):
        kinds.add("link")
        path = urlsplit(url.rstrip(".,;:!?)")).path.lower()
        ext = path.rsplit(".", 1)[-1] if "." in path.rsplit("/", 1)[-1] else ""
        if ext in IMAGE_EXTS:
            kinds.update({"image", "file"})
        elif ext in VIDEO_EXTS:
            kinds.update({"video", "file"})
        elif ext in OTHER_FILE_EXTS:
            kinds.add("file")
    return tuple(sorted(kinds))


def _mark_terms(content: str, terms: tuple[str, ...]) -> str:
    if not terms:
        return content
    out, last = [], 0
    for match in WORD.finditer(content):
        if any(fold(match.group()).startswith(t) for t in terms):
            out += [content[last : match.start()], MARK_START, match.group(), MARK_END]
            last = match.end()
    out.append(content[last:])
    return "".join(out)


def _crop(marked: str) -> str:
    if len(marked) <= SNIPPET_CHARS:
        return marked
    first = marked.find(MARK_START)
    start = max(0, first - SNIPPET_CHARS // 3) if first >= 0 else 0
    if marked.rfind(MARK_START, 0, start) > marked.rfind(MARK_END, 0, start):
        start = marked.rfind(MARK_START, 0, start)
    end = start + SNIPPET_CHARS
    # Never cut inside a marked word.
    close = marked.rfind(MARK_END, start, end)
    open_ = marked.rfind(MARK_START, start, end)
    if open_ > close:
        end = marked.find(MARK_END, open_) + 1
    return ("…" if start else "") + marked[start:end] + ("…" if end < len(marked) else "")


def snippet(content: str, terms: tuple[str, ...], marked: str | None = None) -> str:
    """Safe HTML: the text is escaped first, then matches are wrapped in <mark>."""
    content = content.replace(MARK_START, "").replace(MARK_END, "")
    text = _crop(marked if marked is not None else _mark_terms(content, terms))
    escaped = html.escape(text)
    return escaped.replace(MARK_START, "<mark>").replace(MARK_END, "</mark>")
