"""axe-core on every screen of the web client and of the admin, all severities, both themes.

One node with a voice worker (plus a second node, the far end of a federated join) holds a
world in which every screen has something to show: a guild with messages, a reply, a
reaction, a picture and a pin, a role, an invite, a report case acted on, a banned member and
a timed-out one, a DM, a member who turns two-factor authentication on, and what an
operator's work leaves (a suspended guild, a deleted file, a refused inbox request). Each
screen is reached as its user would (a URL, or a few clicks for dialogs and panels), then
checked with axe-core's default rule set, every impact level, in the dark theme and the light
one (the same page: only `<html data-theme>` changes, as the theme toggle does), and
photographed into test-output/screenshots/a11y-<screen>-<theme>.png.

To add a screen, append a `Screen` to SCREENS: a name, then a path on node "a" (formatted
with the world's ids, e.g. "/app/guilds/{guild}/settings/roles/") or a function
`(page, world) -> None` that opens it (click, fill, then wait for what shows its content), and
who looks at it (ALICE owns the guild, CAROL is a member, MALLORY is banned from it, TIM is
timed out in it, VISITOR is signed out, OPERATOR is the node's superuser). A screen that needs
more state than the world has: add it in `build_world` (or OPERATOR_ROWS). The admin needs no
entry: every registered ModelAdmin's changelist and the change page of its first row are
visited (`admin_screens`).

`test_every_html_route_is_visited` fails when a URL pattern that renders a page is neither
reached by a screen (any HTML response the browser got, fragments included, counts) nor named
in SKIP with the reason it renders no screen of its own."""

from __future__ import annotations

import base64
import io
import itertools
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, NamedTuple
from urllib.parse import quote, urlsplit

import httpx
import pytest

from tests.browser import (  # noqa: F401  (bundle: a fixture)
    MEDIA_ARGS,
    PASSWORD,
    SCREEN_ARGS,
    bundle,
    launch,
)
from tests.nodes import ROOT, services_mode
from tests.services import free_port, wait_for_port

playwright = pytest.importorskip("playwright.sync_api")

pytestmark = [
    pytest.mark.live,
    pytest.mark.xdist_group("web_accessibility"),
    # One tour (two nodes, a hundred screens, two themes each) serves both tests; on a loaded
    # machine it outlasts the suite's default per-test limit.
    pytest.mark.timeout(900),
    # What a page looks like does not depend on the database or the channel layer.
    pytest.mark.skipif(services_mode(), reason="browser tests run in the embedded mode"),
]

SHOTS = ROOT / "test-output" / "screenshots"
# What axe found on each screen and how long each took, for reading after a failed run.
REPORT = ROOT / "test-output" / "accessibility.json"
# A regular expression: only the screens it matches are visited (to work on one screen); the
# coverage test is then skipped.
ONLY = os.environ.get("UNITED_A11Y_SCREENS", "")
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
THEMES = ("dark", "light")
FED_ENV = {"FEDERATION_ALLOW_PRIVATE": "127.0.0.1/32", "FEDERATION_SCHEME": "http"}

VISITOR, ALICE, CAROL, OPERATOR = "visitor", "alice", "carol", "oscar"
# Mallory is banned from the guild, Tim is timed out in it. Moe moved his account to node b.
MALLORY, TIM, MOE = "mallory", "tim", "moe"


class Screen(NamedTuple):
    name: str
    target: str | Callable[[Any, SimpleNamespace], None]
    who: str = ALICE


# ---------------------------------------------------------------------------------------
# Screens reached by clicks. Each leaves the page showing the state named.


def wait_quiet(page) -> None:
    """HTMX fragments and lazy images settle before axe reads the page."""
    page.wait_for_load_state("networkidle")


def channel_page(page, w) -> None:
    page.goto(f"{w.url}/app/guilds/{w.guild}/channels/{w.general}/")
    page.wait_for_selector("[data-message] [data-tile].loaded")
    page.wait_for_selector("[data-message] a.reply-ref")
    # Voice, the timeout notice and live updates go through the gateway.
    page.wait_for_function("() => window.unitedGateway?.state === 'connected'")
    wait_quiet(page)


def message_actions(page, w) -> None:
    channel_page(page, w)
    page.locator("[data-message]", has_text="Hello from alice").first.hover()


def emoji_picker(page, w) -> None:
    channel_page(page, w)
    target = page.locator("[data-message]", has_text="Hello from alice").first
    target.hover()
    target.locator("[data-action=react]").click()
    page.wait_for_selector("[data-emoji-picker]:not([hidden])")


def report_dialog(page, w) -> None:
    """Carol reports Bob's reply from its menu."""
    channel_page(page, w)
    target = page.locator("[data-message]", has_text="great picture").first
    target.hover()
    target.locator("[data-action=report]").click()
    page.wait_for_selector("#report-dialog[open] [data-report-about]:not(:empty)")


def report_sent(page, w) -> None:
    page.check("#report-dialog label:has-text('Spam') input")
    page.click("[data-report-submit]")
    page.wait_for_selector("#report-dialog [data-report-sent]")


def timed_out(page, w) -> None:
    channel_page(page, w)
    page.wait_for_selector("[data-timeout-notice]:not([hidden])")


def member_card(page, w) -> None:
    member_list(page, w)
    page.click(f"[data-members] [data-member-card-open][data-user-id='{w.bob}']")
    page.wait_for_selector("[data-member-card-dialog][open] [data-role-toggle]")
    wait_quiet(page)


def member_card_ban(page, w) -> None:
    member_card(page, w)
    page.click("[data-member-card-dialog] summary:has-text('Ban')")
    page.wait_for_selector("#mc-ban-reason")


def modlog_verified(page, w) -> None:
    page.goto(f"{w.url}/app/guilds/{w.guild}/moderation/log/")
    page.click("[data-verify-chain]")
    page.wait_for_selector("#chain-result:not(:empty)")


def delete_channel_dialog(page, w) -> None:
    page.goto(f"{w.url}/app/guilds/{w.guild}/settings/channels/")
    page.click("[aria-label='Delete general']")
    page.wait_for_selector("#delete-channel[open]")


def new_webhook_url(page, w) -> None:
    page.goto(f"{w.url}/app/guilds/{w.guild}/settings/integrations/")
    page.fill("#webhook-name", "Deploys")
    page.click("[data-create-webhook] button[type=submit]")
    page.wait_for_selector("[data-webhook-url]")


def encrypt_form(page, w) -> None:
    page.goto(f"{w.url}/app/guilds/{w.guild}/settings/channels/")
    page.click("[aria-label='Edit general']")
    page.wait_for_selector("[data-encrypt-form] button:visible")


def mls_channel(page, w) -> None:
    page.goto(f"{w.url}/app/guilds/{w.guild}/channels/{w.vault}/")
    page.wait_for_selector("[data-mls-pane][data-mls-ready=true]", timeout=30000)
    wait_quiet(page)


def mls_members(page, w) -> None:
    mls_channel(page, w)
    page.click("[data-mls-members-open]")
    page.wait_for_selector("#mls-members-dialog[open] [data-mls-device]")


