"""Sessions in words: the user-agent parser over strings real clients send, and the pages
that list sessions (the member's security page, the operator's admin)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts import useragent
from accounts.models import AuthSession
from tests.accounts.conftest import PASSWORD
from united import humane

FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"

REAL = [
    (FIREFOX_LINUX, "Firefox on Linux"),
    (
        "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
        "Firefox on Ubuntu",
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
        "Firefox on Windows",
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.7; rv:133.0) Gecko/20100101 Firefox/133.0",
        "Firefox on macOS",
    ),
    (
        "Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0",
        "Firefox on Android",
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_7 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) FxiOS/133.0 Mobile/15E148 Safari/605.1.15",
        "Firefox on iOS",
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36",
        "Chrome on Windows",
    ),
    (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36",
        "Chrome on Linux",
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36",
        "Chrome on macOS",
    ),
    (
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.6778.135 Mobile Safari/537.36",
        "Chrome on Android",
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
        "Chrome on iOS",
    ),
    (
        "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36",
        "Chrome on ChromeOS",
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/18.1 Safari/605.1.15",
        "Safari on macOS",
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1_1 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/18.1.1 Mobile/15E148 Safari/604.1",
        "Safari on iOS",
    ),
    (
        "Mozilla/5.0 (iPad; CPU OS 17_7 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.7 Mobile/15E148 Safari/604.1",
        "Safari on iPadOS",
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86",
        "Edge on Windows",
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86",
        "Edge on macOS",
    ),
    (
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Mobile Safari/537.36 EdgA/131.0.2903.87",
        "Edge on Android",
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36 OPR/115.0.0.0",
        "Opera on Windows",
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 "
        "(KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
        "Samsung Internet on Android",
    ),
    (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "HeadlessChrome/131.0.6778.85 Safari/537.36",
        "Headless Chrome on Linux",
    ),
    ("curl/8.5.0", "curl"),
    ("python-httpx/0.28.1", "python-httpx"),
    ("Wget/1.21.4", "Wget"),
    # What the parser does not know stays honest rather than guessed.
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "Unknown client"),
    ("Mozilla/5.0 (X11; Linux x86_64) SomethingNew/1.0", "Unknown browser on Linux"),
    ("", "Unknown client"),
    ("???", "???"),
    # Words already stored at sign-in are kept as they are.
    ("Firefox on Linux", "Firefox on Linux"),
]


@pytest.mark.mode_independent
@pytest.mark.parametrize(("agent", "words"), REAL, ids=[w for _, w in REAL])
def test_real_user_agents_in_words(agent, words):
    assert useragent.describe(agent) == words


@pytest.mark.mode_independent
def test_relative_time_keeps_the_exact_date_in_its_title():
    now = timezone.now()
    three_hours = now - timedelta(hours=3, minutes=5)
    assert humane.relative(three_hours, now) == "3 hours ago"
    assert humane.relative(now - timedelta(seconds=10), now) == "just now"
    assert humane.relative(now + timedelta(days=2, hours=1), now) == "in 2 days"
    html = str(humane.when(three_hours, now))
    assert html.startswith(f'<time datetime="{three_hours.isoformat()}" title="')
    assert humane.exact(three_hours) in html and html.endswith(">3 hours ago</time>")
    assert humane.exact(three_hours).endswith(" UTC")


@pytest.mark.django_db
def test_sessions_read_as_browser_and_system_with_relative_dates(make_user, admin_client):
    make_user("alice")
    browser = Client(HTTP_USER_AGENT=FIREFOX_LINUX)
    signed_in = browser.post("/login/", {"username": "alice", "password": PASSWORD})
    assert signed_in.status_code == 302
    session = AuthSession.objects.get(user__username="alice")
    assert session.name == "Firefox on Linux"  # words, not the fingerprintable raw string
    AuthSession.objects.filter(pk=session.pk).update(
        last_used_at=timezone.now() - timedelta(hours=3, minutes=1)
    )

    page = browser.get("/settings/security/").content.decode()
    assert "<strong>Firefox on Linux</strong> · <time datetime=" in page
    assert ">3 hours ago</time>" in page and ' UTC">' in page
    assert "Mozilla/5.0" not in page

    # A row from before sign-in stored words still reads as words, in the API too.
    AuthSession.objects.filter(pk=session.pk).update(name=REAL[6][0])
    listed = browser.get("/api/v1/users/@me/sessions")
    assert listed.status_code == 200 and listed.json()[0]["name"] == "Chrome on Windows"

    operator_view = admin_client.get("/admin/accounts/authsession/").content.decode()
    assert "Chrome on Windows" in operator_view and ">3 hours ago</time>" in operator_view
    assert "Mozilla/5.0" not in operator_view
