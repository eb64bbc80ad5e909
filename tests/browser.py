"""What every browser test needs, in one place: Debian's Chromium driven by Playwright, the
web client's bundle built from static/src, and accounts on a live node (node_factory in
tests/conftest.py starts the node).

A module uses the `bundle` fixture by importing it (`from tests.browser import bundle`); the
node serves static/dist, so the bundle must be built before the first page loads."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.nodes import ROOT

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Chromium's fake camera and microphone, granted without a prompt, playing without a click.
MEDIA_ARGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
]
# Screen share in headless Chromium: getDisplayMedia is granted without a picker (with
# MEDIA_ARGS' fake UI) and captures the whole (virtual) screen.
SCREEN_ARGS = [
    "--auto-accept-this-tab-capture",
    "--auto-select-desktop-capture-source=Entire screen",
]
PASSWORD = "correct horse battery staple"
SHOTS = ROOT / "test-output" / "screenshots"  # every run's pictures (not committed)
DOC_SHOTS = ROOT / "docs" / "screenshots"  # the committed pictures of the screens in the docs
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"


def shot(page: Any, name: str, folder: Path = SHOTS, *, full_page: bool = False) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=full_page)


def axe_violations(
    page: Any, within: str | None = None, impacts: tuple[str, ...] | None = None
) -> list[dict]:
    """axe-core's violations on the page (or in the element `within` selects), every impact
    unless `impacts` names some. axe goes in through DevTools (evaluate), which the page's CSP
    does not govern, so a context can keep the CSP and a violation of it by the client still
    shows."""
    page.evaluate(AXE.read_text())
    result = page.evaluate(
        "async (within) => JSON.stringify("
        "(await axe.run(within ? document.querySelector(within) : document)).violations)",
        within,
    )
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in json.loads(result)
        if impacts is None or v["impact"] in impacts
    ]


def build_bundle() -> None:
    subprocess.run(["npm", "run", "build"], cwd=ROOT, check=True, capture_output=True)


@pytest.fixture(scope="module")
def bundle() -> None:
    build_bundle()


# How long an `expect` waits for what a user would see. Playwright's 5 s was passed, under the
# full suite's load on a 2-core CI machine, by a page reload and a sidebar refresh that take
# well under a second alone. Patience, not a speed goal: those live in bench/.
EXPECT_TIMEOUT_MS = 12_000


def launch(playwright: Any, *extra_args: str) -> Any:
    """A headless Chromium from a `sync_playwright()` context, with ARGS and `extra_args`."""
    from playwright.sync_api import expect

    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    return playwright.chromium.launch(executable_path=CHROMIUM, args=[*ARGS, *extra_args])


def register(base: str, username: str, **extra: Any) -> dict:
    """A new account on the node at `base` through the API; its token answer."""
    r = httpx.post(
        f"{base}/api/v1/auth/register",
        json={"username": username, "password": PASSWORD, **extra},
    )
    assert r.status_code == 201, r.text
    return r.json()


class Api:
    """An account's API session (`Bearer` token) for a browser test's setup and checks: a call
    answers the JSON, and fails the test on an unexpected status."""

    def __init__(self, base: str, token: str) -> None:
        self.client = httpx.Client(
            base_url=base + "/api/v1", headers={"Authorization": f"Bearer {token}"}
        )

    def __call__(self, method: str, path: str, body: Any = None, status: int | None = None) -> Any:
        r = self.client.request(method, path, json=body)
        assert r.status_code < 300 if status is None else r.status_code == status, r.text
        return r.json() if r.content else None


def sign_in(
    browser: Any, base: str, username: str, viewport: tuple[int, int] = (1280, 800)
) -> tuple[Any, Any, list[str]]:
    """A new context signed in as `username` on the web client: (context, page, the page's
    uncaught script errors, which a test asserts empty)."""
    import re

    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(f"{base}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/app/.*"))
    return context, page, problems


def connected(page: Any) -> None:
    """Wait until the page's gateway socket is up (what a live update needs)."""
    page.wait_for_function(
        "() => window.unitedGateway && window.unitedGateway.state === 'connected'"
    )
