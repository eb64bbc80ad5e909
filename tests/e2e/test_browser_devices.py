"""Chromium (Playwright) against a live node, several browser contexts, no Python client on
the other side:
- a first DM to a member who has no device at all (an account used only through the API):
  the sender is told in plain words, the message waits on her device through a reload, and
  it is delivered by itself, once, when the recipient first signs in in a browser; a reply
  that has to wait keeps its quote and its waiting mark through a reload, in the DM layout;
- a second browser of bob is approved from his first (both show the same code), the signed
  device list names both, and alice's next DM reaches both; removing it in Security settings
  takes it off the list and it receives nothing after; a third browser restores from the
  recovery phrase and shows the earlier DMs (the encrypted history backup);
- none of the DM plaintexts is in the node's database files (WAL included) or its log."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from mnemonic import Mnemonic

from tests.browser import PASSWORD, bundle, launch, register  # noqa: F401  (bundle: a fixture)
from tests.e2e.test_browser import ready
from tests.nodes import services_mode
from united_client.e2e import backup
from united_client.e2e import primitives as c
from united_client.e2e.devicelist import parse

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(services_mode(), reason="browser E2E runs in the embedded mode"),
]

WAITING = "kept until carol has a device"
AGAIN = "and this one waits for her next device"
EARLIER_A = "an earlier word from alice"
EARLIER_B = "an earlier answer from bob"
TO_BOTH = "this reaches both of bob's browsers"
AFTER_REVOKE = "the removed browser must not get this"
AFTER_RESTORE = "hello to the restored browser"


def watch(page, problems: list[str]) -> None:
    page.on("pageerror", lambda e: problems.append(str(e)))
    # A 404 for someone's device list is how "no device yet" reads; the browser logs it.
    page.on(
        "console",
        lambda m: (
            problems.append(m.text)
            if m.type == "error" and "Failed to load resource" not in m.text
            else None
        ),
    )


def sign_in(browser, base: str, username: str, problems: list[str]):
    page = browser.new_context().new_page()
    watch(page, problems)
    page.goto(f"{base}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/app/.*"))
    return page


def open_dm(page, base: str, user_id: str, problems: list[str]) -> str:
    page.goto(f"{base}/app/dms/")
    page.click("[data-new-dm-open]")
    page.click(f"[data-new-dm-person='{user_id}']")
    page.wait_for_url(re.compile(r".*/app/dms/\d+/$"))
    ready(page, problems)
    page.wait_for_function(
        "() => window.unitedGateway && window.unitedGateway.state === 'connected'"
    )
    return page.url


def goto_dm(page, url: str, problems: list[str]) -> None:
    page.goto(url)
    ready(page, problems)
    page.wait_for_function(
        "() => window.unitedGateway && window.unitedGateway.state === 'connected'"
    )


def say(page, text: str) -> None:
    page.fill("#composer-input", text)
    page.keyboard.press("Enter")


def api(base: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=10)


def share_a_guild(owner: httpx.Client, *others: httpx.Client) -> None:
    guild = owner.post("/api/v1/guilds", json={"name": "Porch"}).json()
    channels = owner.get(f"/api/v1/guilds/{guild['id']}/channels").json()
    channel = next(ch for ch in channels if ch["type"] == 0)
    code = owner.post(f"/api/v1/channels/{channel['id']}/invites", json={}).json()["code"]
    for other in others:
        assert other.post(f"/api/v1/invites/{code}", json={}).status_code == 200


def counts(node, channel_id: str) -> dict:
    """What the node stored for one DM: envelopes, and copies per device."""
    out = node.python(
        "import json\n"
        "from e2e.models import Envelope, EnvelopeCopy\n"
        f"ch = {int(channel_id)}\n"
        "copies = {}\n"
        "for d in EnvelopeCopy.objects.filter(envelope__channel_id=ch)"
        ".values_list('device_id', flat=True):\n"
        "    copies[str(d)] = copies.get(str(d), 0) + 1\n"
        "print(json.dumps({'envelopes': Envelope.objects.filter(channel_id=ch).count(),"
        " 'copies': copies}))\n"
    )
    return json.loads(out)


def assert_no_plaintext(node, said: list[str]) -> None:
    log = node.log()
    files = [p.read_bytes() for p in (node.directory / "data").rglob("*") if p.is_file()]
    assert any(b"Porch" in blob for blob in files)  # the scan does see the database
    for text in said:
        assert text not in log, text
        assert not any(text.encode() in blob for blob in files), text


def test_a_dm_to_someone_with_no_device_waits_then_arrives_once(node_factory, bundle):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    node = node_factory("waiting")
    base = node.url
    alice_auth, carol_auth = register(base, "alice"), register(base, "carol")
    alice, carol = api(base, alice_auth["access_token"]), api(base, carol_auth["access_token"])
    share_a_guild(alice, carol)
    assert carol.get("/api/v1/users/@me/devices").json() == []  # an account made by the API
    problems: list[str] = []
    try:
        with sync_playwright() as p:
            browser = launch(p)
            alice_page = sign_in(browser, base, "alice", problems)
            dm_url = open_dm(alice_page, base, carol_auth["user_id"], problems)
            channel_id = dm_url.rstrip("/").rsplit("/", 1)[1]
            say(alice_page, WAITING)
            notice = alice_page.locator("[data-e2e-waiting]")
            expect(notice).to_have_text(
                "carol has not signed in on a device that can receive encrypted messages "
                "yet; your message will be sent when they do.",
                timeout=20000,
            )
            row = alice_page.locator("[data-message]", has_text=WAITING)
            expect(row.locator("[data-e2e-pending=waiting]")).to_have_text(
                "⏳ Waiting for carol's device"
            )
            expect(alice_page.locator("[data-composer-error]")).to_be_hidden()
            assert counts(node, channel_id)["envelopes"] == 0  # it never left her browser

            # A reload keeps it, still waiting (it is in her browser's encrypted state).
            alice_page.reload()
            ready(alice_page, problems)
            expect(row).to_have_count(1)
            expect(row.locator("[data-e2e-pending=waiting]")).to_be_visible()
            expect(notice).to_be_visible()

            # Carol signs in for the first time: her browser makes its device, and alice's
            # page sends the message by itself.
            carol_page = sign_in(browser, base, "carol", problems)
            carol_page.wait_for_selector("html[data-e2e-device=ready]", timeout=20000)
            expect(row.locator("[data-e2e-pending]")).to_have_count(0, timeout=20000)
            expect(notice).to_be_hidden()
            carol_page.goto(f"{base}/app/dms/")
            carol_page.locator("[data-dm-link]", has_text="alice").click()
            ready(carol_page, problems)
            got = carol_page.locator("[data-message]", has_text=WAITING)
            expect(got).to_have_count(1, timeout=20000)
            expect(got.locator(".msg-author")).to_have_text("alice")

            # Exactly once, on the node and on both screens, also after a reload of each.
            alice_page.reload()
            ready(alice_page, problems)
            carol_page.reload()
            ready(carol_page, problems)
            expect(row).to_have_count(1)
            expect(row.locator("[data-e2e-pending]")).to_have_count(0)
            expect(got).to_have_count(1)
            alice_page.wait_for_timeout(6000)  # a periodic re-check passes: nothing resent
            stored = counts(node, channel_id)
            (carol_device,) = carol.get("/api/v1/users/@me/devices").json()
            assert stored == {"envelopes": 1, "copies": {carol_device["id"]: 1}}

            # Carol's only device is removed through the API, which cannot sign her list: the
            # node refuses copies for it, and alice's next message waits again instead of
            # failing.
            carol_page.close()
            assert (
                carol.delete(f"/api/v1/users/@me/devices/{carol_device['id']}").status_code == 204
            )
            # It is a reply: it waits with its quote, in the conversation's layout, and
            # keeps both through a reload.
            row.hover()
            row.locator("[data-e2e-action=reply]").click()
            say(alice_page, AGAIN)
            again = alice_page.locator("[data-message]", has_text=AGAIN)
            expect(again.locator("[data-e2e-pending=waiting]")).to_have_text(
                "⏳ Waiting for carol's device", timeout=20000
            )
            expect(again.locator(".reply-ref")).to_contain_text(WAITING)
            expect(again.locator("[data-e2e-action=react]")).to_have_count(0)
            expect(notice).to_contain_text("carol has not signed in on a device")
            expect(alice_page.locator("[data-composer-error]")).to_be_hidden()
            alice_page.reload()
            ready(alice_page, problems)
            expect(again.locator(".reply-ref")).to_contain_text(WAITING)
            expect(again.locator("[data-e2e-pending=waiting]")).to_be_visible()
            # The DM list shows it as the last message, from the device state.
            expect(
                alice_page.locator(f"[data-dm-item='{channel_id}'] [data-dm-preview]")
            ).to_have_text(f"You: {AGAIN}")
            assert counts(node, channel_id)["envelopes"] == 1
            browser.close()
        assert problems == []
        assert_no_plaintext(node, [WAITING, AGAIN])
    except Exception:
        print(node.log()[-6000:])
        raise


def test_second_browser_approved_removed_and_history_restored(node_factory, bundle):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    node = node_factory("devices")
    base = node.url
    phrase = Mnemonic("english").generate(128)
    alice_auth = register(base, "alice")
    bob_auth = register(base, "bob", recovery_public_key=c.b64(backup.recovery_keypair(phrase)[1]))
    alice, bob = api(base, alice_auth["access_token"]), api(base, bob_auth["access_token"])
    share_a_guild(alice, bob)
    bob_id = bob_auth["user_id"]

    def bob_list():
        return parse(bob.get(f"/api/v1/users/{bob_id}/device-list").json())

    problems: list[str] = []
    try:
        with sync_playwright() as p:
            browser = launch(p)
            # Bob's first browser: on the list from birth; he turns the backup on.
            bob1 = sign_in(browser, base, "bob", problems)
            dm_url = open_dm(bob1, base, alice_auth["user_id"], problems)
            channel_id = dm_url.rstrip("/").rsplit("/", 1)[1]
            bob1.click("[data-backup-open]")
            bob1.fill("[data-backup-phrase]", phrase)
            bob1.click("[data-backup-enable]")
            expect(bob1.locator("[data-backup-done]")).to_contain_text("Backed up")
            bob1.click("#backup-dialog [data-dialog-close]")
            (first,) = bob_list().devices

            alice_page = sign_in(browser, base, "alice", problems)
            goto_dm(alice_page, dm_url, problems)
            say(alice_page, EARLIER_A)
            expect(bob1.locator("[data-message]", has_text=EARLIER_A)).to_be_visible(timeout=20000)
            say(bob1, EARLIER_B)
            expect(alice_page.locator("[data-message]", has_text=EARLIER_B)).to_be_visible(
                timeout=20000
            )

            # A second browser: not on the list, it shows a code; the first shows a request
            # for it with the same code, and approving signs a list naming both.
            bob2 = sign_in(browser, base, "bob", problems)
            goto_dm(bob2, dm_url, problems)
            own_code = bob2.locator("[data-e2e-own-code]")
            expect(own_code).to_have_text(re.compile(r"^\d{4} \d{4} \d{4}$"))
            (second,) = [d for d in bob.get("/api/v1/users/@me/devices").json() if d["id"] != first]
            request = bob1.locator(f"[data-approval-request='{second['id']}']")
            expect(request).to_be_visible(timeout=20000)
            expect(request.locator("[data-approval-code]")).to_have_text(own_code.inner_text())
            request.locator("[data-approve-request]").click()
            expect(bob1.locator("[data-approval-done]")).to_contain_text("Approved")
            approved = bob_list()
            assert set(approved.devices) == {first, second["id"]}
            assert approved.signer == first
            assert approved.recovery_key == backup.recovery_keypair(phrase)[1]
            expect(bob2.locator("[data-e2e-status]")).to_contain_text(
                "now on your signed device list", timeout=20000
            )
            expect(bob2.locator("[data-e2e-warning]")).to_be_hidden()

            say(alice_page, TO_BOTH)
            for page in (bob1, bob2):
                expect(page.locator("[data-message]", has_text=TO_BOTH)).to_be_visible(
                    timeout=20000
                )

            # Security settings list both browsers with when they were last seen; removing
            # the second takes it off the signed list, and it receives nothing after.
            bob1.goto(f"{base}/settings/security/")
            bob1.wait_for_selector("[data-e2e-devices][data-e2e-devices-ready=true]")
            row2 = bob1.locator(f"[data-device-row='{second['id']}']")
            expect(row2).to_contain_text("last seen")
            expect(row2.locator("[data-device-status]")).to_have_text(
                "(on your signed device list)"
            )
            expect(bob1.locator(f"[data-device-row='{first}'] [data-device-status]")).to_have_text(
                "(this browser, on your signed device list)"
            )
            row2.locator("button[type=submit]").click()
            expect(bob1.locator(f"[data-device-row='{second['id']}']")).to_have_count(0)
            after_removal = bob_list()
            assert set(after_removal.devices) == {first} and after_removal.signer == first
            copies_before = counts(node, channel_id)["copies"].get(second["id"], 0)
            goto_dm(bob1, dm_url, problems)
            say(alice_page, AFTER_REVOKE)
            expect(bob1.locator("[data-message]", has_text=AFTER_REVOKE)).to_be_visible(
                timeout=20000
            )
            expect(alice_page.locator("[data-composer-error]")).to_be_hidden()
            assert counts(node, channel_id)["copies"].get(second["id"], 0) == copies_before
            expect(bob2.locator("[data-message]", has_text=AFTER_REVOKE)).to_have_count(0)
            # (Their sessions end with the restore below, which retires their devices.)
            bob1.close()
            bob2.close()

            # A third browser restores from the recovery phrase: the earlier DMs come back.
            bob3 = sign_in(browser, base, "bob", problems)
            goto_dm(bob3, dm_url, problems)
            expect(bob3.locator("[data-message]", has_text=EARLIER_A)).to_have_count(0)
            bob3.click("[data-backup-open]")
            bob3.fill("[data-backup-phrase]", phrase)
            bob3.click("[data-backup-restore]")
            expect(bob3.locator("[data-backup-done]")).to_contain_text(
                "4 earlier messages came back from your history backup", timeout=20000
            )
            bob3.click("#backup-dialog [data-dialog-close]")
            for text in (EARLIER_A, EARLIER_B, TO_BOTH, AFTER_REVOKE):
                expect(bob3.locator("[data-message]", has_text=text)).to_have_count(1)
            authors = bob3.locator("[data-message]").evaluate_all(
                "rows => rows.map((r) => r.dataset.authorId)"
            )
            alice_id = alice_auth["user_id"]
            assert authors == [alice_id, bob_id, alice_id, alice_id]
            say(alice_page, AFTER_RESTORE)
            expect(bob3.locator("[data-message]", has_text=AFTER_RESTORE)).to_be_visible(
                timeout=20000
            )
            browser.close()
        assert problems == []
        # The node kept the history backup as ciphertext only, in chunks it cannot name.
        chunks = json.loads(
            node.python(
                "import json\nfrom e2e.models import HistoryChunk\n"
                "print(json.dumps(list(HistoryChunk.objects.values_list('name', flat=True))))"
            )
        )
        assert chunks and all(re.fullmatch(r"[A-Za-z0-9_-]{32}", n) for n in chunks)
        assert not any(channel_id in n for n in chunks)
        assert_no_plaintext(
            node, [EARLIER_A, EARLIER_B, TO_BOTH, AFTER_REVOKE, AFTER_RESTORE, phrase]
        )
    except Exception:
        print(node.log()[-6000:])
        raise
