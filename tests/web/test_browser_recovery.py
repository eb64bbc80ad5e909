"""The signed-out recovery page (/recover/, static/src/accounts-recovery.js) in Chromium
against a live node: the node's refusals reach the page as its own words (a password it
rejects, with the field's reason; a phrase that is not the account's), and the right phrase
resets the password. The page's requests go through api() without the cookie."""

from __future__ import annotations

import base64

import httpx
import pytest
from mnemonic import Mnemonic
from nacl.signing import SigningKey

from tests.browser import PASSWORD, bundle, launch, register  # noqa: F401  (bundle: a fixture)
from tests.nodes import services_mode

playwright = pytest.importorskip("playwright.sync_api")
# The node's recovery API is covered in both modes by tests/accounts/; this is the page.
pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(services_mode(), reason="browser tests run in the embedded mode"),
]
NEW_PASSWORD = "a fresh start for the spring"


def recovery_key(phrase: str) -> str:
    return base64.b64encode(bytes(SigningKey(Mnemonic.to_seed(phrase)[:32]).verify_key)).decode()


def test_recovery_page_shows_the_nodes_refusals_then_resets(node_factory, bundle):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    node = node_factory("recover")
    # The page's two requests count against the recovery limit of 5 an hour per account
    # (docs/security.md), so each account is submitted at most twice.
    phrase = Mnemonic("english").generate(128)
    for name, words in (("alice", phrase), ("bob", Mnemonic("english").generate(128))):
        register(node.url, name, recovery_public_key=recovery_key(words))

    problems: list[str] = []
    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page()
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(f"{node.url}/recover/")
        error = page.locator("[data-recover-error]")

        def submit(username: str, words: str, password: str) -> None:
            page.fill("#id_username", username)
            page.fill("#id_phrase", words)
            page.fill("#id_new_password", password)
            page.click("button[type=submit]")

        # A valid phrase, but not this account's: the signature does not match its saved key.
        submit("bob", phrase, NEW_PASSWORD)
        expect(error).to_have_text("The challenge or its signature is not valid")
        # A password the node refuses: its message and the field's reason, as it said them.
        submit("alice", phrase, "alice-likes-tea")
        expect(error).to_have_text("Invalid form body The password must not contain your username.")
        submit("alice", phrase, NEW_PASSWORD)
        expect(page.locator("[data-recover-done]")).to_be_visible()
        expect(error).to_be_hidden()
        browser.close()
    assert problems == []

    def login(username: str, password: str) -> int:
        return httpx.post(
            f"{node.url}/api/v1/auth/login", json={"username": username, "password": password}
        ).status_code

    assert login("alice", PASSWORD) == 401
    assert login("alice", NEW_PASSWORD) == 200
    assert login("bob", PASSWORD) == 200