def mls_waiting(page, w) -> None:
    page.goto(f"{w.url}/app/guilds/{w.guild}/channels/{w.vault}/")
    page.wait_for_selector("[data-mls-pane][data-mls-ready=waiting]", timeout=30000)
    wait_quiet(page)


def replying(page, w) -> None:
    channel_page(page, w)
    target = page.locator("[data-message]", has_text="Hello from alice").first
    target.hover()
    target.locator("[data-action=reply]").click()
    page.fill("#composer-input", "a reply being written")


def editing(page, w) -> None:
    channel_page(page, w)
    # The reply screen before left a draft in this channel (kept per channel, by design):
    # Up-arrow edits the last message only from an empty composer.
    page.fill("#composer-input", "")
    page.focus("#composer-input")
    page.keyboard.press("ArrowUp")
    page.wait_for_selector(".edit-form textarea")


def thread_panel(page, w) -> None:
    """The thread beside the channel, opened from its link under the starter message."""
    channel_page(page, w)
    page.click(f"[data-thread-link='{w.thread}']")
    page.wait_for_selector("[data-thread-pane] [data-message]")
    page.wait_for_function("() => window.unitedGateway?.state === 'connected'")
    wait_quiet(page)


def create_thread(page, w) -> None:
    channel_page(page, w)
    target = page.locator("[data-message]", has_text="holiday pictures").first
    target.hover()
    target.locator("[data-action=thread]").click()
    page.wait_for_selector("#thread-dialog[open]")


def dialog(name: str, opener: str, ready: str) -> Callable[[Any, SimpleNamespace], None]:
    def open_it(page, w) -> None:
        channel_page(page, w)
        page.click(opener)
        page.wait_for_selector(ready)
        wait_quiet(page)

    open_it.__name__ = f"open_{name}"
    return open_it


def switcher(page, w) -> None:
    channel_page(page, w)
    page.keyboard.press("Control+k")
    page.wait_for_selector("[data-switcher-results] li")


def search_panel(page, w) -> None:
    channel_page(page, w)
    page.fill("#search-input", "hello")
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-search-panel]:not([hidden]) .search-hit-card")


def search_hints(page, w) -> None:
    channel_page(page, w)
    page.click("#search-input")
    page.wait_for_selector("#search-suggest li")


def lightbox(page, w) -> None:
    channel_page(page, w)
    page.click("[data-tile]")
    page.wait_for_selector("[data-lightbox][open]")
    page.wait_for_function("() => document.querySelector('[data-lightbox-img]').naturalWidth > 0")


def member_list(page, w) -> None:
    channel_page(page, w)
    members = page.locator("#member-list")
    if not members.is_visible():
        page.click("[data-toggle-panel=members]")
    page.wait_for_selector("#member-list li")


def phone(page, w) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    channel_page(page, w)


def phone_channels(page, w) -> None:
    phone(page, w)
    page.click("[aria-label='Show channels']")


def voice_panel(page, w) -> None:
    channel_page(page, w)
    page.click("[data-voice-join]")
    page.wait_for_selector("[data-voice-status]:text('Voice connected')", timeout=30_000)
    page.click("[data-voice-settings]")
    page.wait_for_selector("[data-voice-settings-box]:not([hidden])")


def video_grid(page, w) -> None:
    """The video stage with this member's camera on (its own tile, in the grid)."""
    channel_page(page, w)
    page.click("[data-voice-join]")
    page.wait_for_selector("[data-voice-status]:text('Voice connected')", timeout=30_000)
    page.click("[data-voice-camera]")
    page.wait_for_selector("[data-video-stage]:not([hidden]) [data-video-grid] [data-video-tile]")


def video_stage(page, w) -> None:
    """A screen share on the stage, the camera beside it."""
    video_grid(page, w)
    page.click("[data-voice-screen]")
    page.wait_for_selector("[data-video-main] [data-video-tile][data-source=screen]")


def leave_voice(page) -> None:
    if page.locator("[data-voice-leave]").is_visible():
        page.click("[data-voice-leave]")


def new_dm(page, w) -> None:
    page.goto(f"{w.url}/app/dms/")
    page.wait_for_selector("[data-e2e-home][data-e2e-ready=true]")
    page.click("[data-new-dm-open]")
    page.wait_for_selector("#new-dm-dialog[open]")


def dm(page, w) -> None:
    """Alice opens a DM with bob from "New message"; bob (the Python E2E client) writes two
    messages, a reply, a reaction and one her browser cannot decrypt, so the conversation shows
    grouping, a quote, a reaction chip and the loud undecryptable state with its actions."""
    from united_client.e2e.client import E2EClient, httpx_transport

    new_dm(page, w)
    page.click(f"[data-new-dm-person='{w.bob}']")
    page.wait_for_url(re.compile(r".*/app/dms/\d+/$"))
    w.dm_url = page.url
    channel = page.url.rstrip("/").rsplit("/", 1)[1]
    page.wait_for_selector("[data-e2e-pane][data-e2e-ready=true]")
    alice_id = page.get_attribute("[data-e2e-pane]", "data-user-id")
    token = Api(w.url, "bob").http.headers["Authorization"].split()[1]
    bob = E2EClient(httpx_transport(w.url, token), w.bob)
    bob.register("python")
    say = [
        {"type": "message", "id": "m1", "content": "Hi alice, are you around?"},
        {"type": "message", "id": "m2", "content": "I have the notes from yesterday."},
        {"type": "message", "id": "m3", "content": "Here they are", "reply_to": "m1"},
        {"type": "reaction", "target": "m2", "emoji": "🎉", "on": True},
    ]
    for payload in say:
        bob.send(channel, [alice_id], payload)
    # A copy her device cannot open (its ciphertext altered on the way).
    [device] = bob.device.pins[alice_id].devices
    env = bob.device.encrypt(channel, [(alice_id, device)], say[0] | {"id": "m4"})
    raw = bytearray(base64.b64decode(env["copies"][0]["ciphertext"]))
    raw[3] ^= 0x40
    env["copies"][0]["ciphertext"] = base64.b64encode(bytes(raw)).decode()
    bob._call("POST", f"/api/v1/channels/{channel}/envelopes", env)
    page.wait_for_selector("[data-undecryptable] [data-e2e-fix]")
    page.wait_for_selector("[data-e2e-reaction]")
    wait_quiet(page)


def dm_list_previews(page, w) -> None:
    page.goto(f"{w.url}/app/dms/")
    page.wait_for_selector("[data-e2e-home][data-e2e-ready=true]")
    page.wait_for_selector("[data-dm-item] [data-dm-preview]:text('Encrypted message')")


def phone_dm(page, w) -> None:
    """The conversation at phone width."""
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(w.dm_url)
    page.wait_for_selector("[data-e2e-pane][data-e2e-ready=true]")


def phone_dm_list(page, w) -> None:
    """The conversation list slid over it."""
    phone_dm(page, w)
    page.click("[aria-label='Show conversations']")
    page.wait_for_selector("[data-dm-list]:visible")


