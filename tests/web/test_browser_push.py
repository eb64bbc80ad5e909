"""Web Push and the installable app in Chromium against a real node and a push service on
loopback (tests/push/pushservice.py).

Bob turns notifications on from his Notifications settings (the permission granted through the
context), closes every tab of the node, and Alice mentions him. The node's job encrypts and
signs a push to the loopback push service; the test opens it with the subscription's private
key (only a channel id, a guild id and a count: no text, no name) and hands exactly those bytes
to Bob's service worker through DevTools (ServiceWorker.deliverPushMessage). A page opened
afterwards reads the notification the worker showed: it carries the text the worker fetched
with Bob's session, not the payload. A push about an E2E DM shows "New encrypted message".
The manifest is fetched and checked, the unread count leads the title, and with the browser
offline a navigation gets the offline page from the worker's cache.

Chromium's push service is Google's (FCM), which a test must not reach and a headless browser
cannot register with offline (its `pushManager.subscribe()` never settles; an off-the-record
context refuses outright). So the page's `PushManager` is given the subscription a browser
would have returned, with the loopback endpoint and keys the test holds; everything else (the
settings control, the node, the push, the worker, the notification) is the real thing.
"""

from __future__ import annotations

import json
import re
import time

import pytest

from tests.browser import PASSWORD, Api, bundle, launch, register  # noqa: F401  (bundle: a fixture)
from tests.nodes import services_mode
from tests.push.pushservice import Browser, PushService

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.live,
    pytest.mark.xdist_group("web_browser"),
    pytest.mark.skipif(services_mode(), reason="browser tests run in the embedded mode"),
]
SECRET = "the parcel is under the third bench"

# What a browser's PushManager would hand back once its push service registered it.
FAKE_PUSH_MANAGER = """
(() => {
  const info = %s;
  const KEY = "test-push-subscribed";
  const make = () => ({
    endpoint: info.endpoint,
    expirationTime: null,
    options: { userVisibleOnly: true },
    toJSON: () => ({ endpoint: info.endpoint, expirationTime: null, keys: info.keys }),
    unsubscribe: async () => { localStorage.removeItem(KEY); return true; },
    getKey: () => null,
  });
  if (typeof PushManager === "undefined") return;
  PushManager.prototype.subscribe = async function () {
    localStorage.setItem(KEY, "1");
    return make();
  };
  PushManager.prototype.getSubscription = async function () {
    return localStorage.getItem(KEY) ? make() : null;
  };
})();
"""


def test_push_reaches_the_service_worker_which_shows_fetched_text(node_factory, bundle):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    service = PushService().start()
    node = node_factory("push", UNITED_PUSH_ALLOW_PRIVATE="127.0.0.1/32")
    try:
        with sync_playwright() as p:
            journey(node.url, service, p, expect)
    except Exception:
        print(node.log()[-6000:])
        raise
    finally:
        service.stop()


