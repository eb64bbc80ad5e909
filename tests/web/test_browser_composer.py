"""The composer in Chromium against a real node, with the network between them under the
test's control (page.route, page.route_web_socket): a message goes on the gateway socket while
it is up (no POST), and by POST when the socket's door cannot take it; text typed while a send
is held up stays in the composer and the message shows once although the gateway's copy
arrives before the answer; a send the node answers with 503, or that never arrives, stays in
the list with Retry (which posts it once) and Discard; a draft per channel survives leaving the
channel and a reload, and another account on the same browser does not see it; Up-arrow edits
the last message, and the edit survives the message being re-rendered meanwhile; a pasted
picture becomes an upload tile. axe-core (every impact, both themes) runs with a pending and a
failed message."""

from __future__ import annotations

import json
import re
import time

import pytest

from tests.browser import (
    PASSWORD,
    Api,
    axe_violations,
    bundle,  # noqa: F401  (a fixture)
    connected,
    launch,
    register,
    sign_in,
)
from tests.nodes import ROOT
from tests.web.test_browser import PASTE_JS, files, picture

playwright = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.live, pytest.mark.xdist_group("web_browser")]
SHOTS = ROOT / "test-output" / "screenshots"


class Wire:
    """Every POST to the channel's send URL passes through here: each is recorded, and the
    next step of `plan` decides its fate ("hold" keeps it for the test, "fail" answers 503,
    "drop" aborts it; nothing planned lets it through)."""

    def __init__(self, page, url: str) -> None:
        self.plan: list[str] = []
        self.held: list = []
        self.posts: list[str] = []
        self.pattern = re.compile(re.escape(url) + "$")
        self.page = page
        page.route(self.pattern, self.handle)

    def close(self) -> None:
        self.page.unroute(self.pattern, self.handle)

    def handle(self, route) -> None:
        self.posts.append(route.request.post_data or "")
        step = self.plan.pop(0) if self.plan else "pass"
        if step == "hold":
            self.held.append(route)
        elif step == "fail":
            route.fulfill(status=503, content_type="text/html", body="<h1>Unavailable</h1>")
        elif step == "drop":
            route.abort()
        else:
            route.continue_()

    def wait_held(self) -> object:
        deadline = time.monotonic() + 10
        while not self.held:
            assert time.monotonic() < deadline, "the send never left the page"
            self.page.wait_for_timeout(50)
        return self.held.pop(0)

    def sent(self, text: str) -> int:
        return sum(1 for body in self.posts if f"content={text.replace(' ', '+')}&" in body)


class SocketDoor:
    """The page's gateway socket passes through here. Its sends (op 40) reach the node while
    `open`; otherwise they are answered as the node answers when it cannot store a message
    (op 41, 503), and the composer posts them instead, where `Wire` decides their fate."""

    def __init__(self, page) -> None:
        self.open = True
        self.sent: list[str] = []
        page.route_web_socket(re.compile(r".*/gateway$"), self.handle)

    def handle(self, ws) -> None:
        server = ws.connect_to_server()

        def from_page(message) -> None:
            frame = json.loads(message) if isinstance(message, str) else {}
            if frame.get("op") == 40:
                self.sent.append(frame["d"]["content"])
                if not self.open:
                    error = {"code": 90503, "message": "Cannot store it now", "errors": {}}
                    d = {"nonce": frame["d"]["nonce"], "status": 503, "error": error}
                    ws.send(json.dumps({"op": 41, "d": d, "s": None, "t": None}))
                    return
            server.send(message)

        ws.on_message(from_page)
        server.on_message(ws.send)


def stored(api: Api, channel: str, text: str) -> int:
    return sum(
        1 for m in api("GET", f"/channels/{channel}/messages?limit=100") if m["content"] == text
    )


def test_composer_keeps_text_retries_and_keeps_drafts(node_factory, bundle):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    node = node_factory("composer")
    try:
        with sync_playwright() as p:
            journey(node.url, p, expect)
    except Exception:
        print(node.log()[-6000:])
        raise


