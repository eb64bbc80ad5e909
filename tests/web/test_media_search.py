"""Attachments in the pane and the composer's send, jumping into history, and the search
panel (an HTMX fragment over the same search service as the API), through Django's client."""

from __future__ import annotations

import re

import pytest

from guilds.permissions import Permissions as P
from guilds.services import channels as channel_services
from guilds.services import overwrites as overwrite_services
from jobs.services import run_due_jobs
from messaging.models import Message
from messaging.search import get_backend
from messaging.services import messages as message_services
from tests.media.helpers import png_bytes, upload
from web.views import chat


@pytest.fixture
def owner_client(browser, owner):
    return browser(owner)


def _upload(client, size=(640, 480), name="photo.png"):
    response = upload(client, png_bytes(size), name=name)
    assert response.status_code == 201, response.content
    return response.json()


def test_send_with_attachments_renders_a_grid_with_blurhash_and_thumbnails(
    owner_client, guild, general
):
    first, second = _upload(owner_client), _upload(owner_client, (300, 900), "tall.png")
    doc = owner_client.post(
        f"/app/channels/{general.id}/messages/send/",
        {"content": "", "attachments": [first["id"], second["id"]], "nonce": "n1"},
    )
    assert doc.status_code == 201, doc.content
    html = doc.content.decode()
    assert 'class="gallery n2"' in html
    assert html.count("data-tile") == 2
    assert f'data-blurhash="{first["placeholder"]}"' in html
    # The grid cell gets the 480 px WebP thumbnail, the lightbox the original.
    assert f"/api/v1/attachments/{first['id']}/thumbnails/480" in html
    assert f'data-full="/api/v1/attachments/{first["id"]}/content"' in html
    message = Message.objects.get(channel=general)
    assert [a.id for a in message.attachments.order_by("id")] == sorted(
        [int(first["id"]), int(second["id"])]
    )
    # The channel page draws the same grid after a reload.
    page = owner_client.get(f"/app/guilds/{guild.id}/channels/{general.id}/").content.decode()
    assert 'class="gallery n2"' in page and "Upload a file" in page


def test_a_lone_picture_keeps_its_aspect_ratio_and_files_get_a_card(owner_client, general):
    picture = _upload(owner_client, (800, 400))
    response = upload(owner_client, b"%PDF-1.4 hello", name="notes.pdf", claimed="application/pdf")
    document = response.json()
    html = owner_client.post(
        f"/app/channels/{general.id}/messages/send/",
        {"content": "see", "attachments": [picture["id"], document["id"]]},
    ).content.decode()
    assert 'class="gallery n1"' in html
    assert 'width="400" height="200"' in html  # 800x400 fitted into 400x320
    assert "file-card" in html and "notes.pdf" in html and "14 bytes" in html


def test_someone_elses_upload_cannot_be_attached(owner_client, browser, member, general):
    theirs = _upload(browser(member))
    response = owner_client.post(
        f"/app/channels/{general.id}/messages/send/",
        {"content": "mine now", "attachments": [theirs["id"]]},
    )
    assert response.status_code == 400
    assert not Message.objects.filter(channel=general).exists()


def test_attach_button_hidden_without_attach_files(owner_client, browser, member, guild, general):
    overwrite_services.check_put_overwrite(
        guild.owner, general.id, guild.id, {"type": 0, "deny": str(int(P.ATTACH_FILES))}
    )
    page = browser(member).get(f"/app/guilds/{guild.id}/channels/{general.id}/").content.decode()
    assert "data-upload-url" not in page and "Upload a file" not in page
    assert "composer-input" in page


def _history(owner, channel, count):
    return [
        message_services.check_send_message(owner, channel.id, content=f"line {n}")[0]
        for n in range(count)
    ]


def test_around_opens_history_in_context_with_newer_pages(
    owner_client, owner, guild, general, monkeypatch
):
    monkeypatch.setattr(chat, "PAGE", 10)
    sent = _history(owner, general, 30)
    target = sent[12]
    url = f"/app/guilds/{guild.id}/channels/{general.id}/?around={target.id}"
    page = owner_client.get(url).content.decode()
    assert f'data-around="{target.id}"' in page and "data-detached" in page
    ids = [int(i) for i in re.findall(r'data-message-id="(\d+)"', page)]
    assert target.id in ids and sent[-1].id not in ids
    assert "?before=" in page  # older ones above
    newer = re.search(r"\?after=(\d+)", page).group(1)
    assert int(newer) == ids[-1]
    # Scrolling down pages forward until the present, without gaps or repeats.
    seen = list(ids)
    after = newer
    while after:
        fragment = owner_client.get(f"/app/channels/{general.id}/messages/?after={after}")
        html = fragment.content.decode()
        seen += [int(i) for i in re.findall(r'data-message-id="(\d+)"', html)]
        found = re.search(r"\?after=(\d+)", html)
        after = found.group(1) if found else None
    assert seen[-1] == sent[-1].id
    assert seen == sorted(seen) and len(seen) == len(set(seen))


