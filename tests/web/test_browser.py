"""The chat client in a real browser (Debian's Chromium through Playwright) against a real
node: two people onboard, one creates a community, a private channel and an invite, the
other joins through the invite link, they talk, and reactions and edits arrive live.
Screens are saved under test-output/screenshots/ and checked with axe-core."""

from __future__ import annotations

import base64
import io
import re

import pytest

from tests.browser import PASSWORD, axe_violations, bundle, launch, shot  # noqa: F401  (bundle: a fixture)

playwright = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.live, pytest.mark.xdist_group("web_browser")]
# The main journey checks the serious and critical findings; test_accessibility.py checks
# every impact on every screen.
SERIOUS = ("serious", "critical")
# Small enough that an oversized file is cheap to make, large enough for the pictures.
UPLOAD_LIMIT = 300_000


def watch_csp(page, problems: list[str]) -> None:
    def note(message) -> None:
        if "status of 400" in message.text:
            return  # a refused search query, shown in the panel on purpose
        if "Content Security Policy" in message.text or message.type == "error":
            problems.append(message.text)

    page.on("console", note)
    page.on("pageerror", lambda error: problems.append(str(error)))


def confirm_recovery(page) -> None:
    """Type back the three words the page asks for, read off the phrase it showed."""
    words = page.locator("[data-recovery-grid] li").all_inner_texts()
    assert len(words) == 12, words
    for ask in page.locator("[data-recovery-ask]").all():
        ask.fill(words[int(ask.get_attribute("data-recovery-ask"))])


def sign_up(page, name: str) -> None:
    page.fill("#id_username", name)
    page.fill("#id_password", PASSWORD)
    page.wait_for_selector("[data-recovery-grid] li")
    confirm_recovery(page)
    page.click("button[type=submit]")


