"""Automod matching: pure functions over a rule's config and one message (no ORM), so each
rule type is testable on its own and against a corpus of ordinary messages.

Regexes written by guild moderators run on every message, so they are held to limits that
rule out catastrophic backtracking without a third-party engine:
  - at most 10 patterns of at most 200 characters per rule; no backreferences or lookarounds;
  - no quantified group that itself contains a quantifier or an alternation (`(a+)+`,
    `(a|aa)*`, `(\\w+\\s?)*`): the constructs that make a backtracking engine exponential;
  - a budget on polynomial backtracking: the product over all quantifiers of their reach
    (max - min + 1, or 100 for an unbounded one) is at most 1,000: one unbounded quantifier, the
    rest bounded (`\\bfree\\s{1,5}nitro\\s+now` passes, `.*.*x` does not);
  - patterns run over the message in windows of 300 characters (overlapping by 60), so
    the worst allowed pattern costs milliseconds.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

try:  # Python 3.11+: the parser moved under re.
    from re import _constants as sre_constants  # type: ignore[attr-defined]
    from re import _parser as sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover
    import sre_constants
    import sre_parse

KINDS = (
    "keyword",
    "regex",
    "links",
    "invites",
    "mention_spam",
    "flood",
    "new_account",
    "duplicate",
)
MAX_PATTERNS = 10
MAX_PATTERN_LENGTH = 200
MAX_WORDS = 1000
MAX_WORD_LENGTH = 60
MAX_INPUT = 4000
REPEAT_BUDGET = 1_000
UNBOUNDED_COST = 100
WINDOW, OVERLAP = 300, 60

_URL = re.compile(r"(?i)\b(?:https?://|www\.)[^\s<>()\[\]]+")
_INVITE = re.compile(
    r"(?i)(?:\bdiscord(?:app)?\.(?:gg|com/invite)/|web\+united://invite/[^\s/]+/|/invite/)"
    r"([A-Za-z0-9_-]{2,32})"
)
_MENTION = re.compile(r"<@[!&]?(\d{1,20})>")
_EVERYONE = re.compile(r"@(?:everyone|here)\b")
_REPEATS = {sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT}
_POSSESSIVE = getattr(sre_constants, "POSSESSIVE_REPEAT", None)
_FORBIDDEN = {
    sre_constants.GROUPREF,
    sre_constants.GROUPREF_EXISTS,
    sre_constants.ASSERT,
    sre_constants.ASSERT_NOT,
}


class UnsafePattern(ValueError):
    pass


def normalize(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _risky(items: Any) -> bool:
    """Does this (sub)pattern contain a repeat or an alternation?"""
    for op, arg in items:
        if op in _REPEATS or op == _POSSESSIVE or op == sre_constants.BRANCH:
            return True
        if op == sre_constants.SUBPATTERN and _risky(arg[-1]):
            return True
    return False


def _walk(items: Any) -> int:
    """Check the tree; return its backtracking cost (product of quantifier reaches)."""
    cost = 1
    for op, arg in items:
        if op in _FORBIDDEN:
            raise UnsafePattern("backreferences and lookarounds are not allowed")
        if op in _REPEATS or (_POSSESSIVE is not None and op == _POSSESSIVE):
            low, high, sub = arg
            if high > 1 and _risky(sub):
                raise UnsafePattern("a repeated group may not contain a repeat or an alternation")
            # How many ways the quantifier can stop: what backtracking may try.
            unbounded = high == sre_constants.MAXREPEAT
            reach = UNBOUNDED_COST if unbounded else min(high - low + 1, 10**6)
            cost *= reach * _walk(sub)
        elif op == sre_constants.SUBPATTERN:
            cost *= _walk(arg[-1])
        elif op == sre_constants.BRANCH:
            cost *= sum(_walk(branch) for branch in arg[1])
        if cost > REPEAT_BUDGET:
            raise UnsafePattern("too many or too wide quantifiers (backtracking budget)")
    return cost


def check_pattern(pattern: Any) -> re.Pattern[str]:
    """Compile a moderator's pattern, or raise UnsafePattern saying why not."""
    if not isinstance(pattern, str) or not 0 < len(pattern) <= MAX_PATTERN_LENGTH:
        raise UnsafePattern(f"1 to {MAX_PATTERN_LENGTH} characters")
    try:
        tree = sre_parse.parse(pattern)
        compiled = re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise UnsafePattern(f"does not compile: {exc}") from None
    _walk(tree)
    return compiled


