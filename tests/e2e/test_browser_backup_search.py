"""Chromium (Playwright) against a live node, with a Python client on the other side:
- local search in the DM view over this browser's decrypted history (results highlighted,
  click scrolls to the message), with no trace of the query on the node;
- key backup enabled in the browser from the recovery phrase (the Python library opens it:
  same format), then restored on a fresh browser profile: same identity key, a device list
  signed by the recovery key, the old device retired, and messages flow both ways after;
- approving another device of the account (a Python client) from the browser: the key shown
  matches, the next list is signed by the browser's device, and the new device receives."""

from __future__ import annotations

import re

import pytest
from mnemonic import Mnemonic

from tests.browser import PASSWORD, bundle, launch, register  # noqa: F401  (bundle: a fixture)
from tests.e2e.test_browser import ready
from tests.nodes import services_mode
from united_client.e2e import backup
from united_client.e2e import primitives as c
from united_client.e2e.client import E2EClient, httpx_transport
from united_client.e2e.devicelist import parse

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(services_mode(), reason="browser E2E runs in the embedded mode"),
]

TERM = "quokka"  # only ever inside an encrypted message and the browser's search box


def sign_in(context, base: str, channel: str, problems: list[str]):
    page = context.new_page()
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on(
        "console",
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
    page.goto(f"{base}/app/dms/{channel}/")
    ready(page, problems)
    page.wait_for_function(
        "() => window.unitedGateway && window.unitedGateway.state === 'connected'"
    )
    return page


def test_local_search_and_key_backup_restore_in_the_browser(node_factory, bundle):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    node = node_factory("e2e-extras")
    base = node.url
    phrase = Mnemonic("english").generate(128)
    alice_auth = register(
        base, "alice", recovery_public_key=c.b64(backup.recovery_keypair(phrase)[1])
    )
    bob_auth = register(base, "bob")
    alice_id = alice_auth["user_id"]
    alice_http = httpx_transport(base, alice_auth["access_token"])
    bob_http = httpx_transport(base, bob_auth["access_token"])
    _, guild = bob_http("POST", "/api/v1/guilds", {"name": "Search Club"})
    _, channels = bob_http("GET", f"/api/v1/guilds/{guild['id']}/channels", None)
    text_channel = next(ch for ch in channels if ch["type"] == 0)
    _, invite = bob_http("POST", f"/api/v1/channels/{text_channel['id']}/invites", {})
    assert alice_http("POST", f"/api/v1/invites/{invite['code']}", {})[0] == 200
    bob = E2EClient(bob_http, bob_auth["user_id"])
    bob.register()
    channel = bob.open_dm(alice_id)
    problems: list[str] = []
    try:
        with sync_playwright() as p:
            browser = launch(p)
            page = sign_in(browser.new_context(), base, channel, problems)

            # --- local search ------------------------------------------------------------
            bob.send(channel, [alice_id], f"The {TERM.capitalize()} left at dawn")
            for i in range(25):  # enough rows that the hit is scrolled out of view
                bob.send(channel, [alice_id], f"filler message {i}")
            expect(page.locator("[data-message]", has_text="filler message 24")).to_be_visible()
            hit_row = page.locator("[data-message]", has_text="left at dawn")
            assert not hit_row.evaluate(
                "el => { const r = el.getBoundingClientRect(); "
                "const s = el.closest('[data-scroller]').getBoundingClientRect(); "
                "return r.bottom > s.top && r.top < s.bottom; }"
            )
            page.fill("[data-e2e-search]", TERM.upper())
            expect(page.locator("[data-e2e-results-count]")).to_have_text(
                "1 message found on this device"
            )
            result = page.locator("[data-e2e-result]")
            expect(result).to_have_count(1)
            expect(result.locator("mark")).to_have_text(TERM.capitalize())
            expect(hit_row.locator("mark")).to_have_text(TERM.capitalize())
            result.click()
            expect(hit_row).to_have_class(re.compile(r"\be2e-hit\b"))
            expect(hit_row).to_be_in_viewport()
            expect(hit_row).to_be_focused()
            page.fill("[data-e2e-search]", "filler 2")  # every word must match
            expect(page.locator("[data-e2e-result]")).to_have_count(7)  # 2, 12, 20–24
            page.fill("[data-e2e-search]", "zebra")
            expect(page.locator("[data-e2e-results-count]")).to_have_text(
                "No messages on this device match."
            )
            page.press("[data-e2e-search]", "Escape")
            expect(page.locator("[data-e2e-results]")).to_be_hidden()

            # --- key backup from the browser ----------------------------------------------
            page.click("[data-backup-open]")
            expect(page.locator("[data-backup-state]")).to_contain_text("no key backup yet")
            page.fill("[data-backup-phrase]", "not a phrase at all")
            page.click("[data-backup-enable]")
            expect(page.locator("[data-backup-error]")).to_have_text(
                "That is not a valid recovery phrase."
            )
            page.fill("[data-backup-phrase]", Mnemonic("english").generate(128))
            page.click("[data-backup-enable]")
            expect(page.locator("[data-backup-error]")).to_have_text(
                "That is not this account's recovery phrase."
            )
            assert alice_http("GET", "/api/v1/users/@me/e2e-backup", None)[0] == 404
            page.fill("[data-backup-phrase]", phrase)
            page.click("[data-backup-enable]")
            expect(page.locator("[data-backup-done]")).to_contain_text("Backed up")
            page.click("#backup-dialog [data-dialog-close]")

            # The Python library opens the browser's backup: the same identity key.
            status, sealed = alice_http("GET", "/api/v1/users/@me/e2e-backup", None)
            assert status == 200
            seed = backup.open_backup(phrase, alice_id, sealed)
            _, listed_wire = alice_http("GET", f"/api/v1/users/{alice_id}/device-list", None)
            before = parse(listed_wire)
            assert before.version == 2 and before.signer != "recovery"
            assert before.recovery_key == backup.recovery_keypair(phrase)[1]
            [(old_device, identity)] = before.devices.items()
            assert c.ed25519_keypair(seed)[1] == identity

            # Bob pins the list naming the recovery key (a contact must see it before the
            # restored list, signed by that key, or he refuses the change: docs/e2e.md).
            bob.send(channel, [alice_id], "noted your backup")
            expect(page.locator("[data-message]", has_text="noted your backup")).to_be_visible()
            assert bob.device.pins[alice_id].version == 2

            # --- restore on a fresh browser profile ---------------------------------------
            page2 = sign_in(browser.new_context(), base, channel, problems)
            expect(page2.locator("[data-e2e-warning]")).to_contain_text(
                "not on your signed device list"
            )
            page2.click("[data-backup-open]")
            expect(page2.locator("[data-backup-state]")).to_contain_text("has a key backup")
            page2.fill("[data-backup-phrase]", phrase)
            page2.click("[data-backup-restore]")
            expect(page2.locator("[data-backup-done]")).to_contain_text("Restored")
            page2.click("#backup-dialog [data-dialog-close]")
            _, wire = alice_http("GET", f"/api/v1/users/{alice_id}/device-list", None)
            after = parse(wire)
            assert after.version == 3 and after.signer == "recovery"
            [(new_device, new_identity)] = after.devices.items()
            assert new_device != old_device and new_identity == identity
            _, devices = alice_http("GET", "/api/v1/users/@me/devices", None)
            ids = {d["id"] for d in devices}
            assert new_device in ids and old_device not in ids  # the old device is retired

            # Bob accepts the recovery-signed list (his pin names the recovery key); the
            # safety number is unchanged, and messages flow both ways.
            bob.send(channel, [alice_id], "after the restore")
            expect(page2.locator("[data-message]", has_text="after the restore")).to_be_visible()
            page2.fill("#composer-input", "restored browser says hi")
            page2.keyboard.press("Enter")
            expect(
                page2.locator("[data-message]", has_text="restored browser says hi")
            ).to_be_visible()
            assert bob.read(channel) == ["restored browser says hi"]
            assert bob.device.pins[alice_id].version == 3

            # --- approving another device of the account from the browser ------------------
            phone = E2EClient(alice_http, alice_id)
            phone.register("phone")
            bob.send(channel, [alice_id], "before the approval")  # the phone is not listed
            assert any("not on the signed device list" in w for w in bob.warnings)
            page2.click("[data-backup-open]")
            pending = page2.locator(f"[data-pending-device='{phone.device.device_id}']")
            key_hex = phone.device.identity_pub.hex()
            shown = " ".join(key_hex[i : i + 4] for i in range(0, 64, 4))
            expect(pending).to_contain_text("phone")
            expect(pending.locator("code")).to_have_text(shown)
            expect(page2.locator("[data-own-fingerprint]")).to_have_text(
                " ".join(identity.hex()[i : i + 4] for i in range(0, 64, 4))
            )
            pending.locator("[data-approve-device]").click()
            expect(page2.locator("[data-pending-devices]")).to_contain_text(
                "All your devices are on your signed device list."
            )
            page2.click("#backup-dialog [data-dialog-close]")
            _, wire = alice_http("GET", f"/api/v1/users/{alice_id}/device-list", None)
            approved = parse(wire)
            assert approved.version == 4 and approved.signer == new_device
            assert approved.devices == {
                new_device: identity,
                phone.device.device_id: phone.device.identity_pub,
            }
            assert approved.recovery_key == backup.recovery_keypair(phrase)[1]
            bob.send(channel, [alice_id], "to the phone too")
            assert phone.read(channel) == ["to the phone too"]
            expect(page2.locator("[data-message]", has_text="to the phone too")).to_be_visible()
            browser.close()
        assert problems == []
        # The node saw neither the search term nor the phrase: not in its request log, not
        # in its database files (WAL included).
        log = node.log().lower()
        files = [
            p.read_bytes().lower() for p in (node.directory / "data").rglob("*") if p.is_file()
        ]
        assert any(b"search club" in blob for blob in files)
        for secret in (TERM, "zebra", "filler 2", phrase.split()[0] + " " + phrase.split()[1]):
            assert secret not in log, secret
            assert not any(secret.encode() in blob for blob in files), secret
    except Exception:
        print(node.log()[-6000:])
        raise
