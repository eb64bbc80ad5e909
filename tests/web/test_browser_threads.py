"""Threads in the client, in Chromium against a real node, two people at once: alice starts
a thread from a message (the dialog offers the message's first words as its name) and
replies in the panel beside the channel; bob, whose channel page stays open, sees the link
under the message appear and count the replies live; he answers in the panel (reacting and
replying to her there), which makes him follow the thread; back on the channel, alice's next
reply marks the link and the thread list unread without a reload, and opening the panel
clears it. A member without Create Public Threads is offered no "Create thread", and one who
cannot see a channel gets a 404 for its thread's panel URL. The new screens' pictures go to
docs/screenshots/."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from tests import browser
from tests.browser import (
    DOC_SHOTS,
    Api,
    bundle,  # noqa: F401  (a fixture)
    connected,
    launch,
    register,
    sign_in,
)

playwright = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.live, pytest.mark.xdist_group("web_browser")]

CREATE_PUBLIC_THREADS = 1 << 35
VIEW_CHANNEL = 1 << 10


VIEWPORT = (1400, 860)  # the thread panel beside the channel


def shot(page, name: str) -> None:
    browser.shot(page, name, DOC_SHOTS)


def test_threads_started_read_and_followed_live(node_factory, bundle):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    node = node_factory("threads")
    try:
        with sync_playwright() as p:
            journey(node.url, p, expect)
    except Exception:
        print(node.log()[-6000:])
        raise


def journey(base: str, p, expect) -> None:
    alice_api = Api(base, register(base, "alice")["access_token"])
    bob_api = Api(base, register(base, "bob")["access_token"])
    carol_answer = register(base, "carol")
    carol_api = Api(base, carol_answer["access_token"])
    gid = alice_api("POST", "/guilds", {"name": "Launch Crew"})["id"]
    channels = {c["name"]: c for c in alice_api("GET", f"/guilds/{gid}/channels")}
    general = channels["general"]["id"]
    code = alice_api("POST", f"/channels/{general}/invites", {})["code"]
    bob_api("POST", f"/invites/{code}", {})
    carol_api("POST", f"/invites/{code}", {})
    # carol may talk but not start threads in #general; #staff is hidden from her.
    quiet = alice_api("POST", f"/guilds/{gid}/roles", {"name": "Quiet"})["id"]
    alice_api("PUT", f"/guilds/{gid}/members/{carol_answer['user_id']}/roles/{quiet}", status=204)
    alice_api(
        "PUT",
        f"/channels/{general}/permissions/{quiet}",
        {"type": 0, "allow": "0", "deny": str(CREATE_PUBLIC_THREADS)},
        status=204,
    )
    staff = alice_api(
        "POST",
        f"/guilds/{gid}/channels",
        {
            "name": "staff",
            "permission_overwrites": [
                {"id": quiet, "type": 0, "allow": "0", "deny": str(VIEW_CHANNEL)}
            ],
        },
    )["id"]
    secret = alice_api("POST", f"/channels/{staff}/messages", {"content": "budget"})["id"]
    staff_thread = alice_api(
        "POST", f"/channels/{staff}/messages/{secret}/threads", {"name": "Budget"}
    )["id"]
    alice_api(
        "POST", f"/channels/{general}/messages", {"content": "Shall we plan the launch for Friday?"}
    )
    general_url = f"{base}/app/guilds/{gid}/channels/{general}/"

    chromium = launch(p)
    _alice_ctx, alice, alice_problems = sign_in(chromium, base, "alice", VIEWPORT)
    _bob_ctx, bob, bob_problems = sign_in(chromium, base, "bob", VIEWPORT)
    _carol_ctx, carol, carol_problems = sign_in(chromium, base, "carol", VIEWPORT)
    alice.goto(general_url)
    bob.goto(general_url)
    connected(alice)
    connected(bob)
    bob.evaluate("() => { window.stillTheSamePage = true; }")
    bob_link = bob.locator("[data-thread-link]")

    # alice: the message's menu → Create thread; the name starts as the message's first words.
    starter = alice.locator("[data-message]", has_text="plan the launch").first
    starter.hover()
    starter.locator("[data-action=thread]").click()
    expect(alice.locator("#thread-dialog")).to_be_visible()
    expect(alice.locator("#new-thread-name")).to_have_value("Shall we plan the launch for")
    shot(alice, "threads-create")
    alice.fill("#new-thread-name", "")
    alice.click("#thread-dialog button[type=submit]")  # the browser asks for a name first
    expect(alice.locator("#thread-dialog")).to_be_visible()
    alice.fill("#new-thread-name", "Friday launch")
    alice.click("#thread-dialog button[type=submit]")
    alice.wait_for_url(re.compile(r".*/threads/\d+/$"))
    thread = alice.url.rstrip("/").rsplit("/", 1)[1]
    panel = alice.locator("[data-thread-pane]")
    expect(panel.locator("#thread-title")).to_have_text("Friday launch")
    expect(panel.locator(".thread-starter")).to_contain_text("plan the launch for Friday")
    expect(alice.locator("[data-pane] [data-message]", has_text="plan the launch")).to_be_visible()

    # bob sees the link appear under the message, without a reload.
    expect(bob_link).to_contain_text("Friday launch")
    expect(bob_link).to_contain_text("0 replies")

    connected(alice)
    alice.fill("#thread-composer-input", "I can do the release notes")
    alice.keyboard.press("Enter")
    # Sent on the socket (or by POST): under the whole suite's load an answer has taken over 5 s.
    expect(panel.locator("[data-message]", has_text="release notes")).to_be_visible(timeout=20_000)
    # In the channel's list, not the thread's: the reply only lives in the panel.
    expect(alice.locator("[data-pane] [data-message]", has_text="release notes")).to_have_count(0)
    expect(bob_link).to_contain_text("1 reply")
    expect(bob_link).to_contain_text("last reply")
    # bob does not follow it yet: no unread mark.
    expect(bob.locator("[data-thread-link][data-thread-unread]")).to_have_count(0)
    assert bob.evaluate("() => window.stillTheSamePage") is True

    # bob opens the panel from the link, reacts to alice's reply and answers it there.
    bob_link.click()
    bob.wait_for_url(re.compile(rf".*/threads/{thread}/$"))
    connected(bob)
    bob_panel = bob.locator("[data-thread-pane]")
    expect(bob_panel.locator("[data-follow-thread]")).to_have_text("Follow")
    theirs = bob_panel.locator("[data-message]", has_text="release notes")
    theirs.hover()
    theirs.locator("[data-action=react]").click()
    bob.locator("[data-emoji-picker] button").first.click()
    expect(theirs.locator(".reaction.mine")).to_be_visible()
    expect(
        panel.locator("[data-message]", has_text="release notes").locator(".reaction")
    ).to_be_visible()
    theirs.hover()
    theirs.locator("[data-action=reply]").click()
    expect(bob_panel.locator("[data-reply-banner]")).to_be_visible()
    expect(bob.locator("[data-pane] [data-reply-banner]")).to_be_hidden()
    bob.fill("#thread-composer-input", "Count me in for the blog post")
    # alice's panel says he is typing there; her channel's composer does not.
    expect(panel.locator("[data-typing]")).to_have_text("bob is typing…")
    expect(alice.locator("[data-pane] [data-typing]")).to_have_text("")
    bob.keyboard.press("Enter")
    expect(panel.locator("[data-typing]")).to_have_text("")
    mine = bob_panel.locator("[data-message]", has_text="blog post")
    expect(mine.locator(".reply-ref")).to_contain_text("alice")
    expect(bob_panel.locator("[data-follow-thread]")).to_have_text("Unfollow")
    expect(panel.locator("[data-message]", has_text="blog post")).to_be_visible()
    # An edit in the panel, seen by alice live.
    bob.focus("#thread-composer-input")
    bob.keyboard.press("ArrowUp")
    bob_panel.locator(".edit-form textarea").fill("Count me in for the blog post and the video")
    bob.keyboard.press("Enter")
    expect(panel.locator("[data-message]", has_text="and the video")).to_contain_text("(edited)")
    shot(bob, "threads-panel")

    # Back on the channel: alice replies again; bob follows now, so the link turns unread.
    bob.click("[data-thread-close]")
    bob.wait_for_url(general_url)
    connected(bob)
    bob.evaluate("() => { window.stillTheSamePage = true; }")
    expect(bob_link).to_contain_text("2 replies")
    expect(bob.locator("[data-thread-link][data-thread-unread]")).to_have_count(0)
    alice.fill("#thread-composer-input", "Great, the video is yours")
    alice.keyboard.press("Enter")
    expect(bob_link).to_contain_text("3 replies")
    expect(bob.locator("[data-thread-link][data-thread-unread]")).to_be_visible()
    expect(bob.locator(f"#channel-list [data-channel-link='{general}']")).to_have_class(
        re.compile(r"\bunread\b")
    )
    # The thread list from the channel header: the thread, active, unread, followed.
    bob.click("[aria-label='Threads']")
    row = bob.locator(f"[data-thread-row='{thread}']")
    expect(row).to_be_visible()
    expect(row).to_have_attribute("data-thread-unread", "")
    expect(row).to_contain_text("3 replies")
    expect(row).to_contain_text("following")
    expect(bob.locator("#threads-body .threads-group").first).to_have_text("Active")
    shot(bob, "threads-list")
    assert bob.evaluate("() => window.stillTheSamePage") is True
    # Opening it from the list reads it: the marks go.
    row.locator("a").click()
    bob.wait_for_url(re.compile(rf".*/threads/{thread}/$"))
    expect(
        bob.locator("[data-thread-pane] [data-message]", has_text="video is yours")
    ).to_be_visible()
    expect(bob.locator("[data-thread-link][data-thread-unread]")).to_have_count(0)
    expect(bob.locator("[data-thread-link]")).to_be_visible()
    bob.reload()
    expect(bob.locator("[data-thread-pane] #thread-title")).to_have_text("Friday launch")
    expect(bob.locator("[data-thread-link][data-thread-unread]")).to_have_count(0)
    listed = bob_api("GET", f"/channels/{general}/threads")["threads"]
    assert [(t["id"], t["unread"], t["following"]) for t in listed] == [(thread, False, True)]
    # The panel's button: unfollow, then follow again; the node keeps what was chosen.
    follow = bob.locator("[data-thread-pane] [data-follow-thread]")
    follow.click()
    expect(follow).to_have_text("Follow")
    assert bob_api("GET", f"/channels/{general}/threads")["threads"][0]["following"] is False
    follow.click()
    expect(follow).to_have_text("Unfollow")
    assert bob_api("GET", f"/channels/{general}/threads")["threads"][0]["following"] is True

    # carol: no "Create thread" in #general, and #staff's thread is not there for her.
    carol.goto(general_url)
    message = carol.locator("[data-message]", has_text="plan the launch").first
    message.hover()
    expect(message.locator("[data-action=reply]")).to_be_visible()
    expect(carol.locator("[data-action=thread]")).to_have_count(0)
    answer = carol.goto(f"{base}/app/guilds/{gid}/channels/{staff}/threads/{staff_thread}/")
    assert answer is not None and answer.status == 404
    # Nor through #general's address.
    answer = carol.goto(f"{general_url}threads/{staff_thread}/")
    assert answer is not None and answer.status == 404
    # She can still open the thread of the channel she sees.
    carol.goto(f"{general_url}threads/{thread}/")
    expect(carol.locator("[data-thread-pane] [data-message]")).to_have_count(3)
    # A timeout reaches both of her composers at once, the panel's too.
    connected(carol)
    until = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()
    alice_api(
        "PATCH",
        f"/guilds/{gid}/members/{carol_answer['user_id']}",
        {"communication_disabled_until": until},
    )
    expect(carol.locator("#thread-composer-input")).to_be_disabled()
    expect(carol.locator("#composer-input")).to_be_disabled()
    expect(carol.locator("[data-thread-pane] [data-timeout-notice]")).to_be_visible()
    alice_api(
        "PATCH",
        f"/guilds/{gid}/members/{carol_answer['user_id']}",
        {"communication_disabled_until": None},
    )
    expect(carol.locator("#thread-composer-input")).to_be_enabled()

    assert not alice_problems and not bob_problems and not carol_problems, (
        alice_problems,
        bob_problems,
        carol_problems,
    )
    chromium.close()
