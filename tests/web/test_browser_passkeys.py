"""Passkeys in Chromium (static/src/accounts-passkeys.js) against a live node, with Chromium's
virtual authenticator (DevTools WebAuthn domain) as the security key: add one in the security
settings, sign out, sign in with it; a refusal from the node and a failed prompt are shown.
WebAuthn needs a domain, not an IP address, as the relying party: the page is opened as
localhost, which Chromium is told to resolve to 127.0.0.1 (where the node listens)."""

from __future__ import annotations

import re

import pytest

from tests.browser import PASSWORD, bundle, launch, register  # noqa: F401  (bundle: a fixture)
from tests.nodes import services_mode

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(services_mode(), reason="browser tests run in the embedded mode"),
]


def test_add_a_passkey_then_sign_in_with_it(node_factory, bundle):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    node = node_factory("passkeys")
    register(node.url, "alice")
    base = node.url.replace("127.0.0.1", "localhost")

    problems: list[str] = []
    with sync_playwright() as p:
        browser = launch(p, "--host-resolver-rules=MAP localhost 127.0.0.1")
        page = browser.new_page()
        page.on("pageerror", lambda e: problems.append(str(e)))
        cdp = page.context.new_cdp_session(page)
        cdp.send("WebAuthn.enable")
        authenticator = cdp.send(
            "WebAuthn.addVirtualAuthenticator",
            {
                "options": {
                    "protocol": "ctap2",
                    "transport": "internal",
                    "hasResidentKey": True,
                    "hasUserVerification": True,
                    "isUserVerified": True,
                    "automaticPresenceSimulation": True,
                }
            },
        )["authenticatorId"]

        page.goto(f"{base}/login/")
        page.fill("#id_username", "alice")
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r".*/app/.*"))
        page.goto(f"{base}/settings/security/")
        # A name past the field's maxlength (set by script, as a modified page could): the
        # node refuses it, and the page shows the node's message with the field's reason.
        page.locator("[data-passkey-name]").evaluate("(el) => { el.value = 'x'.repeat(65); }")
        page.click("[data-passkey-register]")
        expect(page.locator("[data-passkey-error]")).to_have_text(
            "Invalid form body At most 64 characters."
        )
        expect(page.locator("input[id^=passkey-]")).to_have_count(0)
        # The authenticator made a credential the node did not keep: forget it.
        cdp.send("WebAuthn.clearCredentials", {"authenticatorId": authenticator})
        page.fill("[data-passkey-name]", "Virtual key")
        page.click("[data-passkey-register]")
        # Added: the page reloads and lists it under the name given.
        expect(page.locator("input[id^=passkey-]")).to_have_value("Virtual key")
        assert (
            len(
                cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})[
                    "credentials"
                ]
            )
            == 1
        )

        page.context.clear_cookies()
        page.goto(f"{base}/login/")
        page.click("[data-passkey-login]")
        page.wait_for_url(re.compile(r".*/app/.*"))
        page.goto(f"{base}/settings/security/")
        expect(page.locator("input[id^=passkey-]")).to_have_value("Virtual key")

        # With the key gone from the authenticator, the prompt fails and the page says so.
        cdp.send("WebAuthn.clearCredentials", {"authenticatorId": authenticator})
        page.context.clear_cookies()
        page.goto(f"{base}/login/")
        page.click("[data-passkey-login]")
        expect(page.locator("[data-passkey-error]")).to_have_text(
            "The passkey prompt was cancelled."
        )
        browser.close()
    assert problems == []