def journey(base: str, service: PushService, p, expect) -> None:
    alice = Api(base, register(base, "alice")["access_token"])
    bob_answer = register(base, "bob")
    bob = Api(base, bob_answer["access_token"])
    guild = alice("POST", "/guilds", {"name": "Harbour"})
    general = {c["name"]: c for c in alice("GET", f"/guilds/{guild['id']}/channels")}["general"]
    code = alice("POST", f"/channels/{general['id']}/invites", {})["code"]
    bob("POST", f"/invites/{code}", {})
    dm = alice("POST", "/users/@me/channels", {"recipient_id": bob_answer["user_id"]})

    device = Browser()
    browser = launch(p)
    context = browser.new_context()
    context.grant_permissions(["notifications"], origin=base)
    info = {"endpoint": service.endpoint("bob"), "keys": device.keys()}
    context.add_init_script(FAKE_PUSH_MANAGER % json.dumps(info))
    problems: list[str] = []

    # A tab that is not the node's, kept open to speak DevTools to the browser context.
    devtools_tab = context.new_page()
    cdp = context.new_cdp_session(devtools_tab)
    registrations: list[dict] = []
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda e: registrations.extend(e["registrations"]),
    )
    cdp.send("ServiceWorker.enable")

    page = context.new_page()
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(f"{base}/login/")
    page.fill("#id_username", "bob")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/app/.*"))

    # The manifest the page links is valid and its icons load.
    href = page.eval_on_selector("link[rel=manifest]", "l => l.href")
    manifest = page.request.get(href)
    assert manifest.headers["content-type"].startswith("application/manifest+json")
    body = manifest.json()
    assert body["display"] == "standalone" and body["start_url"] == "/app/"
    assert body["name"] and body["theme_color"] and body["background_color"]
    sizes = {icon["sizes"] for icon in body["icons"]}
    assert {"192x192", "512x512"} <= sizes
    for icon in body["icons"]:
        answer = page.request.get(f"{base}{icon['src']}")
        assert answer.ok and answer.headers["content-type"] == "image/png"

    # The control in the settings: the permission is asked for by the click, then the node
    # has the device.
    page.goto(f"{base}/settings/notifications/")
    status = page.locator("[data-push-status]")
    expect(status).to_have_text("Notifications are off for this browser.")
    page.click("[data-push-enable]")
    expect(status).to_have_text("Notifications are on for this browser.")
    expect(page.locator("[data-push-device]")).to_have_count(1)
    devices = bob("GET", "/users/@me/push-subscriptions")
    assert [d["endpoint"] for d in devices] == [service.endpoint("bob")]

    deadline = time.monotonic() + 10
    while not any(r["scopeURL"] == f"{base}/" for r in registrations):
        assert time.monotonic() < deadline, registrations
        devtools_tab.wait_for_timeout(100)
    registration_id = next(r for r in registrations if r["scopeURL"] == f"{base}/")[
        "registrationId"
    ]

    # Every tab of the node closes; the node sees no gateway connection of Bob's any more.
    page.close()
    devtools_tab.wait_for_timeout(500)
    alice(
        "POST",
        f"/channels/{general['id']}/messages",
        {"content": f"<@{bob_answer['user_id']}> {SECRET}"},
    )
    deadline = time.monotonic() + 20
    while not service.received:
        assert time.monotonic() < deadline, "the node sent no push"
        time.sleep(0.2)
    payload = device.decrypt(service.received[0].body)
    assert json.loads(payload) == {
        "channel_id": general["id"],
        "guild_id": guild["id"],
        "count": 1,
    }
    assert SECRET.encode() not in payload and b"alice" not in payload

    def deliver(data: bytes) -> None:
        cdp.send(
            "ServiceWorker.deliverPushMessage",
            {"origin": base, "registrationId": registration_id, "data": data.decode()},
        )

    deliver(payload)
    reader = context.new_page()
    reader.goto(f"{base}/settings/notifications/")
    read = """async () => {
        const reg = await navigator.serviceWorker.ready;
        const shown = await reg.getNotifications();
        return shown.map((n) => ({title: n.title, body: n.body, url: n.data.url}));
    }"""
    deadline = time.monotonic() + 10
    while not (shown := reader.evaluate(read)):
        assert time.monotonic() < deadline, "no notification shown"
        reader.wait_for_timeout(200)
    assert shown == [
        {
            "title": "#general · Harbour",
            "body": f"alice: @bob {SECRET}",
            "url": f"/app/guilds/{guild['id']}/channels/{general['id']}/",
        }
    ]

    # A push about the E2E DM: the worker has no text to show, and says so.
    deliver(json.dumps({"channel_id": dm["id"], "guild_id": None, "count": 2}).encode())
    deadline = time.monotonic() + 10
    while len(shown := reader.evaluate(read)) < 2:
        assert time.monotonic() < deadline, shown
        reader.wait_for_timeout(200)
    assert {
        "title": "alice (2)",
        "body": "New encrypted message",
        "url": f"/app/dms/{dm['id']}/",
    } in shown

    # The unread badge: the rail's mention count leads the title (and the app icon's badge).
    reader.goto(f"{base}/app/dms/")
    expect(reader).to_have_title(re.compile(r"^\(1\) "))

    # The network goes: a navigation gets the offline page from the worker's cache.
    context.set_offline(True)
    reader.goto(f"{base}/app/")
    expect(reader.locator("h1")).to_have_text("You are offline")
    context.set_offline(False)
    browser.close()
    assert problems == []