@pytest.fixture
def searchable(owner, guild, general, member):
    get_backend().clear()
    staff = channel_services.check_create_channel(owner, guild.id, {"name": "staff", "type": 0})
    overwrite_services.check_put_overwrite(
        owner, staff.id, guild.id, {"type": 0, "deny": str(int(P.VIEW_CHANNEL))}
    )
    for n in range(23):
        message_services.check_send_message(owner, general.id, content=f"deploy number {n}")
    message_services.check_send_message(member, general.id, content="the deploy <b>worked</b>")
    message_services.check_send_message(owner, staff.id, content="secret deploy plans")
    run_due_jobs()
    return staff


def test_search_panel_shows_highlighted_results_and_pages(
    browser, member, guild, general, searchable
):
    client = browser(member)
    url = f"/app/guilds/{guild.id}/search/"
    html = client.get(url, {"q": "deploy"}, HTTP_HX_REQUEST="true").content.decode()
    assert "24 results" in html  # the hidden channel's message is not even counted
    assert "secret" not in html and "staff" not in html
    assert "<mark>deploy</mark>" in html
    assert "&lt;b&gt;worked&lt;/b&gt;" in html  # message text escaped, only <mark> added
    assert "Page 1 of 3" in html and "page=2" in html
    hit = Message.objects.get(content="the deploy <b>worked</b>")
    assert f"?around={hit.id}#message-{hit.id}" in html
    last = client.get(url, {"q": "deploy", "page": "3"}).content.decode()
    assert "Page 3 of 3" in last and last.count("search-hit-card") == 4
    oldest = client.get(url, {"q": "deploy", "sort": "oldest"}).content.decode()
    assert oldest.index("number 0<") < oldest.index("number 1<")
    assert re.search(r'aria-pressed="true"[^>]*data-search-sort="oldest"', oldest)
    by_bob = client.get(url, {"q": f"from:{member.username} deploy"}).content.decode()
    assert "1 result " in by_bob or "1 result<" in by_bob


def test_search_refusals_are_shown_with_their_status(browser, member, guild, searchable):
    client = browser(member)
    url = f"/app/guilds/{guild.id}/search/"
    bad = client.get(url, {"q": "before:yesterday-ish"})
    assert bad.status_code == 400
    assert 'role="alert"' in bad.content.decode()
    empty = client.get(url, {"q": ""})
    assert empty.status_code == 400 and "Type something" in empty.content.decode()
    none = client.get(url, {"q": "nothingmatchesthis"}).content.decode()
    assert "0 results" in none and "No messages match" in none


def test_search_of_a_guild_you_are_not_in_is_404(browser, make_user, guild, searchable):
    stranger = browser(make_user("mallory"))
    assert stranger.get(f"/app/guilds/{guild.id}/search/", {"q": "deploy"}).status_code == 404


def test_a_bad_around_opens_the_present(owner_client, owner, guild, general):
    last = _history(owner, general, 3)[-1]
    page = owner_client.get(f"/app/guilds/{guild.id}/channels/{general.id}/?around=12345")
    assert page.status_code == 200
    html = page.content.decode()
    assert "data-around" not in html and f'data-message-id="{last.id}"' in html


def test_first_unread_further_back_than_a_page(browser, owner, member, guild, general, monkeypatch):
    from messaging.services.readstates import check_mark_read

    monkeypatch.setattr(chat, "PAGE", 5)
    seen = message_services.check_send_message(owner, general.id, content="seen")[0]
    check_mark_read(member, general.id, seen.id)
    unread = _history(owner, general, 8)
    client = browser(member)
    url = f"/app/guilds/{guild.id}/channels/{general.id}/"
    html = client.get(url).content.decode()
    assert "data-new-bar" in html and 'id="unread-marker"' not in html
    assert f'data-unread-id="{unread[0].id}"' in html
    # The bar's jump opens it in context, where the divider sits right above it.
    around = client.get(f"{url}?around={unread[0].id}").content.decode()
    after_marker = re.search(r'id="unread-marker".*?data-message-id="(\d+)"', around, re.S)
    assert after_marker.group(1) == str(unread[0].id)