def dm_replying(page, w) -> None:
    page.goto(w.dm_url)
    page.wait_for_selector("[data-e2e-pane][data-e2e-ready=true]")
    target = page.locator("[data-message]", has_text="notes from yesterday")
    target.hover()
    target.locator("[data-e2e-action=reply]").click()
    page.wait_for_selector("[data-reply-banner]:not([hidden])")


def dm_picker(page, w) -> None:
    page.goto(w.dm_url)
    page.wait_for_selector("[data-e2e-pane][data-e2e-ready=true]")
    target = page.locator("[data-message]", has_text="notes from yesterday")
    target.hover()
    target.locator("[data-e2e-action=react]").click()
    page.wait_for_selector("[data-e2e-picker]:not([hidden])")


def dm_dialog(name: str, opener: str) -> Callable[[Any, SimpleNamespace], None]:
    def open_it(page, w) -> None:
        page.goto(w.dm_url)
        wait_quiet(page)
        page.click(opener)
        page.wait_for_selector(f"#{name}[open]")

    return open_it


def dm_waiting(page, w) -> None:
    """Bob's only device (the Python client of the "dm" screen) is removed through the API,
    which cannot sign his device list: alice's reply waits on her browser, quote and all."""
    bob = Api(w.url, "bob")
    for device in bob("GET", "/users/@me/devices"):
        bob("DELETE", f"/users/@me/devices/{device['id']}", expect=204)
    page.goto(w.dm_url)
    page.wait_for_selector("[data-e2e-pane][data-e2e-ready=true]")
    target = page.locator("[data-message]", has_text="notes from yesterday")
    target.hover()
    target.locator("[data-e2e-action=reply]").click()
    page.fill("#composer-input", "see you on the porch")
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-e2e-pending=waiting]")
    page.wait_for_selector("[data-e2e-waiting]:not([hidden])")
    wait_quiet(page)


def dm_approval(page, w) -> None:
    """A second device of alice's (an API client) asks her listed browser for approval."""
    from united_client.e2e.client import E2EClient, httpx_transport

    if not getattr(w, "alice_laptop", None):
        token = Api(w.url, ALICE).http.headers["Authorization"].split()[1]
        w.alice_laptop = E2EClient(httpx_transport(w.url, token), w.alice).register("laptop")
    page.goto(w.dm_url)
    page.wait_for_selector(f"[data-approval-request='{w.alice_laptop}'] [data-approval-code]")
    wait_quiet(page)


def register_page(page, w) -> None:
    page.goto(f"{w.url}/register/?next=/app/")
    page.wait_for_selector("[data-recovery-grid] li")


def fed_join(page, w) -> None:
    page.goto(f"{w.url}/app/federation/join/?invite={quote(w.remote_invite, safe='')}")
    page.wait_for_selector("[data-preview]")


JOIN_POLL = re.compile(r".*/app/federation/join/\d+/$")


def fed_joining(page, w) -> None:
    """The page right after Join: the status line the page then polls (the poll is held back
    so the host's answer cannot navigate away while axe reads the page)."""
    fed_join(page, w)
    page.route(JOIN_POLL, lambda route: route.abort())
    page.click("[data-join]")
    page.wait_for_selector("[data-join-state]")


def fed_guild(page, w) -> None:
    """The replica of the remote guild once the host let Alice in."""
    page.unroute(JOIN_POLL)  # the page's next poll follows the host's answer into the guild
    page.wait_for_url(re.compile(r".*/app/guilds/\d+/channels/\d+/$"), timeout=60_000)
    page.wait_for_selector("#channel-title")
    wait_quiet(page)


def developer_created(page, w) -> None:
    page.goto(f"{w.url}/settings/developer/")
    page.fill("#id_app_name", "Palette Bot")
    page.click("form[action$='/settings/developer/new/'] button[type=submit]")
    page.wait_for_selector("[data-bot-token]")


def developer_token_reset(page, w) -> None:
    page.goto(f"{w.url}/settings/developer/")
    page.locator("form[action$='/reset-token/'] button[type=submit]").first.click()
    page.wait_for_selector("[data-bot-token]")


def bot_authorize(page, w) -> None:
    """The install link of the world's application, from its Developer page: the consent
    page with the guild picker and the permissions in plain words."""
    page.goto(f"{w.url}/settings/developer/")
    link = page.locator("[data-install-link]").first.input_value()
    page.goto(link)
    page.wait_for_selector("[data-permission-words]")


def slash_picker(page, w) -> None:
    """The composer after "/": the listbox of the guild's apps' commands (issue 27)."""
    channel_page(page, w)
    composer = page.locator("[data-composer-input]").first
    composer.fill("")  # an earlier screen's draft may be there
    composer.type("/")
    page.wait_for_selector("[role=listbox][aria-label=Commands] [role=option]")


def slash_options(page, w) -> None:
    """A picked command with a field per option."""
    slash_picker(page, w)
    page.locator("[role=listbox][aria-label=Commands] [role=option]", has_text="/palette").click()
    page.wait_for_selector("[data-command-form] select")


def message_apps(page, w) -> None:
    """A message's Apps menu: the guild's MESSAGE commands."""
    channel_page(page, w)
    target = page.locator("[data-message]", has_text="Hello from alice").first
    target.hover()
    target.locator("[data-action=apps]").click()
    page.wait_for_selector("[role=menu][aria-label=Apps] [role=menuitem]")


def ephemeral_answer(page, w) -> None:
    """An answer only alice sees, drawn in the channel with its "Only you can see this"."""
    channel_page(page, w)
    page.evaluate(
        "async (id) => { const r = await fetch(`/interactions/${id}/ephemeral`);"
        " document.querySelector('[data-messages]')"
        ".insertAdjacentHTML('beforeend', await r.text()); }",
        w.ephemeral,
    )
    page.wait_for_selector("[data-ephemeral]")


def security_totp(page, w) -> None:
    page.goto(f"{w.url}/settings/security/")
    page.fill("#id_totp_password", PASSWORD)
    page.click("form[action$='/settings/security/totp/'] button[type=submit]")
    page.wait_for_selector("#totp-title")


def backup_codes(page, w) -> None:
    from django_otp.oath import totp

    secret = page.locator("main code").inner_text().strip()
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    page.fill("#id_code", str(totp(key)).zfill(6))
    page.click("button:has-text('Turn on')")
    page.wait_for_selector("#codes-title")
    w.backup_code = page.locator("main li code").first.inner_text().strip()


def login_second_factor(page, w) -> None:
    page.context.clear_cookies()
    sign_in(page, w.url, CAROL)
    page.wait_for_url(re.compile(r".*/login/2fa/$"))


def deletion_scheduled(page, w) -> None:
    page.fill("input[name=code]", w.backup_code)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/app/.*"))
    page.goto(f"{w.url}/settings/account/")
    page.fill("#id_del_password", PASSWORD)
    page.click("button:has-text('Delete my account')")
    page.wait_for_selector("main h1")


