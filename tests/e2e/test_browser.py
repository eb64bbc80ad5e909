"""Chromium (Playwright) against a live node: a person in the browser and a Python client
talk in an end-to-end encrypted DM both ways; the browser shows the lock, the safety number
(matching the Python library's), marks it verified, warns when it changes, shows a message it
cannot decrypt with the reason, and keeps its keys in IndexedDB wrapped by a non-extractable
key."""

from __future__ import annotations

import copy
import re

import pytest

from tests.browser import PASSWORD, bundle, launch, register  # noqa: F401  (bundle: a fixture)
from tests.nodes import services_mode
from united_client.e2e import primitives as c
from united_client.e2e.client import E2EClient, httpx_transport
from united_client.e2e.safety import account_key, safety_number

playwright = pytest.importorskip("playwright.sync_api")
# Everything it checks happens in the browser and the Python client; the node's database
# paths are covered in both modes by test_server.py. Run once to keep CI inside its budget.
pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(services_mode(), reason="browser E2E runs in the embedded mode"),
]


def tiny_png() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (3, 2), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


def ready(page, problems: list[str]) -> None:
    try:
        page.wait_for_selector("[data-e2e-pane][data-e2e-ready=true]", timeout=20000)
    except Exception:
        status = page.locator("[data-e2e-status]").inner_text()
        raise AssertionError(f"E2E page not ready: {status!r}; {problems}") from None


def test_browser_and_python_client_talk_end_to_end(node_factory, bundle):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    node = node_factory("e2e")
    base = node.url
    try:
        _journey(base, expect, sync_playwright)
        # Nothing the two said is in the node's log or (embedded mode) its database files,
        # WAL included; the node had the ciphertext of all of it.
        said = [
            "hello from python",
            "hello from the browser",
            "second from python",
            "to both of your devices",
            "attachment plaintext from the browser",
        ]
        log = node.log()
        files = [p.read_bytes() for p in (node.directory / "data").rglob("*") if p.is_file()]
        assert any(b"Crypto Club" in blob for blob in files)  # the scan does see the database
        for text in said:
            assert text not in log
            assert not any(text.encode() in blob for blob in files), text
    except Exception:
        print(node.log()[-6000:])
        raise


