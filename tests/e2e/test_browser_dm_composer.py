"""The encrypted DM composer at the channels' standard, in Chromium against a live node, alice
and bob in two browser contexts (issue 22 item 6): alice's draft in her DM with bob survives a
visit to a guild channel and a reload, kept only in her device's encrypted state (not in
localStorage, not in any request); sending clears it; Up-arrow edits her last message and bob
sees the new text marked "(edited)" live; a message she deletes disappears from bob's screen;
a picture pasted into the box arrives encrypted and bob opens it; her history backup holds
the edit and the deletion. Afterwards nothing the two said is in the node's database files or
its log."""

from __future__ import annotations

import base64
import json
import os

import pytest
from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_decrypt

from tests.browser import axe_violations, bundle, launch, register  # noqa: F401  (bundle: a fixture)
from tests.e2e.test_browser import tiny_png
from tests.e2e.test_browser_dm_layout import ready_dm, send
from tests.e2e.test_browser_first_contact import api, sign_in, watch
from tests.nodes import services_mode
from tests.web.test_browser import PASTE_JS, files

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(services_mode(), reason="browser E2E runs in the embedded mode"),
]

DRAFT = "Half a thought about the lighthouse trip"
MORE = " and the ferry times"
EDITED = "The lighthouse trip is on Saturday"
DOOMED = "Ignore this, wrong conversation"
SAID = [DRAFT, DRAFT + MORE, EDITED, DOOMED]


def settled(page) -> None:
    """Waits until every queued change of the DM page's device state is saved (IndexedDB)."""
    page.evaluate("() => window.unitedE2E.queue")


def local_storage(page) -> str:
    return page.evaluate(
        "() => Object.keys(localStorage).map((k) => k + '=' + localStorage.getItem(k)).join('\\n')"
    )


def backed_up_rows(client, user_id: str, key: bytes) -> list[dict]:
    """Every row of the account's history backup chunks, opened as docs/e2e.md says."""
    rows = []
    for chunk in client.get("/api/v1/users/@me/e2e-history").json():
        plain = crypto_aead_xchacha20poly1305_ietf_decrypt(
            base64.b64decode(chunk["ciphertext"]),
            f"UNITED_E2E_history_v1\n{user_id}\n{chunk['name']}".encode(),
            base64.b64decode(chunk["nonce"]),
            key,
        )
        rows += json.loads(plain)["rows"]
    return rows


