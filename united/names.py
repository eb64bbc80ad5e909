"""Names people see (display names, nicknames, guild and channel names) and message text: what
is normalised, what is refused, and when a name passes for someone else's.

Every door (API, web forms, the admin, federation) reaches these through the owning app's
services, so one rule holds everywhere. The decisions (also in docs/security.md):

- Normal form. Names are stored in NFC, which never changes how a name looks. Channel names are
  identifiers people type after `#`, so they get NFKC (fullwidth and styled letters become the
  plain ones); display names, nicknames and guild names keep what the member chose (𝓢𝓽𝔂𝓵𝓮𝓭
  letters, superscripts), because the look-alike check below compares NFKC-based skeletons
  anyway. Every kind of space becomes U+0020, runs of spaces become one, ends are trimmed.
- Refused with 400: controls; bidi controls (U+061C, U+200E/F, U+202A-202E, U+2066-2069);
  format and invisible characters (U+200B, U+2060-2064, U+FEFF, U+180E, U+00AD, U+034F, the
  Hangul fillers U+115F, U+1160, U+3164, U+FFA0, the Braille blank U+2800, U+17B4/5, tag
  characters, private-use, surrogates and unassigned code points; line and paragraph
  separators). Allowed only where a script needs them: ZWJ inside an emoji sequence or after a
  virama, ZWNJ after a virama or between two Arabic-script letters, tag characters inside a
  subdivision flag (🏴 + tags + U+E007F), a variation selector right after a visible character.
- Combining marks: at most `NAME_MARKS_MAX` in a row on one character in a name and
  `MESSAGE_MARKS_MAX` in a message; more is refused (not trimmed: a trimmed message would not be
  what its author wrote, and the author is told the rule). Real scripts stay well under these.
- Look-alikes: two names clash when their Unicode TR39 skeletons are equal (the `disarm`
  package's `skeleton_key`, with TR39's digit classes: `0wner` is `owner`, `AdmIn` is `admln`),
  compared both as written and case-folded. See `refuse_look_alike`.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from disarm import skeleton_key

from united.errors import Invalid

NAME_MARKS_MAX = 4
MESSAGE_MARKS_MAX = 8

# Words a name must not pass for, whoever holds them: the node's staff and UI concepts.
RESERVED_NAMES = frozenset(
    {
        "abuse",
        "admin",
        "administrator",
        "everyone",
        "here",
        "mod",
        "moderator",
        "moderators",
        "official",
        "operator",
        "owner",
        "root",
        "security",
        "staff",
        "support",
        "system",
        "united",
    }
)

_BIDI = {0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)}
# Invisible or blank-looking characters whose category alone would let them through.
_BLANK = {0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x2800, 0x3164, 0xFFA0, 0xFFFC}
_ZWNJ, _ZWJ = 0x200C, 0x200D
_BLACK_FLAG, _CANCEL_TAG = 0x1F3F4, 0xE007F
_REFUSED_CATEGORIES = {"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"}


def _is_variation_selector(cp: int) -> bool:
    return 0xFE00 <= cp <= 0xFE0F or 0xE0100 <= cp <= 0xE01EF


def _is_tag(cp: int) -> bool:
    return 0xE0020 <= cp <= 0xE007F


def _describe(ch: str) -> str:
    return f"U+{ord(ch):04X} ({unicodedata.name(ch, 'unnamed')})"


def _visible_base(ch: str | None) -> bool:
    if ch is None or ch == " ":
        return False
    cp = ord(ch)
    category = unicodedata.category(ch)
    return not (category[0] in "MCZ" or _is_variation_selector(cp) or _is_tag(cp) or cp in _BLANK)


def _joiner_allowed(text: str, i: int) -> bool:
    """RFC 5892's CONTEXTJ, plus emoji ZWJ sequences (👩‍💻) for ZWJ."""
    before = text[i - 1] if i > 0 else None
    after = text[i + 1] if i + 1 < len(text) else None
    if before is None or after is None:
        return False
    if unicodedata.combining(before) == 9:  # after a virama (Devanagari, Bengali, …)
        return True
    if ord(text[i]) == _ZWJ:
        j = i - 1
        while j > 0 and (
            _is_variation_selector(ord(text[j])) or unicodedata.category(text[j]) == "Sk"
        ):
            j -= 1  # skip VS16 and skin-tone modifiers to the emoji they dress
        return unicodedata.category(text[j]) == "So" and unicodedata.category(after) == "So"
    return (
        unicodedata.category(before).startswith("L")
        and unicodedata.category(after).startswith("L")
        and unicodedata.name(before, "").startswith("ARABIC")
        and unicodedata.name(after, "").startswith("ARABIC")
    )


