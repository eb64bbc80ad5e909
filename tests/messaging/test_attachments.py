"""Files sent in a channel: readable exactly by whoever can read the channel."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from guilds.services import guilds as guild_services
from media.models import Attachment
from messaging.models import Message

pytestmark = pytest.mark.django_db


def png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 16), (200, 30, 30)).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def sent(world, api):
    from django.core.files.uploadedfile import SimpleUploadedFile

    bob = api(world.bob)
    response = bob.post(
        "/api/v1/upload", {"file": SimpleUploadedFile("red.png", png())}, format="multipart"
    )
    assert response.status_code in (200, 201), response.content
    attachment = response.json()
    message = bob.post(
        f"/api/v1/channels/{world.channel.id}/messages",
        {"content": "", "attachments": [attachment["id"]]},
        format="json",
    )
    assert message.status_code == 200, message.content
    return message.json()


def test_a_sent_file_is_part_of_the_message(world, api, sent):
    assert sent["content"] == ""
    [attachment] = sent["attachments"]
    assert attachment["content_type"] == "image/png" and attachment["width"] == 32
    assert attachment["placeholder"]  # blurhash
    history = api(world.alice).get(f"/api/v1/channels/{world.channel.id}/messages").json()
    assert history[0]["attachments"][0]["id"] == attachment["id"]


def test_channel_members_may_download_others_may_not(world, api, sent, make_user):
    url = sent["attachments"][0]["url"]
    assert api(world.alice).get(url).status_code == 200
    assert api(world.carol).get(url).status_code == 403  # in the guild, cannot see the channel
    outsider = make_user("olga")
    guild_services.check_create_guild(outsider, name="Elsewhere", description="")
    assert api(outsider).get(url).status_code == 403  # member of another guild


def test_an_attachment_cannot_be_sent_twice_or_by_someone_else(world, api, sent):
    aid = sent["attachments"][0]["id"]
    for client in (api(world.bob), api(world.alice)):
        again = client.post(
            f"/api/v1/channels/{world.channel.id}/messages",
            {"content": "x", "attachments": [aid]},
            format="json",
        )
        assert again.status_code == 400
        assert "attachments" in again.json()["errors"]


def test_deleting_the_message_deletes_its_files(world, api, sent):
    api(world.bob).delete(f"/api/v1/channels/{world.channel.id}/messages/{sent['id']}")
    assert not Attachment.objects.filter(id=int(sent["attachments"][0]["id"])).exists()
    assert Message.objects.get(id=int(sent["id"])).deleted


def _upload(client, scope: str) -> dict:
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = client.post(
        "/api/v1/upload",
        {"file": SimpleUploadedFile("red.png", png()), "scope": scope},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    return response.json()


def test_an_upload_scoped_to_the_channel_is_sent_there(world, api):
    """docs/media.md offers `scope=channel:<id>`; the message then carries the file."""
    bob = api(world.bob)
    attachment = _upload(bob, f"channel:{world.channel.id}")
    assert attachment["scope"] == f"channel:{world.channel.id}"
    sent = bob.post(
        f"/api/v1/channels/{world.channel.id}/messages",
        {"content": "scoped", "attachments": [attachment["id"]]},
        format="json",
    )
    assert sent.status_code == 200, sent.content
    assert [a["id"] for a in sent.json()["attachments"]] == [attachment["id"]]
    history = api(world.alice).get(f"/api/v1/channels/{world.channel.id}/messages").json()
    assert history[0]["attachments"][0]["id"] == attachment["id"]
    assert api(world.alice).get(attachment["url"]).status_code == 200
    again = bob.post(
        f"/api/v1/channels/{world.channel.id}/messages",
        {"content": "twice", "attachments": [attachment["id"]]},
        format="json",
    )
    assert again.status_code == 400 and "attachments" in again.json()["errors"]


def test_an_upload_scoped_elsewhere_is_not_sent_here(world, api):
    from guilds.services import channels as channel_services

    other = channel_services.check_create_channel(
        world.owner, world.guild.id, {"name": "other", "type": 0}
    )
    bob = api(world.bob)
    for scope in (f"channel:{other.id}", "dm:5"):
        attachment = _upload(bob, scope)
        sent = bob.post(
            f"/api/v1/channels/{world.channel.id}/messages",
            {"content": "wrong place", "attachments": [attachment["id"]]},
            format="json",
        )
        assert sent.status_code == 400, (scope, sent.content)
        assert "attachments" in sent.json()["errors"]
    assert not Message.objects.filter(content="wrong place").exists()