def test_dm_composer_drafts_edits_deletes_and_pasted_pictures(node_factory, bundle):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    node = node_factory("dmcomposer")
    base = node.url
    alice_auth, bob_auth = register(base, "alice"), register(base, "bob")
    alice, bob = api(base, alice_auth["access_token"]), api(base, bob_auth["access_token"])
    guild = alice.post("/api/v1/guilds", json={"name": "Harbour Walkers"}).json()
    text = next(
        c for c in alice.get(f"/api/v1/guilds/{guild['id']}/channels").json() if c["type"] == 0
    )
    code = alice.post(f"/api/v1/channels/{text['id']}/invites", json={}).json()["code"]
    assert bob.post(f"/api/v1/invites/{code}", json={}).status_code == 200
    dm = alice.post("/api/v1/users/@me/channels", json={"recipient_id": bob_auth["user_id"]}).json()
    conversation = f"{base}/app/dms/{dm['id']}/"
    history_key = os.urandom(32)
    problems: list[str] = []
    sent: list[str] = []  # every request alice's browser makes: its URL and body

    def capture(request) -> None:
        body = request.post_data_buffer or b""
        sent.append(request.url + "\n" + body.decode("utf-8", "replace"))

    try:
        with sync_playwright() as p:
            browser = launch(p)
            a = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
            b = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
            watch(a, problems)
            watch(b, problems)
            a.on("request", capture)
            sign_in(b, base, "bob")
            b.goto(conversation)
            ready_dm(b)
            sign_in(a, base, "alice")
            a.goto(conversation)
            ready_dm(a)
            # Alice's browser keeps the history backup (as after typing her recovery phrase).
            a.evaluate(
                "(k) => window.unitedE2E.serial(() => {"
                " window.unitedE2E.state.historyKey = k; return window.unitedE2E.save(); })",
                base64.b64encode(history_key).decode(),
            )

            # A draft survives a guild channel and a reload.
            box = a.locator("#composer-input")
            box.fill(DRAFT)
            box.press_sequentially(MORE)
            settled(a)
            a.goto(f"{base}/app/guilds/{guild['id']}/channels/{text['id']}/")
            expect(a.locator("#composer-input")).to_be_visible()
            a.goto(conversation)
            ready_dm(a)
            expect(box).to_have_value(DRAFT + MORE)
            a.reload()
            ready_dm(a)
            expect(box).to_have_value(DRAFT + MORE)
            # Kept only in the encrypted device state: not in localStorage, never sent.
            assert DRAFT not in local_storage(a)
            assert not [r for r in sent if DRAFT in r or "lighthouse" in r]

            # Sent, it is cleared, and stays cleared after a reload.
            box.fill(DRAFT)
            box.press("Enter")
            expect(b.locator("[data-message]", has_text=DRAFT)).to_be_visible(timeout=20000)
            expect(box).to_have_value("")
            settled(a)
            a.reload()
            ready_dm(a)
            expect(box).to_have_value("")
            assert dm["id"] not in a.evaluate("() => window.unitedE2E.state.drafts || {}")

            # Up in the empty box edits the last message; the edit box passes axe.
            box.focus()
            a.keyboard.press("ArrowUp")
            editor = a.locator("[data-e2e-edit] textarea")
            expect(editor).to_be_focused()
            expect(editor).to_have_value(DRAFT)
            assert axe_violations(a) == []
            a.keyboard.press("Escape")  # Escape cancels
            expect(editor).to_have_count(0)
            expect(box).to_be_focused()
            a.keyboard.press("ArrowUp")
            editor.fill(EDITED)
            editor.press("Enter")
            expect(editor).to_have_count(0)
            mine = a.locator("[data-message]", has_text=EDITED)
            expect(mine.locator(".edited")).to_have_text("(edited)")
            theirs = b.locator("[data-message]", has_text=EDITED)
            expect(theirs.locator(".edited")).to_have_text("(edited)", timeout=20000)
            expect(b.locator("[data-message]", has_text=DRAFT)).to_have_count(0)

            # Only one's own sent messages have Edit and Delete.
            expect(theirs.locator("[data-e2e-action=edit]")).to_have_count(0)
            send(a, DOOMED)
            doomed = a.locator("[data-message]", has_text=DOOMED)
            expect(b.locator("[data-message]", has_text=DOOMED)).to_be_visible(timeout=20000)
            doomed.hover()
            doomed.locator("[data-e2e-action=delete]").click()
            expect(doomed).to_have_count(0)
            expect(b.locator("[data-message]", has_text=DOOMED)).to_have_count(0, timeout=20000)
            expect(b.locator("[data-message]", has_text=EDITED)).to_be_visible()

            # A pasted picture goes encrypted; bob decrypts and sees it.
            pasted = files(a, ("harbour.png", "image/png", tiny_png()))
            box.evaluate(PASTE_JS, pasted)
            b.locator("[data-e2e-attachment]").click()
            picture = b.locator("img.e2e-image[alt='harbour.png']")
            expect(picture).to_be_visible(timeout=20000)
            assert picture.evaluate("img => img.naturalWidth") == 3

            # The history backup holds the edit and the deletion, not what was there before.
            settled(a)
            rows = backed_up_rows(alice, alice_auth["user_id"], history_key)
            [edited] = [r for r in rows if r.get("text") == EDITED]
            assert edited["edited"] is True
            [gone] = [r for r in rows if r.get("deleted")]
            assert gone["text"] is None and gone["attachments"] == []
            assert not [r for r in rows if r.get("text") in (DRAFT, DOOMED)]
            assert any(r.get("attachments") for r in rows)  # the pasted picture

            # The edit and the delete hold after a reload on both sides (device state).
            for page in (a, b):
                settled(page)
                page.reload()
                ready_dm(page)
                expect(page.locator("[data-message]", has_text=EDITED)).to_be_visible()
                expect(page.locator("[data-message]", has_text=DOOMED)).to_have_count(0)
            assert not [r for r in sent if any(s in r for s in SAID)]
            browser.close()

        log = node.log()
        blobs = [p.read_bytes() for p in (node.directory / "data").rglob("*") if p.is_file()]
        assert any(b"Harbour Walkers" in blob for blob in blobs)  # the scan does see the database
        for said in SAID:
            assert said not in log, said
            assert not any(said.encode() in blob for blob in blobs), said
        assert [m for m in problems if "Failed to load resource" not in m] == []
    except Exception:
        print(node.log()[-6000:])
        raise
