"""The operator runs federation from the admin, in Chromium, against two real nodes: the
Federation page shows the peer, then its failures with the last error once it is stopped;
"retry now" sends its queue again at once; blocking is audited. The Jobs page, the session
lists and the admin index pass axe with no finding of any severity."""

from __future__ import annotations

import time

import pytest

from accounts import useragent
from tests import browser
from tests.browser import DOC_SHOTS, PASSWORD, axe_violations, launch
from tests.federation.test_live import churn, follow_state, follow_via_api, users

playwright = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.live, pytest.mark.xdist_group("admin_browser")]


def shot(page, name: str) -> None:
    # Committed: docs/features.md links these pictures.
    browser.shot(page, name, DOC_SHOTS, full_page=True)


def attempts(node, domain: str) -> int:
    return node.sql(
        "SELECT coalesce(sum(d.attempts), 0) FROM federation_delivery d "
        "JOIN federation_remotenode n ON n.id = d.node_id WHERE n.domain = ?",
        (domain,),
    )[0][0]


def test_operator_watches_a_peer_fail_retries_and_blocks_it(fed_node):
    a, b = fed_node.many("a", "b")
    users(a, "alice")
    users(b, "bob")
    a.python(
        "from accounts.models import User\n"
        f"User.objects.create_superuser('root', password={PASSWORD!r})\n"
    )
    bob = f"http://{b.domain}/users/bob"
    follow_via_api(a, "alice", f"bob@{b.domain}")
    a.wait_for(lambda: follow_state(a, "alice", bob) == "accepted", message="Accept")

    with playwright.sync_playwright() as pw:
        browser = launch(pw)
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        # The members' sign-in, so this browser is a session the lists below show.
        page.goto(f"{a.url}/login/?next=/admin/")
        page.fill("#id_username", "root")
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("#operations-links")
        assert page.locator("caption", has_text="Authenticator apps").count() == 1
        assert page.locator("caption", has_text="Backup codes").count() == 1
        assert axe_violations(page) == []

        page.locator("#operations-links a", has_text="Federation").click()
        peer = page.locator(f'tr[data-peer="{b.domain}"]')
        assert peer.locator("[data-state]").get_attribute("data-state") == "reachable"
        assert peer.locator("[data-queued]").inner_text() == "0"
        assert axe_violations(page) == []
        shot(page, "admin-federation")

        # B goes down while alice keeps following and unfollowing bob.
        b.node.stop()
        b.stop_worker()
        churn(a, "alice", bob, 2)
        a.wait_for(
            lambda: (
                a.sql("SELECT status FROM federation_remotenode WHERE domain = ?", (b.domain,))
                == [("unreachable",)]
            ),
            message="B marked unreachable",
        )
        page.reload()
        peer = page.locator(f'tr[data-peer="{b.domain}"]')
        assert peer.locator("[data-state]").get_attribute("data-state") == "unreachable"
        assert int(peer.locator("[data-queued]").inner_text()) >= 4
        error = peer.locator("[data-last-error]")
        assert "Connection refused" in error.inner_text()
        when = error.locator("time")
        assert when.inner_text().endswith("ago") or when.inner_text() == "just now"
        assert when.get_attribute("title").endswith(" UTC")
        assert axe_violations(page) == []
        shot(page, "admin-federation-failing")

        # While B is marked unreachable nothing is attempted; "retry now" tries at once.
        before = attempts(a, b.domain)
        time.sleep(2)
        assert attempts(a, b.domain) == before
        peer.get_by_role("button", name=f"Retry {b.domain} now").click()
        assert "queued" in page.locator(".messagelist").inner_text()
        a.wait_for(lambda: attempts(a, b.domain) > before, message="a retry was attempted")

        # Block, with a reason; the node audit log keeps the act.
        peer = page.locator(f'tr[data-peer="{b.domain}"]')
        peer.get_by_label("Reason for blocking").fill("down for a week")
        peer.get_by_role("button", name=f"Block {b.domain}").click()
        peer = page.locator(f'tr[data-peer="{b.domain}"]')
        assert peer.locator("[data-state]").get_attribute("data-state") == "blocked"
        assert a.sql("SELECT action, reason FROM moderation_nodeauditentry") == [
            ("node_block", "down for a week")
        ]
        assert axe_violations(page) == []

        # A job that fails (its node is gone) shows with its error, and is retried from here.
        job_id = a.python(
            "from django.db import transaction\n"
            "from jobs.services import enqueue\n"
            "with transaction.atomic():\n"
            "    print(enqueue('federation.probe', {'node_id': 0}).id)\n"
        )
        a.wait_for(
            lambda: a.sql("SELECT last_error FROM jobs_job WHERE id = ?", (int(job_id),))[0][0],
            message="the probe job failed once",
        )
        page.locator(".breadcrumbs a", has_text="Home").click()
        page.locator("#operations-links a", has_text="Jobs").click()
        failed = page.locator(f'#failed-jobs tr[data-job="{job_id}"]')
        assert "DoesNotExist" in failed.inner_text()
        counted = [
            int(page.locator(f'[data-count="{k}"]').inner_text()) for k in ("retrying", "dead")
        ]
        assert sum(counted) >= 1
        assert axe_violations(page) == []
        shot(page, "admin-jobs")
        failed.get_by_role("button", name=f"Retry federation.probe #{job_id}").click()
        assert "1 job(s) queued again." in page.locator(".messagelist").inner_text()

        # This browser's session, in words (the headless build names itself HeadlessChrome).
        client = useragent.describe(page.evaluate("navigator.userAgent"))
        assert client in ("Headless Chrome on Linux", "Chrome on Linux")
        page.goto(f"{a.url}/admin/accounts/authsession/")
        assert page.locator(".field-client", has_text=client).count() == 1
        assert axe_violations(page) == []
        shot(page, "admin-sessions")

        page.goto(f"{a.url}/settings/security/")
        sessions = page.locator("section[aria-labelledby=sessions-title] li").first
        assert sessions.inner_text().startswith(f"{client} · just now")
        assert axe_violations(page) == []

        # The admin follows the system's dark theme; the operator's pages stay clean there.
        page.emulate_media(color_scheme="dark")
        for path in (
            "/admin/",
            "/admin/federation/remotenode/overview/",
            "/admin/jobs/job/overview/",
        ):
            page.goto(a.url + path)
            assert axe_violations(page) == [], path
        browser.close()