def picture(size: tuple[int, int], top: tuple, bottom: tuple) -> bytes:
    """A two-colour gradient PNG, so the BlurHash and the thumbnail show something."""
    from PIL import Image

    column = Image.new("RGB", (1, 256))
    column.putdata(
        [
            tuple(t + (b - t) * y // 255 for t, b in zip(top, bottom, strict=True))
            for y in range(256)
        ]
    )
    out = io.BytesIO()
    column.resize(size).save(out, "PNG")
    return out.getvalue()


FILES_JS = """([files]) => {
    const transfer = new DataTransfer();
    for (const [name, type, b64] of files) {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        transfer.items.add(new File([bytes], name, { type }));
    }
    return transfer;
}"""


def files(page, *items: tuple[str, str, bytes]):
    """A DataTransfer holding the files, as a drag from the desktop or the clipboard has."""
    encoded = [[name, kind, base64.b64encode(data).decode()] for name, kind, data in items]
    return page.evaluate_handle(FILES_JS, [encoded])


def connected(page) -> None:
    page.wait_for_function(
        "() => window.unitedGateway && window.unitedGateway.state === 'connected'"
    )


def message(page, text: str):
    return page.locator("[data-message]", has_text=text)


def test_two_people_onboard_and_chat_live(node_factory, bundle):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    node = node_factory("web", UNITED_MAX_UPLOAD_BYTES=str(UPLOAD_LIMIT))
    try:
        journey(node, expect, sync_playwright)
    except Exception:
        print(node.log()[-6000:])
        raise


PASTE_JS = """(el, transfer) => el.dispatchEvent(
    new ClipboardEvent("paste", { clipboardData: transfer, bubbles: true, cancelable: true }))"""


def share_pictures(alice, bob, expect) -> None:
    """A picture dropped on the pane, one pasted into the message box, a file picked with the
    button and removed again, one over the node's limit; Bob sees the grid live and browses
    it in the lightbox."""
    connected(alice)
    connected(bob)
    dropped = files(
        alice, ("sunset.png", "image/png", picture((900, 600), (255, 140, 60), (90, 40, 140)))
    )
    alice.dispatch_event("[data-pane]", "dragenter", {"dataTransfer": dropped})
    expect(alice.locator("[data-drop-zone]")).to_be_visible()
    shot(alice, "14-drop-zone")
    alice.dispatch_event("[data-pane]", "drop", {"dataTransfer": dropped})
    expect(alice.locator("[data-drop-zone]")).to_be_hidden()
    tiles = alice.locator("[data-uploads] [data-upload]")
    expect(tiles).to_have_count(1)
    expect(tiles.first).to_have_class(re.compile("done"))
    expect(tiles.first.locator("progress")).to_have_attribute("value", "100")
    pasted = files(
        alice, ("forest.png", "image/png", picture((600, 800), (120, 200, 140), (20, 70, 50)))
    )
    alice.locator("#composer-input").evaluate(PASTE_JS, pasted)
    expect(tiles).to_have_count(2)
    alice.set_input_files(
        "[data-file-input]",
        files=[{"name": "draft.txt", "mimeType": "text/plain", "buffer": b"not this one"}],
    )
    expect(tiles).to_have_count(3)
    expect(tiles.nth(2)).to_have_class(re.compile("done"))
    alice.click("[aria-label='Remove draft.txt']")
    expect(tiles).to_have_count(2)
    huge = files(alice, ("huge.bin", "application/octet-stream", b"\0" * (UPLOAD_LIMIT + 1)))
    alice.dispatch_event("[data-pane]", "drop", {"dataTransfer": huge})
    refused = alice.locator("[data-upload].failed")
    expect(refused.locator("[role=alert]")).to_contain_text("huge.bin is too large")
    expect(tiles.nth(1)).to_have_class(re.compile("done"))
    shot(alice, "15-uploads")
    alice.click("[aria-label='Remove huge.bin']")
    alice.fill("#composer-input", "holiday pictures")
    alice.keyboard.press("Enter")
    expect(message(alice, "holiday pictures").locator("[data-tile]")).to_have_count(2)
    expect(tiles).to_have_count(0)

    # Bob gets it live: BlurHash painted at once, then the thumbnails fade in.
    arrived = message(bob, "holiday pictures")
    expect(arrived.locator(".gallery.n2 [data-tile].loaded")).to_have_count(2)
    alpha = arrived.locator("canvas.blurhash").first.evaluate(
        "c => c.getContext('2d').getImageData(16, 16, 1, 1).data[3]"
    )
    assert alpha == 255
    shot(bob, "16-gallery")
    arrived.locator("[data-tile]").first.click()
    box = bob.locator("[data-lightbox]")
    caption = box.locator("[data-lightbox-caption]")
    expect(box).to_be_visible()
    expect(caption).to_have_text("sunset.png — 1 of 2")
    bob.keyboard.press("ArrowRight")
    expect(caption).to_have_text("forest.png — 2 of 2")
    expect(box.locator("[data-lightbox-img]")).to_have_attribute("src", re.compile(r"/content$"))
    for _ in range(5):  # focus is trapped in the viewer
        bob.keyboard.press("Tab")
        assert bob.evaluate("() => !!document.activeElement.closest('[data-lightbox]')")
    bob.wait_for_function("() => document.querySelector('[data-lightbox-img]').naturalWidth > 0")
    shot(bob, "17-lightbox")
    bob.keyboard.press("ArrowLeft")
    expect(caption).to_have_text("sunset.png — 1 of 2")
    bob.keyboard.press("Escape")
    expect(box).to_be_hidden()
    assert bob.evaluate("() => document.activeElement.matches('[data-tile]')")


SEND_MANY_JS = """async ([count]) => {
    const url = document.querySelector("[data-composer]").action;
    const token = document.querySelector('meta[name="csrf-token"]').content;
    for (let n = 0; n < count; n++) {
        const text = `backlog ${String(n).padStart(2, "0")} about the roadmap`;
        const body = new URLSearchParams({ content: text });
        const headers = { "X-CSRFToken": token };
        const response = await fetch(url, { method: "POST", headers, body });
        if (!response.ok) throw new Error(await response.text());
    }
}"""


def hunt_history(node, alice, bob, general_url: str, expect) -> None:
    """Pins; then Bob is away while 60 messages arrive: the new-messages bar opens the first
    unread in context; search with hints, autocomplete and paging; jump to an old message."""
    hello = message(alice, "Hello from alice")
    hello.hover()
    hello.locator("[data-action=pin]").click()
    expect(message(alice, "Hello from alice").locator(".pinned-flag")).to_be_visible()
    alice.click("[aria-label='Pinned messages']")
    expect(alice.locator("#pins-body .pin")).to_contain_text("Hello from alice")
    alice.click("#pins-dialog [data-dialog-close]")

    # More than one page (50) arrives while Bob is elsewhere.
    bob.goto(node.url + "/app/start/")
    alice.evaluate(SEND_MANY_JS, [60])
    expect(message(alice, "backlog 59")).to_be_visible()
    if node.production:  # no Celery worker here: index what the outbox holds
        node.python("from jobs.services import run_due_jobs; run_due_jobs()")
    bob.goto(general_url)
    bar = bob.locator("[data-new-bar]")
    expect(bar).to_be_visible()
    assert bob.locator("#unread-marker").count() == 0  # further back than one page
    bar.locator("[data-jump-unread]").click()
    bob.wait_for_url(re.compile(r"\?around=\d+"))
    expect(bob.locator("#unread-marker")).to_be_visible()
    expect(message(bob, "backlog 00")).to_be_visible()
    expect(bob.locator("[data-jump-bottom]")).to_contain_text("viewing older messages")

    search = bob.locator("#search-input")
    search.click()
    expect(bob.locator("#search-suggest")).to_contain_text("from:")
    expect(bob.locator("#search-suggest")).to_contain_text("has:")
    shot(bob, "18-search-hints")
    search.press_sequentially("from:al")
    expect(bob.locator("#search-suggest li").first).to_contain_text("alice")
    bob.keyboard.press("Enter")
    expect(search).to_have_value("from:alice ")
    search.press_sequentially("in:gen")
    expect(bob.locator("#search-suggest li").first).to_contain_text("#general")
    bob.keyboard.press("Enter")
    expect(search).to_have_value("from:alice in:general ")
    search.press_sequentially("roadmap")
    bob.keyboard.press("Enter")
    panel = bob.locator("[data-search-panel]")
    expect(panel).to_be_visible()
    expect(panel.locator("[data-search-count]")).to_contain_text("60 results")
    expect(panel.locator(".snippet mark").first).to_have_text("roadmap")
    expect(panel.locator(".search-pages")).to_contain_text("Page 1 of 6")
    expect(panel.locator(".search-hit-card").first).to_contain_text("backlog 59")
    shot(bob, "19-search-results")
    panel.locator("[data-search-next]").click()
    expect(panel.locator(".search-pages")).to_contain_text("Page 2 of 6")
    panel.locator("[data-search-sort=oldest]").click()
    expect(panel.locator(".search-hit-card").first).to_contain_text("backlog 00")
    expect(panel.locator("[data-search-sort=oldest]")).to_have_attribute("aria-pressed", "true")

    search.fill("before:someday")
    bob.keyboard.press("Enter")
    expect(panel.locator("[role=alert]")).to_be_visible()
    search.fill("hello")
    bob.keyboard.press("Enter")
    hit = panel.locator(".search-hit-card", has_text="Hello from alice")
    expect(hit.locator("mark")).to_have_text("Hello")
    hit.hover()
    hit.locator("[data-search-jump]").click()
    bob.wait_for_url(re.compile(r"\?around=\d+"))
    target = message(bob, "Hello from alice")
    expect(target).to_be_in_viewport()
    expect(target).to_have_class(re.compile("highlight"))
    assert message(bob, "backlog 59").count() == 0  # not loaded: the pane is in the past
    shot(bob, "20-jump-to-message")
    bob.click("[data-jump-bottom]")
    bob.wait_for_url(general_url)
    expect(message(bob, "backlog 59")).to_be_visible()


def new_screens(page, general_url: str):
    """Drive to the search panel, a message opened in context and the lightbox; yield each
    screen's name once it is on the page, for the accessibility check."""
    page.goto(general_url)
    page.fill("#search-input", "roadmap")
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-search-panel]:not([hidden]) .search-hit-card")
    yield "search results"
    page.fill("#search-input", "holiday")
    page.keyboard.press("Enter")
    page.wait_for_selector(".search-hit-card:has-text('holiday') [data-search-jump]")
    page.click(".search-hit-card:has-text('holiday') [data-search-jump]")
    page.wait_for_selector("[data-tile].loaded")
    yield "message in context"
    page.click("[data-tile]")
    page.wait_for_selector("[data-lightbox][open]")
    yield "lightbox"