def _journey(base, expect, sync_playwright) -> None:
    alice_auth, bob_auth = register(base, "alice"), register(base, "bob")
    alice_http = httpx_transport(base, alice_auth["access_token"])
    bob_http = httpx_transport(base, bob_auth["access_token"])
    _, guild = bob_http("POST", "/api/v1/guilds", {"name": "Crypto Club"})
    _, channels = bob_http("GET", f"/api/v1/guilds/{guild['id']}/channels", None)
    text_channel = next(ch for ch in channels if ch["type"] == 0)
    _, invite = bob_http("POST", f"/api/v1/channels/{text_channel['id']}/invites", {})
    assert alice_http("POST", f"/api/v1/invites/{invite['code']}", {})[0] == 200
    bob = E2EClient(bob_http, bob_auth["user_id"])
    bob.register()
    channel = bob.open_dm(alice_auth["user_id"])
    problems: list[str] = []

    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_context().new_page()
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on(
            "console",
            # (a 404 from the first device-list lookup is expected and logged by Chromium)
            lambda m: (
                problems.append(m.text)
                if m.type == "error" and "Failed to load resource" not in m.text
                else None
            ),
        )
        page.goto(f"{base}/login/")
        page.fill("#id_username", "alice")
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r".*/app/.*"))
        page.goto(f"{base}/app/dms/")
        expect(page.locator(f"[data-dm-link='{channel}']")).to_contain_text("bob")
        page.click(f"[data-dm-link='{channel}']")
        ready(page, problems)
        expect(page.locator(".e2e-lock")).to_be_visible()
        page.wait_for_function(
            "() => window.unitedGateway && window.unitedGateway.state === 'connected'"
        )

        # Python → browser (live over the gateway), browser → Python.
        bob.send(channel, [alice_auth["user_id"]], "hello from python")
        expect(page.locator("[data-message]", has_text="hello from python")).to_be_visible()
        page.fill("#composer-input", "hello from the browser")
        page.keyboard.press("Enter")
        expect(page.locator("[data-message]", has_text="hello from the browser")).to_be_visible()
        assert bob.read(channel) == ["hello from the browser"]
        bob.send(channel, [alice_auth["user_id"]], "second from python")
        expect(page.locator("[data-message]", has_text="second from python")).to_be_visible()

        # Safety number: the same 60 digits the Python library computes; QR; verify.
        page.click("[data-safety-open]")
        expect(page.locator("[data-safety-number]")).to_have_text(
            re.compile(r"^(\d{5} ){11}\d{5}$")
        )
        shown = page.locator("[data-safety-number]").inner_text().replace(" ", "")
        pins = bob.device.pins
        expected = safety_number(
            account_key(pins[bob.user_id].devices),
            bob.user_id,
            account_key(pins[alice_auth["user_id"]].devices),
            alice_auth["user_id"],
        )
        assert shown == expected and len(shown) == 60
        expect(page.locator("[data-safety-qr] svg")).to_be_visible()
        page.click("[data-safety-verify]")
        expect(page.locator("[data-e2e-verified]")).to_be_visible()

        # A message the browser cannot decrypt: a clear state with the reason, no crash.
        alice_device = next(iter(pins[alice_auth["user_id"]].devices))
        env = bob.device.encrypt(
            channel,
            [(alice_auth["user_id"], alice_device)],
            {"type": "message", "id": "x", "content": "tampered one"},
        )
        bad = copy.deepcopy(env)
        raw = bytearray(c.unb64(bad["copies"][0]["ciphertext"]))
        raw[3] ^= 0x40
        bad["copies"][0]["ciphertext"] = c.b64(bytes(raw))
        assert bob_http("POST", f"/api/v1/channels/{channel}/envelopes", bad)[0] == 201
        broken = page.locator("[data-undecryptable='tampered']")
        expect(broken).to_contain_text("could not be decrypted")
        bob.send(channel, [alice_auth["user_id"]], "still fine after that")
        expect(page.locator("[data-message]", has_text="still fine after that")).to_be_visible()

        # Encrypted attachments both ways (secretstream; key and hash inside the message).
        bob.send_file(channel, [alice_auth["user_id"]], "dot.png", tiny_png(), "image/png")
        page.click("[data-e2e-attachment]")
        image = page.locator("img.e2e-image[alt='dot.png']")
        expect(image).to_be_visible()
        assert image.evaluate("img => img.naturalWidth") == 3
        secret_file = b"attachment plaintext from the browser " * 3000
        page.set_input_files(
            "[data-e2e-file]",
            files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": secret_file}],
        )
        # (the picture opened above stays open: its box, not its button, is counted)
        page.wait_for_function("() => document.querySelectorAll('.e2e-attachment').length === 2")
        [opened] = bob.receive(channel)
        [attachment] = opened.payload["attachments"]
        assert attachment["name"] == "notes.txt" and bob.fetch_file(attachment) == secret_file

        # Bob adds a device (signed by his first one): alice's safety number changes → warning.
        bob2 = E2EClient(bob_http, bob.user_id)
        bob2.register("laptop")
        bob.approve_device(bob2.device.device_id, bob2.device.identity_pub)
        page.reload()
        ready(page, problems)
        expect(page.locator("[data-e2e-warning]")).to_contain_text("safety number")
        expect(page.locator("[data-e2e-verified]")).to_be_hidden()
        # History survived the reload (kept encrypted in IndexedDB), and both bob devices
        # get the next message.
        expect(page.locator("[data-message]", has_text="hello from python")).to_be_visible()
        page.fill("#composer-input", "to both of your devices")
        page.keyboard.press("Enter")
        expect(page.locator("[data-message]", has_text="to both of your devices")).to_be_visible()
        assert bob2.read(channel) == ["to both of your devices"]
        assert bob.read(channel) == ["to both of your devices"]

        # The stored state is ciphertext under a key the page cannot export.
        stored = page.evaluate(
            """async (uid) => {
              const db = await new Promise((ok, no) => {
                const r = indexedDB.open("united-e2e");
                r.onsuccess = () => ok(r.result); r.onerror = no;
              });
              const get = (k) => new Promise((ok) => {
                const r = db.transaction("kv").objectStore("kv").get(k);
                r.onsuccess = () => ok(r.result);
              });
              const wrap = await get("wrap-key");
              const rec = await get("state:" + uid);
              const bytes = new Uint8Array(rec.ciphertext);
              return {
                extractable: wrap.extractable, type: wrap.type, alg: wrap.algorithm.name,
                keys: Object.keys(rec).sort(), size: bytes.length,
                text: new TextDecoder("latin1").decode(bytes),
              };
            }""",
            alice_auth["user_id"],
        )
        assert stored["extractable"] is False and stored["alg"] == "AES-GCM"
        assert stored["keys"] == ["ciphertext", "iv"] and stored["size"] > 1000
        assert "hello from python" not in stored["text"] and "identity" not in stored["text"]
        browser.close()
    assert problems == []