def notifications_page(page, w) -> None:
    page.goto(f"{w.url}/settings/notifications/")
    # push.js has looked at this browser (no permission here: notifications are off).
    page.wait_for_selector("[data-push-status]:not(:has-text('Checking'))")
    page.wait_for_selector("[data-push-enable]:visible")


def channel_muted(page, w) -> None:
    page.goto(f"{w.url}/app/guilds/{w.guild}/channels/{w.general}/")
    page.click("[data-channel-notifications]")
    page.check("input[name=mute][value='8h']")
    page.click("button:has-text('Save')")
    page.wait_for_selector("[data-muted-state]")


def dm_notifications(page, w) -> None:
    dm_id = re.search(r"/app/dms/(\d+)/", w.dm_url).group(1)
    page.goto(f"{w.url}/app/channels/{dm_id}/notifications/")
    page.wait_for_selector("main h1")


G = "/app/guilds/{guild}"
SETTINGS = G + "/settings"

SCREENS: list[Screen] = [
    # Signed out.
    Screen("landing", "/", VISITOR),
    Screen("login", "/login/", VISITOR),
    Screen("register", register_page, VISITOR),
    Screen("recover", "/recover/", VISITOR),
    Screen("invite-landing", "/invite/{invite}", VISITOR),
    Screen("directory", "/directory/", VISITOR),
    Screen("admin-login", "/admin/login/", VISITOR),
    Screen("offline", "/offline/", VISITOR),
    # The chat client, as the guild's owner.
    Screen("start", "/app/start/"),
    Screen("channel", channel_page),
    Screen("message-actions", message_actions),
    Screen("emoji-picker", emoji_picker),
    Screen("replying", replying),
    Screen("editing", editing),
    Screen("pins", dialog("pins", "[aria-label='Pinned messages']", "#pins-body .pin")),
    Screen("invite", dialog("invite", "[aria-label='Invite people']", "[data-invite-link]")),
    Screen("thread-panel", thread_panel),
    Screen(
        "threads-list", dialog("threads", "[aria-label='Threads']", "#threads-body .thread-row")
    ),
    Screen("create-thread", create_thread),
    Screen(
        "create-channel",
        dialog("create-channel", "[data-dialog-open=create-channel]", "#create-channel[open]"),
    ),
    Screen(
        "create-category",
        dialog("create-category", "[data-dialog-open=create-category]", "#create-category[open]"),
    ),
    Screen("member-card", member_card),
    Screen("member-card-ban", member_card_ban),
    Screen("switcher", switcher),
    Screen("search-hints", search_hints),
    Screen("search", search_panel),
    Screen("lightbox", lightbox),
    Screen("member-list", member_list),
    Screen("voice-panel", voice_panel),
    Screen("video-grid", video_grid),
    Screen("video-stage", video_stage),
    Screen("empty-guild", "/app/guilds/{empty_guild}/"),
    Screen("dm-list", "/app/dms/"),
    Screen("dm-new", new_dm),
    Screen("dm", dm),
    Screen("dm-list-previews", dm_list_previews),
    Screen("dm-replying", dm_replying),
    Screen("dm-picker", dm_picker),
    Screen("phone-dm", phone_dm),
    Screen("phone-dm-list", phone_dm_list),
    Screen("dm-safety", dm_dialog("safety-dialog", "[data-safety-open]")),
    Screen("dm-backup", dm_dialog("backup-dialog", "[data-backup-open]")),
    Screen("dm-notifications", dm_notifications),
    Screen("guild-notifications", G + "/notifications/"),
    Screen("channel-notifications", "/app/channels/{general}/notifications/"),
    Screen("channel-notifications-muted", channel_muted),
    Screen("notifications", notifications_page),
    Screen("dm-waiting", dm_waiting),
    Screen("dm-approval", dm_approval),
    Screen("settings-overview", SETTINGS + "/overview/"),
    Screen("settings-roles", SETTINGS + "/roles/"),
    Screen("settings-role", SETTINGS + "/roles/{role}/"),
    Screen("settings-channels", SETTINGS + "/channels/"),
    Screen("settings-channel", SETTINGS + "/channels/{general}/"),
    Screen("settings-overwrites-role", SETTINGS + "/channels/{general}/?target=role:{role}"),
    Screen("settings-overwrites-member", SETTINGS + "/channels/{general}/?target=member:{bob}"),
    Screen("settings-delete-channel", delete_channel_dialog),
    Screen("settings-encrypt-channel", encrypt_form),
    Screen("mls-channel", mls_channel),
    Screen("mls-members", mls_members),
    Screen("mls-waiting", mls_waiting, CAROL),
    Screen("settings-view-as", SETTINGS + "/view-as/?role={role}"),
    Screen("settings-invites", SETTINGS + "/invites/"),
    Screen("settings-integrations", SETTINGS + "/integrations/"),
    Screen("settings-integrations-new-url", new_webhook_url),
    Screen("moderation-queue", "/guilds/{guild}/moderation/"),
    Screen("moderation-case", "/moderation/cases/{case}/"),
    Screen("moderation-member", "/guilds/{guild}/moderation/members/{bob}/"),
    Screen("moderation-log", "/guilds/{guild}/moderation/log/"),
    # The same, inside the chat client.
    Screen("client-mod-queue", G + "/moderation/"),
    Screen("client-mod-case", G + "/moderation/cases/{case}/"),
    Screen("client-mod-log", G + "/moderation/log/"),
    Screen("client-mod-verified", modlog_verified),
    Screen("security", "/settings/security/"),
    Screen("account", "/settings/account/"),
    Screen("account-aliases", "/settings/account/aliases/"),
    Screen("account-move", "/settings/account/move/"),
    Screen("profile", "/users/alice", VISITOR),
    Screen("developer", "/settings/developer/"),
    Screen("developer-created", developer_created),
    Screen("developer-token-reset", developer_token_reset),
    Screen("bot-authorize", bot_authorize),
    Screen("slash-picker", slash_picker),
    Screen("slash-options", slash_options),
    Screen("message-apps", message_apps),
    Screen("ephemeral-answer", ephemeral_answer),
    Screen("federation-join", "/app/federation/join/"),
    Screen("federation-preview", fed_join),
    Screen("federation-joining", fed_joining),
    Screen("federation-guild", fed_guild),
    Screen("phone", phone),
    Screen("phone-channels", phone_channels),
    # A member: refused moderation, then two-factor authentication from start to end.
    Screen("moderation-refused", "/guilds/{guild}/moderation/", CAROL),
    Screen("client-mod-refused", G + "/moderation/", CAROL),
    Screen("report-dialog", report_dialog, CAROL),
    Screen("report-sent", report_sent, CAROL),
    Screen("my-reports", "/app/reports/", CAROL),
    Screen("totp-setup", security_totp, CAROL),
    Screen("backup-codes", backup_codes, CAROL),
    Screen("login-2fa", login_second_factor, CAROL),
    Screen("deletion-scheduled", deletion_scheduled, CAROL),
    # Sanctioned members: the ban notice a link into the guild shows, the timed-out composer.
    Screen("ban-notice", G + "/channels/{general}/", MALLORY),
    Screen("timed-out", timed_out, TIM),
    # A member who moved away: what his old account shows him, and others.
    Screen("moved-start", "/app/start/", MOE),
    Screen("moved-account", "/settings/account/move/", MOE),
    Screen("moved-profile", "/users/moe", VISITOR),
    # The operator's admin pages besides the changelists and change pages (admin_screens).
    Screen("admin-index", "/admin/", OPERATOR),
    Screen("admin-storage-usage", "/admin/media/blob/usage/", OPERATOR),
    Screen("admin-federation", "/admin/federation/remotenode/overview/", OPERATOR),
    Screen("admin-jobs", "/admin/jobs/job/overview/", OPERATOR),
    Screen("admin-set-password", "/admin/accounts/user/{bob}/password/", OPERATOR),
]