def _tag_allowed(text: str, i: int) -> bool:
    """Tag characters only inside a subdivision flag: U+1F3F4, tags, U+E007F (🏴󠁧󠁢󠁳󠁣󠁴󠁿)."""
    start = i
    while start > 0 and _is_tag(ord(text[start - 1])):
        start -= 1
    end = i
    while end + 1 < len(text) and _is_tag(ord(text[end + 1])):
        end += 1
    return (
        start > 0
        and ord(text[start - 1]) == _BLACK_FLAG
        and ord(text[end]) == _CANCEL_TAG
        and end > start
    )


def hidden_character(text: str) -> str | None:
    """Why `text` may not be a name, naming the first character that hides or reorders text;
    None when every character is visible or used where its script needs it."""
    for i, ch in enumerate(text):
        cp = ord(ch)
        if cp in _BIDI:
            return f"{_describe(ch)} reorders text and is not allowed in names."
        if cp in (_ZWJ, _ZWNJ):
            if _joiner_allowed(text, i):
                continue
            return f"{_describe(ch)} is invisible and is not allowed here."
        if _is_tag(cp):
            if _tag_allowed(text, i):
                continue
            return f"{_describe(ch)} is invisible and is not allowed in names."
        if _is_variation_selector(cp):
            if _visible_base(text[i - 1] if i else None):
                continue
            return f"{_describe(ch)} does not follow a visible character."
        if cp in _BLANK or unicodedata.category(ch) in _REFUSED_CATEGORIES:
            return f"{_describe(ch)} is invisible or a control character and is not allowed."
    return None


def longest_mark_run(text: str) -> int:
    """The most combining marks stacked on one character (variation selectors excepted)."""
    longest = run = 0
    for ch in text:
        if unicodedata.category(ch)[0] == "M" and not _is_variation_selector(ord(ch)):
            run += 1
            longest = max(longest, run)
        else:
            run = 0
    return longest


def check_marks(text: str, field: str, limit: int) -> None:
    # Counted on the text as stored: messages are kept as written, names in NFC.
    found = longest_mark_run(text)
    if found > limit:
        raise Invalid(
            errors={
                field: [
                    f"At most {limit} combining marks on one character ({found} in a row here)."
                ]
            }
        )


def clean_name(
    value: object,
    field: str,
    *,
    max_length: int,
    min_length: int = 1,
    compatibility: bool = False,
) -> str:
    """The name in its stored form, or Invalid (400) naming `field` and the reason.

    `compatibility` chooses NFKC (identifiers such as channel names) over NFC."""
    if not isinstance(value, str):
        raise Invalid(errors={field: ["Must be a string."]})
    text = unicodedata.normalize("NFKC" if compatibility else "NFC", value)
    # Every space-like character becomes a plain space (NBSP, ideographic, thin …), then runs
    # of whitespace collapse: two names that look the same are stored the same.
    text = "".join(" " if unicodedata.category(ch) == "Zs" else ch for ch in text)
    text = " ".join(part for part in text.split(" ") if part)
    problem = hidden_character(text)
    if problem:
        raise Invalid(errors={field: [problem]})
    if text and not _visible_base(text[0]):
        raise Invalid(errors={field: ["Must start with a visible character."]})
    check_marks(text, field, NAME_MARKS_MAX)
    if not min_length <= len(text) <= max_length:
        raise Invalid(
            errors={field: [f"Must be between {min_length} and {max_length} characters long."]}
        )
    return text


def skeletons(name: str) -> set[str]:
    """TR39 skeletons of `name` as written, case-folded and upper-cased, so `ADMIN` meets
    `admin`, and `ADMlN` (a small L) meets it too, through `ADMIN`'s skeleton `admln`."""
    if not name:
        return set()
    forms = {name, name.casefold(), name.upper()}
    return {skeleton_key(form, digit_policy="tr39") for form in forms} - {""}


@dataclass(frozen=True)
class Protected:
    """A name someone else must not pass for, and why (shown to the member refused)."""

    name: str
    whose: str  # "the guild owner's name", "a moderator's name", "a reserved name" …


def reserved() -> list[Protected]:
    return [Protected(word, "a reserved name") for word in sorted(RESERVED_NAMES)]


def refuse_look_alike(name: str, field: str, protected: Iterable[Protected]) -> None:
    """Invalid (400) when `name` is, or looks like, a protected name."""
    mine = skeletons(name)
    if not mine:
        return
    for other in protected:
        if other.name and mine & skeletons(other.name):
            raise Invalid(
                errors={field: [f"This name looks like {other.whose}."]},
            )