def _keyword_regex(word: str) -> re.Pattern[str]:
    word = normalize(word)
    prefix, suffix = word.startswith("*"), word.endswith("*")
    core = re.escape(word.strip("*"))
    return re.compile(("" if prefix else r"(?<!\w)") + core + ("" if suffix else r"(?!\w)"))


def check_config(kind: str, config: Any) -> dict[str, Any]:
    """Validate and normalise a rule's config; raises ValueError with a message."""
    if kind not in KINDS:
        raise ValueError(f"type must be one of {', '.join(KINDS)}")
    config = config if isinstance(config, dict) else {}

    def number(name: str, low: int, high: int, default: int) -> int:
        value = config.get(name, default)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ValueError(f"{name} must be a whole number from {low} to {high}")
        return value

    def strings(name: str, limit: int, length: int) -> list[str]:
        values = config.get(name, [])
        if not isinstance(values, list) or len(values) > limit:
            raise ValueError(f"{name} must be a list of at most {limit}")
        if not all(isinstance(v, str) and 0 < len(v.strip("*")) <= length for v in values):
            raise ValueError(f"each of {name} must be 1 to {length} characters")
        return [v.strip() for v in values]

    if kind == "keyword":
        return {"words": strings("words", MAX_WORDS, MAX_WORD_LENGTH)}
    if kind == "regex":
        patterns = strings("patterns", MAX_PATTERNS, MAX_PATTERN_LENGTH)
        for pattern in patterns:
            try:
                check_pattern(pattern)
            except UnsafePattern as exc:
                raise ValueError(f"pattern {pattern!r}: {exc}") from None
        return {"patterns": patterns}
    if kind == "links":
        return {"allow_domains": [d.lower() for d in strings("allow_domains", 100, 253)]}
    if kind == "invites":
        return {}
    if kind == "mention_spam":
        return {"max_mentions": number("max_mentions", 1, 50, 5)}
    if kind == "flood":
        return {
            "max_messages": number("max_messages", 2, 100, 5),
            "per_seconds": number("per_seconds", 1, 3600, 10),
        }
    if kind == "new_account":
        return {"min_account_age_seconds": number("min_account_age_seconds", 60, 90 * 86400, 86400)}
    return {
        "max_duplicates": number("max_duplicates", 1, 20, 2),
        "per_seconds": number("per_seconds", 1, 3600, 60),
    }


@dataclass
class MessageFacts:
    """What the rules look at, gathered once per message by the service."""

    content: str
    account_age_seconds: float = 1e12
    recent_count: int = 0  # the author's messages in the guild within the flood window
    recent_contents: list[str] = field(default_factory=list)  # within the duplicate window
    own_invite_codes: frozenset[str] = frozenset()
    node_domain: str = ""


def _host_allowed(host: str, allowed: list[str]) -> bool:
    host = host.lower().rstrip(".")
    return any(host == d or host.endswith("." + d) for d in allowed)


def matches(kind: str, config: dict[str, Any], facts: MessageFacts) -> str | None:
    """The reason this rule fires on the message, or None."""
    text = facts.content[:MAX_INPUT]
    if kind == "keyword":
        norm = normalize(text)
        for word in config["words"]:
            if _keyword_regex(word).search(norm):
                return f"blocked word {word!r}"
    elif kind == "regex":
        windows = [text[i : i + WINDOW] for i in range(0, max(len(text), 1), WINDOW - OVERLAP)]
        for pattern in config["patterns"]:
            compiled = check_pattern(pattern)
            if any(compiled.search(w) for w in windows):
                return f"pattern {pattern!r}"
    elif kind == "links":
        allowed = [*config["allow_domains"], *([facts.node_domain] if facts.node_domain else [])]
        for url in _URL.findall(text):
            host = urlsplit(url if "://" in url else f"http://{url}").hostname or ""
            if not _host_allowed(host, allowed):
                return f"link to {host}"
    elif kind == "invites":
        for code in _INVITE.findall(text):
            if code not in facts.own_invite_codes:
                return f"invite {code}"
    elif kind == "mention_spam":
        count = len(set(_MENTION.findall(text))) + len(_EVERYONE.findall(text))
        if count > config["max_mentions"]:
            return f"{count} mentions"
    elif kind == "flood":
        if facts.recent_count >= config["max_messages"]:
            return f"more than {config['max_messages']} messages in {config['per_seconds']}s"
    elif kind == "new_account":
        if facts.account_age_seconds < config["min_account_age_seconds"]:
            return "account too new"
    elif kind == "duplicate":
        norm = normalize(text)
        if (
            sum(1 for c in facts.recent_contents if normalize(c) == norm)
            >= config["max_duplicates"]
        ):
            return "repeated message"
    return None