# URL names (namespace:name) that render no screen of their own, by reason. Everything under
# /api/ is JSON and is left out before this list is read.
SKIP: dict[str, str] = {
    # Probes and the API's machine-readable schema.
    "healthz": "JSON health probe",
    "readyz": "JSON readiness probe",
    # Form posts that answer with a redirect (or a JSON body for the passkey script).
    "logout": "POST, redirects to the login page",
    "login-passkey": "POST from accounts-passkeys.js, answers JSON",
    "security-password": "POST, redirects to the security page",
    "security-totp-disable": "POST, redirects (or re-renders the security page)",
    "security-backup-codes": "POST, renders backup_codes.html, checked as backup-codes",
    "security-revoke-session": "POST, redirects to the security page",
    "security-revoke-device": "POST, redirects to the security page",
    "security-cancel-rotation": "POST, redirects to the security page",
    "security-passkey": "POST, redirects to the security page",
    "security-recovery": "POST, redirects to the security page",
    "account-export": "a JSON download",
    "developer-intents": "POST, redirects to the Developer page",
    "developer-interactions": "POST, redirects to the Developer page",
    "interaction-commands": "JSON for the slash-command picker (screen slash-picker)",
    "interaction-invoke": "JSON POST: invoking an application",
    "interaction-ephemeral": "a fragment the page inserts (screen ephemeral-answer)",
    "web-home": "redirects to the first guild or the start page",
    "web-join": "POST, redirects into the guild joined",
    "web-create": "POST, redirects into the guild created",
    "web-accept-invite": "POST, redirects into the guild",
    "web-switcher": "JSON for the quick switcher",
    "web-settings": "redirects to the overview",
    "web-create-channel": "POST from the create-channel dialog: errors swapped into it",
    "web-create-invite": "POST from the invite dialog: its link swapped into it",
    "web-send": "POST from the composer",
    "web-edit": "POST from the inline editor",
    "web-delete": "POST from the message menu",
    "web-react": "POST from the reaction picker",
    "web-pin": "POST from the message menu",
    "web-typing": "POST, no body",
    "web-read": "POST, no body",
    "web-fed-retry": "POST, redirects to the channel",
    "web-start-thread": "POST from the create-thread dialog: errors shown in it",
    "web-follow-thread": "POST from the thread panel's Follow button, answers the button",
    "web-threads": "the thread list, fetched into the threads-list screen's dialog",
    "notifications-remove-device": "POST, redirects to the notifications page",
    "manifest": "the web app manifest (JSON)",
    "service-worker": "JavaScript",
    "web-dm-leave": "POST from the group DM's Leave button, redirects to the DM list",
    "web-dm-remove": "POST from a group DM member's Remove button, redirects to the group",
    # Fragments swapped into a screen that is checked with them in place.
    "web-rail": "the rail, re-fetched into every client screen when a guild changes",
    "web-channel-list": "the channel list, re-fetched into the channel screen on changes",
    "web-members": "the member list, re-fetched into the channel screen on changes",
    "web-older": "older messages, fetched into the channel screen while scrolling up",
    "web-message": "one message, fetched into the channel screen by realtime events",
    "web-fed-join-state": "the join status line, rendered in federation-joining, then polled",
    # Federation protocol documents for peers (ActivityPub, WebFinger, NodeInfo): JSON/XML.
    "federation-manifest": "JSON",
    "webfinger": "JSON",
    "nodeinfo-discovery": "JSON",
    "host-meta": "XML",
    "nodeinfo": "JSON",
    "ap-node-actor": "ActivityPub JSON",
    "ap-node-inbox": "ActivityPub inbox (POST)",
    "ap-shared-inbox": "ActivityPub inbox (POST)",
    "ap-activity": "ActivityPub JSON",
    "ap-user": "ActivityPub JSON; a browser gets the profile page (screens profile, moved-profile)",
    "ap-user-inbox": "ActivityPub inbox (POST)",
    "ap-user-outbox": "ActivityPub JSON",
    "ap-user-followers": "ActivityPub JSON",
    "ap-user-following": "ActivityPub JSON",
    "ap-user-keys": "JSON",
    "ap-user-device-list": "JSON",
    "ap-group": "ActivityPub JSON",
    "ap-group-inbox": "ActivityPub inbox (POST)",
    "ap-group-state": "JSON",
    "ap-group-history": "JSON",
    "ap-group-collection": "ActivityPub JSON",
    "ap-news": "ActivityPub JSON",
    "ap-news-inbox": "ActivityPub inbox (POST)",
    "ap-news-collection": "ActivityPub JSON",
    "ap-news-note": "ActivityPub JSON",
    "ap-news-media": "the file's bytes",
    "voice-fed-token": "JSON",
    "voice-fed-signal": "JSON",
    # Django's stock admin pages an operator does not need to run the node; the changelists,
    # the change pages and the index are checked.
    "admin:logout": "POST, redirects",
    "admin:password_change": "Django's stock form; accounts change passwords in /settings/",
    "admin:password_change_done": "follows the above",
    "admin:jsi18n": "JavaScript",
    "admin:autocomplete": "JSON",
    "admin:view_on_site": "redirects to the object",
    "admin:app_list": "the index's template filtered to one app",
    # A member's authenticator secret is not the operator's to read (OTP_ADMIN_HIDE_SENSITIVE_DATA).
    "admin:otp_totp_totpdevice_qrcode": "403: a member's secret as a QR code",
    "admin:otp_totp_totpdevice_config": "403: a member's secret as a setup page",
    "admin:federation_block": "POST from the Federation page, redirects back to it",
    "admin:federation_unblock": "POST from the Federation page, redirects back to it",
    "admin:federation_retry": "POST from the Federation page, redirects back to it",
    "admin:jobs_retry": "POST from the Jobs page, redirects back to it",
    "admin:jobs_retry_dead": "POST from the Jobs page, redirects back to it",
}
# Per registered model: only the changelist and the change page are screens an operator uses
# daily; add, delete (a confirmation) and history are Django's stock templates.
ADMIN_STOCK_SUFFIXES = ("_add", "_delete", "_history")


# ---------------------------------------------------------------------------------------
# The world.


