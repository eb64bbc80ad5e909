"""What the moderation page tests share: a signed-in Django test client, and the check that a
page carries no inline code (the node's CSP would refuse it)."""

from __future__ import annotations

import re

from django.test import Client


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def no_inline_code(html: str) -> None:
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "inline script"
    assert "<style" not in html and " style=" not in html and " onclick=" not in html
