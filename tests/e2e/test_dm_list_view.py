"""The DM pages as the node renders them (Django's test client): the conversation list with
avatars, most recent first by envelope, and no text of any message; the "New message" dialog
with the people one shares a community with; a refused handle comes back in the open dialog."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from e2e.services import last_activity

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def items(html: str) -> list[str]:
    return re.findall(r'data-dm-item="(\d+)"', html)


def test_list_is_most_recent_first_with_avatars_and_no_plaintext(world, e2e):
    alice, bob, carol = e2e(world.alice), e2e(world.bob), e2e(world.carol)
    with_bob = alice.open_dm(bob.user_id)
    with_carol = alice.open_dm(carol.user_id)
    alice.send(with_bob, [bob.user_id], "the secret plan")
    html = signed_in(world.alice).get("/app/dms/").content.decode()
    # Bob's conversation had the last envelope: first, although carol's was opened later.
    assert items(html) == [with_bob, with_carol]
    assert last_activity([int(with_bob), int(with_carol)]).keys() == {int(with_bob)}
    entry = html[html.index(f'data-dm-item="{with_bob}"') :]
    entry = entry[: entry.index("</li>")]
    assert '<span class="avatar sm">BO</span>' in entry and ">bob<" in entry
    assert "@bob" in entry  # what the preview line says until the browser fills it in
    assert "the secret plan" not in html
    # The rail marks its DM button as where we are, not Home.
    assert re.search(
        r'class="rail-item rail-home active" href="/app/dms/"[^>]*aria-current="page"', html
    )
    assert 'class="rail-item rail-home" href="/app/start/"' in html
    carol.send(with_carol, [alice.user_id], "newer")
    html = signed_in(world.alice).get("/app/dms/").content.decode()
    assert items(html) == [with_carol, with_bob]


def test_new_message_dialog_lists_people_and_keeps_a_refused_handle(world, e2e):
    client = signed_in(world.alice)
    html = client.get("/app/dms/").content.decode()
    assert 'id="dm-recipient"' not in html  # the bare <select> is gone
    dialog = html[html.index('id="new-dm-dialog"') :]
    assert f'data-new-dm-person="{world.bob.id}"' in dialog
    assert f'data-new-dm-person="{world.carol.id}"' in dialog
    assert "data-show-on-load" not in html[: html.index(">", html.index('id="new-dm-dialog"'))]

    refused = client.post("/app/dms/", {"handle": "nobody"})
    assert refused.status_code == 400
    page = refused.content.decode()
    opening = page[page.index('<dialog id="new-dm-dialog"') :]
    assert "data-show-on-load" in opening[: opening.index(">")]
    assert 'id="dm-handle-error"' in page and "Type a handle like name@node." in page

    opened = client.post("/app/dms/", {"recipient_id": str(world.bob.id)})
    assert opened.status_code == 302 and re.fullmatch(r"/app/dms/\d+/", opened["Location"])
    page = client.get(opened["Location"]).content.decode()
    assert "data-safety-open" in page and "Safety number" in page
    assert "data-e2e-verified hidden" in page  # shown by the browser once it is verified