class Api:
    """An account's API session on a node, signed in with its password."""

    def __init__(self, base: str, username: str) -> None:
        self.http = httpx.Client(base_url=base, timeout=30)
        r = self.http.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        self.http.headers["Authorization"] = f"Bearer {r.json()['access_token']}"

    def __call__(self, method: str, path: str, expect: int = 200, **kwargs: Any) -> Any:
        r = self.http.request(method, "/api/v1" + path, **kwargs)
        assert r.status_code == expect, (method, path, r.status_code, r.text)
        return r.json() if r.content else None


def png(size: tuple[int, int]) -> bytes:
    from PIL import Image

    image = Image.linear_gradient("L").convert("RGB").resize(size)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def create_users(node, *names: str, superuser: str | None = None) -> None:
    code = "from accounts.models import User\n"
    for name in names:
        code += f"User.objects.create_user({name!r}, password={PASSWORD!r})\n"
    if superuser:
        code += f"User.objects.create_superuser({superuser!r}, password={PASSWORD!r})\n"
    node.python(code)


def text_channel(api: Api, guild: str, name: str) -> str:
    for channel in api("GET", f"/guilds/{guild}/channels"):
        if channel["name"] == name and channel["type"] == 0:
            return channel["id"]
    raise AssertionError(f"no #{name}")


def remote_guild(b) -> str:
    """Bea's guild on node b, and an invite link to it."""
    create_users(b, "bea")
    bea = Api(b.url, "bea")
    harbour = bea("POST", "/guilds", 201, json={"name": "Harbour"})["id"]
    general = text_channel(bea, harbour, "general")
    code = bea("POST", f"/channels/{general}/invites", 201, json={"max_age": 0})["code"]
    return f"{b.url}/invite/{code}"


def build_world(a, b) -> SimpleNamespace:
    with ThreadPoolExecutor(1) as pool:
        remote = pool.submit(remote_guild, b)
        create_users(a, ALICE, "bob", CAROL, MALLORY, TIM, MOE, superuser=OPERATOR)
        alice, bob, carol, mallory, tim = (
            Api(a.url, n) for n in (ALICE, "bob", CAROL, MALLORY, TIM)
        )
        guild = alice("POST", "/guilds", 201, json={"name": "Pixel Club"})["id"]
        alice(
            "PATCH",
            f"/guilds/{guild}",
            json={
                "description": "Pixel art, palettes and the odd sprite sheet.",
                "discoverable": True,
                "tags": ["art", "games"],
            },
        )
        general = text_channel(alice, guild, "general")
        # An end-to-end encrypted channel (MLS): its page, the lock and the group's states.
        vault = alice("POST", f"/guilds/{guild}/channels", 201, json={"name": "vault", "type": 0})[
            "id"
        ]
        alice("PUT", f"/channels/{vault}/mls", 201, json={})
        invite = alice("POST", f"/channels/{general}/invites", 201, json={"max_age": 0})["code"]
        for member in (bob, carol, mallory, tim):
            member("POST", f"/invites/{invite}")
        role = alice(
            "POST", f"/guilds/{guild}/roles", 201, json={"name": "Moderators", "hoist": True}
        )
        me = {
            n: api("GET", "/users/@me")["id"]
            for n, api in ((ALICE, alice), ("bob", bob), ("mallory", mallory), ("tim", tim))
        }
        alice("PUT", f"/guilds/{guild}/members/{me['bob']}/roles/{role['id']}", 204)

        hello = alice("POST", f"/channels/{general}/messages", json={"content": "Hello from alice"})
        alice("PUT", f"/channels/{general}/pins/{hello['id']}", 204)
        upload = alice(
            "POST", "/upload", 201, files={"file": ("sunset.png", png((640, 400)), "image/png")}
        )
        alice(
            "POST",
            f"/channels/{general}/messages",
            json={"content": "holiday pictures", "attachments": [upload["id"]]},
        )
        reply = bob(
            "POST",
            f"/channels/{general}/messages",
            json={
                "content": "hi @alice, great picture",
                "message_reference": {"message_id": hello["id"]},
            },
        )
        alice("PUT", f"/channels/{general}/messages/{reply['id']}/reactions/{quote('🎉')}/@me", 204)
        # A thread on alice's first message: bob started it, alice answered, bob's newer
        # reply is unread for her (the link under the message and the list show it).
        thread = bob(
            "POST",
            f"/channels/{general}/messages/{hello['id']}/threads",
            201,
            json={"name": "Welcome thread"},
        )["id"]
        bob("POST", f"/channels/{thread}/messages", json={"content": "Glad to be here"})
        alice("POST", f"/channels/{thread}/messages", json={"content": "Welcome, make a sprite!"})
        bob("POST", f"/channels/{thread}/messages", json={"content": "On it, @alice"})
        spam = mallory(
            "POST", f"/channels/{general}/messages", json={"content": "cheap watches, click here"}
        )
        case = carol(
            "POST",
            "/reports",
            201,
            json={
                "type": "message",
                "category": "spam",
                "note": "Posted the same link everywhere.",
                "channel_id": general,
                "message_id": spam["id"],
            },
        )["case_id"]
        alice(
            "POST",
            f"/report-cases/{case}/actions",
            201,
            json={"action": "timeout", "duration_seconds": 600, "reason": "Spam links"},
        )
        alice(
            "PUT",
            f"/guilds/{guild}/bans/{me['mallory']}",
            204,
            json={"reason": "Spam after a timeout"},
        )
        until = datetime.now(UTC) + timedelta(hours=2)
        alice(
            "PATCH",
            f"/guilds/{guild}/members/{me['tim']}",
            json={"communication_disabled_until": until.isoformat()},
        )
        arcade = alice("POST", "/guilds", 201, json={"name": "Old Arcade"})["id"]
        doomed = alice(
            "POST", "/upload", 201, files={"file": ("leak.png", png((64, 64)), "image/png")}
        )
        operator_rows(a, arcade, doomed["id"])
        # An application whose bot is in the guild: the member list shows it marked as a bot,
        # the Developer page has a row, the admin has a change page for it.
        a.python(
            "from accounts.models import User\nfrom bots import services\n"
            f"alice = User.objects.get(username={ALICE!r})\n"
            "app, _ = services.do_create_application(alice, 'Pixel Helper')\n"
            f"services.check_install(alice, app.id, {guild}, 3072)"
        )
        # A webhook in general and the embed it posted: the channel screens draw the embed
        # (colour bar, fields, a picture shown as a link), Integrations lists the webhook.
        hook = alice.http.post(
            f"/api/v10/channels/{general}/webhooks", json={"name": "Build status"}
        ).json()
        embed = {
            "title": "Nightly sprite build",
            "url": "https://ci.example.org/runs/7",
            "description": "All **42** sheets packed.",
            "color": 0x23A55A,
            "fields": [
                {"name": "Duration", "value": "3 min", "inline": True},
                {"name": "Size", "value": "1.2 MB", "inline": True},
            ],
            "footer": {"text": "ci.example.org"},
            "timestamp": "2026-12-07T06:00:00+00:00",
            "image": {"url": "https://ci.example.org/preview.png"},
        }
        posted = alice.http.post(
            f"/api/webhooks/{hook['id']}/{hook['token']}", json={"embeds": [embed]}
        )
        assert posted.status_code == 204, posted.text

        # Its commands, an answer with buttons and a menu under it, and an ephemeral one.
        ephemeral = a.python(f"GUILD, CHANNEL = {guild}, {general}\n" + INTERACTION_ROWS).strip()
        empty = alice("POST", "/guilds", 201, json={"name": "Empty Hall"})["id"]
        for channel in alice("GET", f"/guilds/{empty}/channels"):
            alice("DELETE", f"/channels/{channel['id']}")
        # Moe moved to node b (an alias there, then the move here): his start page, his move
        # page and his profile say where he went.
        create_users(b, MOE)
        old, new = (f"{MOE}@{urlsplit(n.url).netloc}" for n in (a, b))
        Api(b.url, MOE)("POST", "/users/@me/aliases", json={"handle": old})
        Api(a.url, MOE)("POST", "/users/@me/move", json={"handle": new, "password": PASSWORD})
        return SimpleNamespace(
            url=a.url,
            guild=guild,
            general=general,
            vault=vault,
            invite=invite,
            role=role["id"],
            alice=me[ALICE],
            bob=me["bob"],
            thread=thread,
            case=case,
            empty_guild=empty,
            remote_invite=remote.result(),
            ephemeral=ephemeral,
        )


