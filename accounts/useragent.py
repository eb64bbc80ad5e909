"""A user-agent string in words: "Firefox on Linux", "Safari on iOS", "curl".

Sessions are listed to their owner and to the operator; a raw user-agent is unreadable and is
also a fingerprint, so sign-in stores only these words (accounts.services.tokens) and the lists
describe older rows, which still hold the raw string, the same way. The rules cover the tokens
the common browsers send; order matters because browsers borrow each other's names (Edge says
"Chrome" and "Safari", Chrome says "Safari", every iPhone browser says "Mac OS X").
"""

from __future__ import annotations

import re

UNKNOWN = "Unknown client"

# First match wins.
BROWSERS: list[tuple[str, str]] = [
    ("Edg/", "Edge"),
    ("EdgA/", "Edge"),
    ("EdgiOS/", "Edge"),
    ("OPR/", "Opera"),
    ("Opera/", "Opera"),
    ("SamsungBrowser/", "Samsung Internet"),
    ("FxiOS/", "Firefox"),
    ("CriOS/", "Chrome"),
    ("Firefox/", "Firefox"),
    ("HeadlessChrome/", "Headless Chrome"),
    ("Chromium/", "Chromium"),
    ("Chrome/", "Chrome"),
    ("Version/", "Safari"),  # Safari's own version token; Chrome-based browsers lack it
]
SYSTEMS: list[tuple[str, str]] = [
    ("Windows NT", "Windows"),
    ("Windows Phone", "Windows Phone"),
    ("iPhone", "iOS"),
    ("iPod", "iOS"),
    ("iPad", "iPadOS"),
    ("Android", "Android"),
    ("CrOS", "ChromeOS"),
    ("Macintosh", "macOS"),
    ("Mac OS X", "macOS"),
    ("Ubuntu", "Ubuntu"),
    ("Fedora", "Fedora"),
    ("Linux", "Linux"),
    ("X11", "Linux"),
    ("FreeBSD", "FreeBSD"),
]
# A program rather than a browser: its product name, without the version ("curl/8.5.0").
PRODUCT = re.compile(r"^([A-Za-z][\w.+-]{0,40})/\S")


def parse(user_agent: str) -> tuple[str | None, str | None]:
    """(browser, operating system), each None when the string does not say."""
    browser = next((name for token, name in BROWSERS if token in user_agent), None)
    if browser is None and "Safari/" in user_agent and "Mobile/" in user_agent:
        browser = "Safari"  # an iOS web view: no Version/ token
    system = next((name for token, name in SYSTEMS if token in user_agent), None)
    return browser, system


def describe(user_agent: str | None) -> str:
    """Words for a user-agent; text that is already words (no product/version token) is kept."""
    text = (user_agent or "").strip()
    if not text:
        return UNKNOWN
    if "/" not in text:
        return text[:120]
    browser, system = parse(text)
    if browser is None:
        product = PRODUCT.match(text)
        if product is None or product.group(1) == "Mozilla":
            browser = "Unknown browser" if system else UNKNOWN
        else:
            browser = product.group(1)
    return f"{browser} on {system}" if system else browser