def journey(node, expect, sync_playwright) -> None:
    problems: list[str] = []
    with sync_playwright() as p:
        browser = launch(p)
        alice_ctx = browser.new_context(viewport={"width": 1280, "height": 800})
        alice = alice_ctx.new_page()
        watch_csp(alice, problems)

        # Screen 1: the landing page, then a name and a password (recovery phrase shown).
        alice.goto(node.url + "/")
        shot(alice, "01-landing")
        alice.click("a:has-text('Get started')")
        alice.fill("#id_username", "alice")
        alice.fill("#id_password", PASSWORD)
        alice.wait_for_selector("[data-recovery-grid] li")
        # The phrase must be confirmed: a wrong word is refused on the spot, nothing is sent.
        asks = alice.locator("[data-recovery-ask]")
        expect(asks).to_have_count(3)
        confirm_recovery(alice)
        asks.first.fill("notaword")
        alice.click("button[type=submit]")
        expect(alice.locator("[data-recovery-error]")).to_contain_text("does not match")
        expect(asks.first).to_have_attribute("aria-invalid", "true")
        assert "/register/" in alice.url
        shot(alice, "02-register")
        confirm_recovery(alice)
        alice.click("button[type=submit]")
        # Screen 2: create a community; screen 3: its default channel.
        alice.wait_for_url("**/app/start/")
        shot(alice, "03-onboarding")
        alice.fill("#guild-name", "Pixel Club")
        alice.click("form[action='/app/start/create/'] button")
        alice.wait_for_url(re.compile(r".*/app/guilds/\d+/channels/\d+/$"))
        general_url = alice.url
        connected(alice)
        alice.fill("#composer-input", "Hello from alice :smile:")
        alice.keyboard.press("Enter")
        expect(message(alice, "Hello from alice 😄")).to_be_visible()

        # A private channel through the UI (@everyone denied VIEW_CHANNEL).
        alice.click("[aria-label='Create a text channel in Text Channels']")
        alice.fill("#new-channel-name", "staff-room")
        alice.check("input[name=private]")
        alice.click("#create-channel button[type=submit]")
        alice.wait_for_url(lambda url: url != general_url and "/channels/" in url)
        expect(alice.locator("#channel-title")).to_have_text("staff-room")
        alice.goto(general_url)

        alice.click("[aria-label='Invite people']")
        link = alice.locator("[data-invite-link]")
        expect(link).to_have_value(re.compile(r"/invite/[\w-]+"))
        invite_url = link.input_value()
        shot(alice, "04-invite")
        alice.click("#invite-dialog [data-dialog-close]")
        connected(alice)

        # Bob opens the invite link without an account: same screens, lands in the guild.
        bob_ctx = browser.new_context(viewport={"width": 1280, "height": 800})
        bob = bob_ctx.new_page()
        watch_csp(bob, problems)
        bob.goto(invite_url)
        shot(bob, "05-invite-landing")
        bob.click("a:has-text('Create an account and join')")
        sign_up(bob, "bob")
        bob.click("button:has-text('Join Pixel Club')")
        bob.wait_for_url(re.compile(r".*/app/guilds/\d+/channels/\d+/$"))
        assert bob.url == general_url
        expect(message(bob, "Hello from alice 😄")).to_be_visible()
        assert "staff-room" not in bob.content()
        connected(bob)

        bob.fill("#composer-input", "hi @ali")
        expect(bob.locator("[data-autocomplete] li", has_text="@alice")).to_be_visible()
        bob.keyboard.press("Enter")
        bob.keyboard.type("nice to meet you")
        bob.keyboard.press("Enter")
        expect(message(alice, "nice to meet you")).to_be_visible()
        expect(message(alice, "nice to meet you").locator(".mention")).to_have_text("@alice")
        expect(message(alice, "nice to meet you")).to_have_class(re.compile("mentioned"))

        # Alice reacts: Bob sees it live. Bob edits with Up: Alice sees it live.
        target = message(alice, "nice to meet you")
        target.hover()
        target.locator("[data-action=react]").click()
        alice.click("[data-emoji-picker] button[aria-label='React with 🎉']")
        expect(message(bob, "nice to meet you").locator("[data-react='🎉']")).to_be_visible()
        bob.focus("#composer-input")
        bob.keyboard.press("ArrowUp")
        editor = bob.locator(".edit-form textarea")
        editor.fill("hi @alice, great to meet you")
        editor.press("Enter")
        edited = message(alice, "great to meet you")
        expect(edited).to_be_visible()
        expect(edited.locator(".edited")).to_be_visible()
        expect(edited.locator(".mention")).to_have_text("@alice")
        shot(alice, "06-channel")
        shot(bob, "07-channel-bob")

        # Bob's connection drops: a visible banner, then RESUME replays what he missed.
        bob.evaluate("() => window.unitedGateway.socket.close()")
        expect(bob.locator("[data-conn-banner]")).to_be_visible()
        alice.fill("#composer-input", "did you get this while away?")
        alice.keyboard.press("Enter")
        expect(message(bob, "did you get this while away?")).to_be_visible()
        expect(bob.locator("[data-conn-banner]")).to_be_hidden()

        # A reload keeps everything; the private channel never shows up for Bob.
        bob.reload()
        kept = message(bob, "great to meet you")
        expect(kept).to_be_visible()
        expect(kept.locator("[data-react='🎉']")).to_contain_text("1")
        expect(message(bob, "Hello from alice 😄")).to_be_visible()
        assert "staff-room" not in bob.content()
        bob.keyboard.press("Control+k")
        expect(bob.locator("[data-switcher-results] li").first).to_be_visible()
        assert "staff-room" not in bob.locator("[data-switcher-results]").inner_text()
        shot(bob, "08-switcher")
        bob.keyboard.press("Escape")

        share_pictures(alice, bob, expect)
        hunt_history(node, alice, bob, general_url, expect)

        # Light theme, remembered across a reload; and a phone-width layout.
        alice.click("[data-theme-toggle]")
        alice.reload()
        expect(alice.locator("html")).to_have_attribute("data-theme", "light")
        shot(alice, "09-channel-light")
        phone = bob_ctx.new_page()
        phone.set_viewport_size({"width": 390, "height": 844})
        phone.goto(general_url)
        shot(phone, "10-phone")
        phone.click("[aria-label='Show channels']")
        shot(phone, "11-phone-channels")

        # Guild settings: a role with its permission editor, then a channel's overwrites.
        alice.click("[aria-label='Community settings']")
        alice.click("a:has-text('Roles')")
        alice.fill("#new-role-name", "Moderators")
        alice.click("button:has-text('Create role')")
        expect(alice.locator("#settings-title")).to_contain_text("Moderators")
        alice.check("input[name=hoist]")
        alice.get_by_label("Manage Messages", exact=True).check()
        alice.click("button:has-text('Save changes')")
        expect(alice.locator(".notice")).to_be_visible()
        shot(alice, "12-settings-role")
        settings_role_url = alice.url.split("?")[0]
        alice.click("a:text-is('Channels')")
        alice.click("[aria-label='Permissions of general']")
        shot(alice, "13-settings-overwrites")
        settings_channel_url = alice.url

        assert not problems, problems

        # Accessibility (axe-core goes in through DevTools: the context keeps the CSP).
        axe_ctx = browser.new_context(
            viewport={"width": 1280, "height": 800},
            storage_state=alice_ctx.storage_state(),
        )
        page = axe_ctx.new_page()
        for theme in ("dark", "light"):
            page.goto(node.url + "/app/start/")
            page.evaluate(f"() => localStorage.setItem('united-theme', '{theme}')")
            for url in (
                general_url,
                node.url + "/app/start/",
                invite_url,
                settings_role_url,
                settings_channel_url,
            ):
                page.goto(url)
                found = axe_violations(page, impacts=SERIOUS)
                assert not found, (theme, url, found)
            for screen in new_screens(page, general_url):
                if theme == "light":
                    shot(page, f"21-light-{screen.replace(' ', '-')}")
                found = axe_violations(page, impacts=SERIOUS)
                assert not found, (theme, screen, found)
        visitor = browser.new_context(bypass_csp=True).new_page()
        for url in (node.url + "/", node.url + "/register/?next=/app/"):
            visitor.goto(url)
            found = axe_violations(visitor)
            assert not found, (url, found)
        browser.close()