INTERACTION_ROWS = """
from accounts.models import User
from bots import commands, interactions
from bots.models import Application
alice = User.objects.get(username="alice")
app = Application.objects.get(name="Pixel Helper")
rows = commands.check_overwrite_commands(app, GUILD, [
    {"name": "palette", "description": "Show a palette", "options": [
        {"type": 3, "name": "theme", "description": "Which palette", "required": True,
         "choices": [{"name": "Sunset", "value": "sunset"}, {"name": "Forest", "value": "forest"}]},
        {"type": 4, "name": "size", "description": "How many colours",
         "min_value": 2, "max_value": 16},
        {"type": 5, "name": "public", "description": "Show everyone"},
    ]},
    {"name": "Save sprite", "type": 3},
    {"name": "Gift a palette", "type": 2},
])
def ask():
    return interactions.check_invoke_command(alice, {"type": 2, "channel_id": CHANNEL,
        "command_id": rows[0].id, "options": [{"name": "theme", "type": 3, "value": "sunset"}]})
shown, token = ask()
interactions.check_callback(shown.id, token, {"type": 4, "data": {
    "content": "The Sunset palette: #ff7e5f #feb47b",
    "components": [
        {"type": 1, "components": [
            {"type": 2, "style": 1, "label": "Next", "custom_id": "next"},
            {"type": 2, "style": 2, "label": "Copy", "custom_id": "copy"},
            {"type": 2, "style": 3, "label": "Save", "custom_id": "save"},
            {"type": 2, "style": 4, "label": "Delete", "custom_id": "delete"},
            {"type": 2, "style": 5, "label": "Palette docs",
             "url": "https://example.org/palettes"},
        ]},
        {"type": 1, "components": [
            {"type": 2, "style": 2, "label": "Sold out", "custom_id": "sold",
             "disabled": True},
        ]},
        {"type": 1, "components": [{"type": 3, "custom_id": "theme",
            "placeholder": "Another palette", "options": [
                {"label": "Forest", "value": "forest"}, {"label": "Ocean", "value": "ocean"}]}]},
    ]}})
private, token = ask()
interactions.check_callback(private.id, token, {"type": 4, "data": {
    "content": "Saved to your sprites.", "flags": 64}})
print(private.id)
"""


OPERATOR_ROWS = """
from django.contrib.auth.models import Group
from accounts.models import RegistrationInvite, User
from federation.inbox import Rejected, record_rejection
from guilds.models import Guild
from media.models import Attachment
from media.services import do_delete_blob_everywhere
from moderation.services.operators import do_suspend_guild
oscar = User.objects.get(username="oscar")
Group.objects.create(name="Helpers")
RegistrationInvite.objects.create(code="WELCOME-ART-2026", note="for the art school", max_uses=5)
do_suspend_guild(oscar, Guild.objects.get(id=GUILD), reason="Abandoned, full of spam")
blob = Attachment.objects.get(id=UPLOAD).blob
do_delete_blob_everywhere(blob, actor=oscar, reason="Leaked personal data")
record_rejection(
    "/inbox",
    Rejected(401, "bad_signature", "the signature did not verify", domain="spam.invalid"),
)
"""


def operator_rows(node, guild: str, upload: str) -> None:
    """What an operator's work leaves behind (a suspended guild, a deleted file, a refused
    inbox request, an invite code, a group), so that those admin tables have a change page."""
    node.python(f"GUILD, UPLOAD = {guild}, {upload}\n" + OPERATOR_ROWS)


# ---------------------------------------------------------------------------------------
# The tour.


def sign_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def admin_screens(node) -> list[Screen]:
    """Every registered ModelAdmin's changelist, and the change page of its first row (the
    world leaves at least one in most tables; ADMIN_SKIP_EMPTY in the coverage test names the
    rest)."""
    rows = json.loads(
        node.python(
            "import json\n"
            "from django.contrib import admin\n"
            "print(json.dumps([[m._meta.app_label, m._meta.model_name,\n"
            "  m._default_manager.order_by('pk').values_list('pk', flat=True).first()]\n"
            "  for m in admin.site._registry], default=str))"
        )
    )
    screens = []
    for app, model, pk in sorted(rows):
        screens.append(Screen(f"admin-{app}-{model}-list", f"/admin/{app}/{model}/", OPERATOR))
        if pk is not None:
            screens.append(
                Screen(
                    f"admin-{app}-{model}-change", f"/admin/{app}/{model}/{pk}/change/", OPERATOR
                )
            )
    return screens


AXE_JS = """async () => {
    const result = await axe.run(document, { resultTypes: ["violations"] });
    return result.violations.map((v) => ({
        id: v.id, impact: v.impact, help: v.help,
        nodes: v.nodes.slice(0, 4).map((n) => n.target.join(" ")),
        why: v.nodes.slice(0, 2).map((n) => n.failureSummary),
    }));
}"""


class Lazy:
    """An iterable made only when iteration reaches it."""

    def __init__(self, make: Callable[[], list[Screen]]) -> None:
        self.make = make

    def __iter__(self):
        return iter(self.make())