def journey(base: str, p, expect) -> None:
    alice_answer = register(base, "alice")
    alice_api = Api(base, alice_answer["access_token"])
    bob_api = Api(base, register(base, "bob")["access_token"])
    gid = alice_api("POST", "/guilds", {"name": "Drafts"})["id"]
    channels = {c["name"]: c for c in alice_api("GET", f"/guilds/{gid}/channels")}
    general = channels["general"]["id"]
    lounge = alice_api(
        "POST",
        f"/guilds/{gid}/channels",
        {"name": "lounge", "parent_id": channels["general"]["parent_id"]},
    )["id"]
    bob_api("POST", f"/invites/{alice_api('POST', f'/channels/{general}/invites', {})['code']}", {})
    general_url = f"{base}/app/guilds/{gid}/channels/{general}/"
    lounge_url = f"{base}/app/guilds/{gid}/channels/{lounge}/"

    browser = launch(p)
    context, page, problems = sign_in(browser, base, "alice")
    door = SocketDoor(page)
    page.goto(general_url)
    connected(page)
    box = page.locator("#composer-input")
    pending = page.locator("[data-pending]")
    send_url = page.locator("[data-composer]").get_attribute("action")
    wire = Wire(page, send_url)

    def message(text: str):
        return page.locator("[data-message]", has_text=text)

    # With the socket up, a message goes on it (op 40), not by POST, and shows once.
    box.fill("over the socket")
    box.press("Enter")
    expect(message("over the socket")).to_have_count(1)
    expect(pending).to_have_count(0)
    assert door.sent == ["over the socket"] and wire.sent("over the socket") == 0
    assert stored(alice_api, general, "over the socket") == 1
    # From here on the socket's door cannot store: the composer posts, as the outbox expects.
    door.open = False

    # A slow send: the box empties at once, the message waits dimmed in the list, and what is
    # typed meanwhile stays. The node gets it (so the gateway's copy arrives) while its answer
    # is held ~1.5 s more; the message still shows exactly once.
    wire.plan = ["hold"]
    box.fill("first thoughts")
    box.press("Enter")
    held = wire.wait_held()
    expect(box).to_have_value("")
    expect(pending).to_have_text(re.compile("first thoughts.*Sending…"))
    page.keyboard.type("typed while it was sending")
    answer = held.fetch()
    expect(message("first thoughts")).to_have_count(1)
    expect(pending).to_have_count(0)
    page.keyboard.type(", and after")
    page.wait_for_timeout(1500)
    held.fulfill(response=answer)
    expect(box).to_have_value("typed while it was sending, and after")
    page.wait_for_timeout(300)  # the held answer is in: nothing may be added after it
    expect(message("first thoughts")).to_have_count(1)
    assert stored(alice_api, general, "first thoughts") == 1

    # A send the node answers with 503 stays, marked, with Retry and Discard; it is announced.
    box.fill("the node was down")
    wire.plan = ["fail"]
    box.press("Enter")
    failed = page.locator("[data-pending].failed")
    expect(failed).to_contain_text("the node was down")
    expect(failed).to_contain_text("Not sent: the node could not take it (503).")
    expect(page.locator("[data-send-status]")).to_contain_text("Your message was not sent")
    assert stored(alice_api, general, "the node was down") == 0
    # Retry, from the keyboard: posted once more, with the same nonce, and shown once.
    retry = failed.locator("[data-retry]")
    retry.focus()
    page.keyboard.press("Enter")
    expect(message("the node was down")).to_have_count(1)
    expect(pending).to_have_count(0)
    assert wire.sent("the node was down") == 2
    assert stored(alice_api, general, "the node was down") == 1
    # A send that never reaches the node: Discard takes it away.
    box.fill("lost on the way")
    wire.plan = ["drop"]
    box.press("Enter")
    expect(failed).to_contain_text("Not sent: the connection dropped.")
    failed.locator("[data-discard]").click()
    expect(pending).to_have_count(0)
    expect(box).to_be_focused()
    assert stored(alice_api, general, "lost on the way") == 0

    # Up on an empty box edits my last message.
    box.fill("")
    box.press("ArrowUp")
    editor = page.locator(".edit-form textarea")
    expect(editor).to_have_value("the node was down")
    editor.press("Escape")
    expect(editor).to_have_count(0)
    # An edit under way survives its message being re-rendered (bob reacts meanwhile): the
    # words typed, the caret and the focus stay, and Enter saves them.
    box.press("ArrowUp")
    expect(editor).to_have_value("the node was down")
    page.keyboard.type(" for a minute")
    target = message("the node was down")
    mid = target.get_attribute("data-message-id")
    bob_api("PUT", f"/channels/{general}/messages/{mid}/reactions/%F0%9F%91%8D/@me")
    expect(target.locator(".reaction")).to_be_visible()
    expect(editor).to_have_value("the node was down for a minute")
    expect(editor).to_be_focused()
    page.keyboard.type(", then back")
    page.keyboard.press("Enter")
    expect(message("the node was down for a minute, then back")).to_contain_text("(edited)")
    expect(editor).to_have_count(0)
    assert stored(alice_api, general, "the node was down for a minute, then back") == 1

    # A pasted picture becomes an upload tile, and is sent with the message.
    pasted = files(page, ("cat.png", "image/png", picture((120, 90), (250, 200, 90), (40, 40, 90))))
    box.evaluate(PASTE_JS, pasted)
    tile = page.locator("[data-uploads] [data-upload]")
    expect(tile).to_have_count(1)
    expect(tile).to_have_class(re.compile("done"))
    box.fill("a cat")
    box.press("Enter")
    expect(message("a cat").locator("[data-tile]")).to_have_count(1)
    expect(tile).to_have_count(0)

    # Drafts: one per channel, kept across leaving the channel and a reload, cleared when sent.
    box.fill("half a thought for general")
    page.goto(lounge_url)
    expect(box).to_have_value("")
    box.fill("lounge draft")
    page.goto(general_url)
    expect(box).to_have_value("half a thought for general")
    page.reload()
    expect(box).to_have_value("half a thought for general")
    page.goto(lounge_url)
    expect(box).to_have_value("lounge draft")
    connected(page)
    box.press("Enter")
    expect(page.locator("[data-message]", has_text="lounge draft")).to_have_count(1)
    page.reload()
    expect(box).to_have_value("")
    # Someone else signing in on this browser does not get Alice's draft.
    context.clear_cookies()
    page.goto(f"{base}/login/")
    page.fill("#id_username", "bob")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/app/.*"))
    page.goto(general_url)
    expect(page.locator("[data-message]", has_text="first thoughts")).to_be_visible()
    expect(box).to_have_value("")
    key = f"united:draft:{alice_answer['user_id']}:{general}"
    assert page.evaluate("k => localStorage.getItem(k)", key) == "half a thought for general"
    assert not problems, problems

    # axe-core, every impact, both themes, with a failed and a pending message in the list.
    axe_ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    page = axe_ctx.new_page()
    SocketDoor(page).open = False  # the sends below go by POST, held or failed by the wire
    page.goto(f"{base}/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/app/.*"))
    for theme in ("dark", "light"):
        page.goto(general_url)
        page.evaluate(f"() => localStorage.setItem('united-theme', '{theme}')")
        page.reload()
        connected(page)
        wire = Wire(page, send_url)
        box = page.locator("#composer-input")
        wire.plan = ["fail", "hold"]
        box.fill(f"down again ({theme})")
        box.press("Enter")
        expect(page.locator("[data-pending].failed [data-retry]")).to_be_visible()
        box.fill(f"still going ({theme})")
        box.press("Enter")
        held = wire.wait_held()
        expect(page.locator("[data-pending]:not(.failed)")).to_contain_text("Sending…")
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"composer-outbox-{theme}.png"))
        found = axe_violations(page)
        assert not found, (theme, found)
        held.continue_()
        expect(page.locator("[data-message]", has_text=f"still going ({theme})")).to_have_count(1)
        wire.close()
    browser.close()
