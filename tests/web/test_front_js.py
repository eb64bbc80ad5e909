"""The bundle's JavaScript unit tests (tests/web/js/*.test.mjs, node --test): the api() helper
every JSON request of the front-end goes through, against a loopback server, the timed-out
composer's words (until.js), the name a new thread starts with (threads.js) and the DM list's
counts and previews (e2e-chat/sidebar.js)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.nodes import ROOT, services_mode

NODE = shutil.which("node")
pytestmark = [
    pytest.mark.skipif(NODE is None, reason="node is not installed"),
    pytest.mark.skipif(services_mode(), reason="pure client code: runs in the embedded mode"),
]


def test_front_end_unit_tests_pass():
    done = subprocess.run(
        [NODE, "--test", str(ROOT / "tests/web/js/")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # Every test ran: a file that fails to import would report fewer, not a failure.
    assert "# fail 0" in done.stdout and "# pass 19" in done.stdout, done.stdout