def axe_violations(page) -> list[dict]:
    """Every violation axe-core finds with its default rules (WCAG A/AA and best practices),
    whatever its impact."""
    if not page.evaluate("() => typeof axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    return page.evaluate(AXE_JS)


def check(page, name: str) -> dict[str, list[dict]]:
    found = {}
    SHOTS.mkdir(parents=True, exist_ok=True)
    for theme in THEMES:
        page.evaluate("(theme) => { document.documentElement.dataset.theme = theme; }", theme)
        # Colours that fade (the admin's links) are read once they have settled, as a person
        # reads them after switching the theme.
        page.wait_for_function(
            "() => document.getAnimations().every((a) => a.playState !== 'running')"
        )
        page.screenshot(path=str(SHOTS / f"a11y-{name}-{theme}.png"))
        violations = axe_violations(page)
        if violations:
            found[theme] = violations
    return found


@pytest.fixture(scope="module")
def tour(tmp_path_factory, bundle) -> SimpleNamespace:  # noqa: F811
    """Start the nodes, build the world, visit every screen; what axe found and which HTML
    routes the browser was answered by."""
    from playwright.sync_api import sync_playwright

    from tests.nodes import Node

    base = tmp_path_factory.mktemp("a11y")
    voice_port = free_port()
    # Node a runs a voice worker, so the voice panel shows a live connection, not an error.
    voice_env = {"VOICE_WORKER_ADDR": f"127.0.0.1:{voice_port}", "VOICE_ICE_ADDRESSES": "127.0.0.1"}
    nodes = [
        Node("a", base / "a", extra_env={**FED_ENV, **voice_env}),
        Node("b", base / "b", extra_env=FED_ENV),
    ]
    try:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(Node.start, nodes))
        a, b = nodes
        worker = subprocess.Popen(
            [sys.executable, "manage.py", "voice_worker"],
            cwd=ROOT,
            env=a.env,
            stdout=subprocess.DEVNULL,
        )
        a.procs.append(worker)
        world = build_world(a, b)
        wait_for_port(voice_port, 120, worker)
        failures: dict[str, Any] = {}
        html_paths: set[str] = set()
        timings: dict[str, float] = {}
        slow: dict[str, str] = {}
        with sync_playwright() as p:
            browser = launch(p, *MEDIA_ARGS, *SCREEN_ARGS)
            pages = {}
            for who in (VISITOR, ALICE, CAROL, OPERATOR, MALLORY, TIM, MOE):
                # axe's script is injected into the page, which the node's CSP forbids.
                context = browser.new_context(
                    bypass_csp=True,
                    reduced_motion="reduce",
                    viewport={"width": 1280, "height": 800},
                )
                context.set_default_timeout(15_000)
                context.on("response", lambda r: note_html(r, a.url, html_paths))
                page = context.new_page()
                if who != VISITOR:
                    sign_in(page, a.url, who)
                pages[who] = page
            # The admin's rows are counted after the client screens made theirs (TOTP devices).
            for screen in itertools.chain(SCREENS, Lazy(lambda: admin_screens(a))):
                if ONLY and not re.search(ONLY, screen.name):
                    continue
                page = pages[screen.who]
                started = time.monotonic()
                try:
                    if callable(screen.target):
                        screen.target(page, world)
                    else:
                        goto_patiently(page, a.url + screen.target.format(**vars(world)), slow)
                        # The admin's pages are whole once loaded (their scripts run on the
                        # load event); the client's fetch fragments after it.
                        if not screen.target.startswith("/admin/"):
                            wait_quiet(page)
                    found = check(page, screen.name)
                except Exception as exc:  # one broken screen must not hide the others
                    found = {"error": f"{type(exc).__name__}: {exc}".splitlines()[:3]}
                if found:
                    failures[screen.name] = found
                timings[screen.name] = round(time.monotonic() - started, 2)
                if screen.name in ("voice-panel", "video-grid", "video-stage"):
                    leave_voice(page)
                if screen.name.startswith("phone"):
                    page.set_viewport_size({"width": 1280, "height": 800})
            browser.close()
        REPORT.parent.mkdir(parents=True, exist_ok=True)
        REPORT.write_text(
            json.dumps(
                {"violations": failures, "seconds": timings, "slow_loads": slow},
                indent=1,
                ensure_ascii=False,
            )
        )
        return SimpleNamespace(failures=failures, html_paths=html_paths, logs=a.log()[-4000:])
    finally:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(Node.stop, nodes))


def goto_patiently(page, url: str, slow: dict[str, str]) -> None:
    """Open url; a load that outlasts the 15 s default once (a CI machine running the other
    worker's browser tests beside this one has stalled a page's subresources that long) is
    noted in the report and given one more, longer try. A page that fails twice fails."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.goto(url)
    except PlaywrightTimeout as exc:
        slow[url] = str(exc).splitlines()[0]
        page.goto(url, timeout=45_000)


def note_html(response, base: str, paths: set[str]) -> None:
    if not response.url.startswith(base):
        return
    if 300 <= response.status < 400:
        return  # a redirect is not a page, whatever its content type says
    if (response.headers.get("content-type") or "").startswith("text/html"):
        paths.add(urlsplit(response.url).path)


def test_every_screen_has_no_axe_violation(tour):
    assert not tour.failures, f"axe found violations (all of them in {REPORT}): " + json.dumps(
        tour.failures, ensure_ascii=False
    )


# ---------------------------------------------------------------------------------------
# Coverage: every route that renders a page is reached, or skipped for a stated reason.

# Registered models with no row in the world, so no change page to open.
ADMIN_SKIP_EMPTY: dict[str, str] = {
    "admin:accounts_passkey_change": "a passkey needs a WebAuthn authenticator "
    "(tests/web/test_browser_passkeys.py); the page is the stock change form",
    "admin:voice_voicestate_change": "a voice state lives only while someone is connected; "
    "the voice-panel screen disconnects so the next screens start quiet",
}


def html_routes() -> dict[str, str]:
    """namespace:name -> route, for every named URL pattern outside /api/."""
    from django.urls import URLPattern, URLResolver, get_resolver

    found: dict[str, str] = {}

    def walk(patterns, prefix: str, namespace: str) -> None:
        for entry in patterns:
            route = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                ns = entry.namespace or ""
                walk(entry.url_patterns, route, f"{namespace}{ns}:" if ns else namespace)
            elif isinstance(entry, URLPattern) and entry.name:
                if not route.startswith("api/"):
                    found[namespace + entry.name] = route

    walk(get_resolver().url_patterns, "", "")
    return found


@pytest.mark.skipif(bool(ONLY), reason="UNITED_A11Y_SCREENS visits only some screens")
def test_every_html_route_is_visited(tour):
    from django.urls import Resolver404, resolve

    visited = set()
    for path in tour.html_paths:
        try:
            visited.add(resolve(path).view_name)
        except Resolver404:
            pass
    routes = html_routes()
    stale = sorted(set(SKIP) - set(routes))
    assert not stale, f"SKIP names routes that no longer exist: {stale}"
    missing = {
        name: route
        for name, route in routes.items()
        if name not in visited
        and name not in SKIP
        and not name.endswith(ADMIN_STOCK_SUFFIXES)
        and name not in ADMIN_SKIP_EMPTY
    }
    assert not missing, (
        "routes that render a page but no screen reaches (add a Screen, or a SKIP entry "
        f"saying why not): {json.dumps(missing, indent=1)}"
    )
