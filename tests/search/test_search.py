"""The behavioural suite every engine passes (SQLite FTS5, PostgreSQL, Meilisearch)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from messaging.models import Message
from messaging.search.indexing import sync_message
from messaging.services import messages
from united.errors import Invalid, NotFound

pytestmark = pytest.mark.django_db


def ids(page) -> list[str]:
    return [group[0]["id"] for group in page["messages"]]


def test_free_text_finds_with_highlighted_snippet(world, send, index, find):
    fox = send(world.bob, world.general, "The quick brown fox jumps")
    send(world.bob, world.general, "a lazy dog sleeps")
    index()
    page = find(world.alice, "quick")
    assert page["total_results"] == 1 and ids(page) == [str(fox.id)]
    message = page["messages"][0][0]
    assert message["content"] == "The quick brown fox jumps"
    assert message["author"]["username"] == "bob"
    highlight = page["highlights"][0]
    assert "<mark>quick</mark>" in highlight["snippet_html"]
    assert highlight["jump"] == {
        "guild_id": str(world.guild.id),
        "channel_id": str(world.general.id),
        "message_id": str(fox.id),
        "history_url": f"/api/v1/channels/{world.general.id}/messages?around={fox.id}",
    }


def test_prefixes_case_and_accents_match(world, send, index, find):
    dessert = send(world.bob, world.general, "Crème BRÛLÉE tonight")
    index()
    for q in ("creme", "brulee", "CRÈME", "tonig"):
        assert ids(find(world.alice, q)) == [str(dessert.id)], q


def test_every_word_must_match(world, send, index, find):
    both = send(world.bob, world.general, "red apples and green pears")
    send(world.bob, world.general, "red cars")
    index()
    assert ids(find(world.alice, "red pears")) == [str(both.id)]


def test_snippets_are_escaped_before_marking(world, send, index, find):
    send(world.bob, world.general, "<script>alert('x')</script> hello <b>world</b>")
    index()
    html = find(world.alice, "hello")["highlights"][0]["snippet_html"]
    assert "<script>" not in html and "<b>" not in html
    assert "&lt;script&gt;" in html and "<mark>hello</mark>" in html


def test_hidden_channel_never_appears_even_as_counts_or_snippets(world, send, index, find):
    send(world.alice, world.secret, "the launch codes are 0000")
    send(world.alice, world.general, "lunch at noon")
    index()
    assert find(world.bob, "launch")["total_results"] == 1
    for params in (
        {"q": "launch"},
        {"q": "launch in:#secret"},
        {"q": f"launch in:{world.secret.id}"},
        {"q": "codes", "channel_ids": [str(world.secret.id)]},
        {"q": "from:alice"},
    ):
        page = find(world.carol, **params)
        assert all("launch" not in h["snippet_html"] for h in page["highlights"]), params
        assert all(g[0]["channel_id"] != str(world.secret.id) for g in page["messages"])
        if params["q"] != "from:alice":
            assert page["total_results"] == 0 and page["messages"] == [], params
    assert find(world.carol, "from:alice")["total_results"] == 1  # only the lunch


def test_view_without_read_history_finds_nothing(world, send, index, find):
    send(world.alice, world.lobby, "welcome to the lobby")
    index()
    assert find(world.bob, "lobby")["total_results"] == 1
    assert find(world.carol, "lobby")["total_results"] == 0


def test_a_role_change_takes_effect_at_once(world, send, index, find):
    from guilds.services import members as member_services

    send(world.alice, world.secret, "quarterly roadmap")
    index()
    assert find(world.carol, "roadmap")["total_results"] == 0
    member_services.check_member_role(
        world.alice, world.guild.id, world.carol.id, world.outsiders.id, add=False
    )
    assert find(world.carol, "roadmap")["total_results"] == 1


def test_non_members_get_unknown_guild(world, make_user, find):
    with pytest.raises(NotFound):
        find(make_user("mallory"), "anything")


def test_an_edit_replaces_the_indexed_text(world, send, index, find):
    message = send(world.bob, world.general, "meet at the harbour")
    index()
    messages.check_edit_message(
        world.bob, world.general.id, message.id, content="meet at the station"
    )
    index()
    assert world.engine.indexed_text(message.id) == "meet at the station"
    assert find(world.alice, "harbour")["total_results"] == 0
    assert ids(find(world.alice, "station")) == [str(message.id)]


def test_a_delete_removes_it(world, send, index, find):
    message = send(world.bob, world.general, "regrettable opinion")
    index()
    messages.check_delete_message(world.bob, world.general.id, message.id)
    index()
    assert world.engine.indexed_text(message.id) is None
    assert find(world.alice, "regrettable")["total_results"] == 0


def test_a_moderator_deletion_removes_it(world, send, index, find):
    message = send(world.bob, world.general, "spam spam spam")
    index()
    messages.check_delete_message(world.alice, world.general.id, message.id)  # MANAGE_MESSAGES
    index()
    assert world.engine.indexed_text(message.id) is None


def test_ttl_expiry_removes_it(world, send, index, find):
    message = send(world.bob, world.general, "ephemeral secret", ttl_seconds=60)
    index()
    assert world.engine.indexed_text(message.id) == "ephemeral secret"
    messages.expire_due(now=timezone.now() + timedelta(minutes=2))
    index()
    assert not Message.objects.filter(id=message.id).exists()
    assert world.engine.indexed_text(message.id) is None
    assert find(world.alice, "ephemeral")["total_results"] == 0


def test_from_in_mentions_and_pinned(world, send, index, find):
    a = send(world.bob, world.general, f"report for <@{world.alice.id}>")
    b = send(world.alice, world.general, "report done")
    c = send(world.alice, world.secret, "report draft")
    messages.check_pin(world.alice, world.general.id, b.id, pinned=True)
    index()
    assert ids(find(world.alice, "report from:bob")) == [str(a.id)]
    assert ids(find(world.alice, f"from:<@{world.bob.id}>")) == [str(a.id)]
    assert set(ids(find(world.alice, "report in:#secret in:general"))) == {
        str(a.id),
        str(b.id),
        str(c.id),
    }
    assert ids(find(world.alice, "report in:#secret")) == [str(c.id)]
    assert ids(find(world.alice, "mentions:alice")) == [str(a.id)]
    assert ids(find(world.alice, "pinned:true")) == [str(b.id)]
    assert find(world.alice, "report from:nobody-here")["total_results"] == 0


def test_has_link_file_image_video(world, send, index, find):
    link = send(world.bob, world.general, "read https://example.org/post")
    image = send(world.bob, world.general, "cat https://cdn.example.org/cat.PNG")
    video = send(world.bob, world.general, "clip https://cdn.example.org/clip.mp4")
    pdf = send(world.bob, world.general, "paper https://example.org/a.pdf")
    send(world.bob, world.general, "no links at all")
    index()
    assert set(ids(find(world.alice, "has:link"))) == {str(m.id) for m in (link, image, video, pdf)}
    assert ids(find(world.alice, "has:image")) == [str(image.id)]
    assert ids(find(world.alice, "has:video")) == [str(video.id)]
    assert set(ids(find(world.alice, "has:file"))) == {str(m.id) for m in (image, video, pdf)}
    assert ids(find(world.alice, "has:link has:video")) == [str(video.id)]


def test_before_after_during(world, send, index, find):
    days = {}
    for day in (10, 11, 12):
        message = send(world.bob, world.general, f"standup notes day {day}")
        moment = datetime(2026, 3, day, 12, 0, tzinfo=UTC)
        Message.objects.filter(id=message.id).update(created_at=moment)
        sync_message(message.id)
        days[day] = str(message.id)
    assert ids(find(world.alice, "standup during:2026-03-11")) == [days[11]]
    assert ids(find(world.alice, "standup before:2026-03-11")) == [days[10]]
    assert ids(find(world.alice, "standup after:2026-03-11")) == [days[12]]
    assert find(world.alice, "standup after:2026-03-10 before:2026-03-12")["total_results"] == 1
    with pytest.raises(Invalid):
        find(world.alice, "before:yesterday")


def test_paging_and_sorting(world, send, index, find):
    sent = [send(world.bob, world.general, f"ping number {i}") for i in range(30)]
    index()
    first = find(world.alice, "ping")
    assert first["total_results"] == 30
    assert ids(first) == [str(m.id) for m in reversed(sent)][:25]
    second = find(world.alice, "ping", offset=25)
    assert second["total_results"] == 30 and len(second["messages"]) == 5
    oldest = find(world.alice, "ping", sort_order="asc", limit=3)
    assert ids(oldest) == [str(m.id) for m in sent[:3]]
    relevant = find(world.alice, "ping", sort_by="relevance", limit=25)
    assert relevant["total_results"] == 30 and len(relevant["messages"]) == 25
    with pytest.raises(Invalid):
        find(world.alice, "ping", limit=26)
    with pytest.raises(Invalid):
        find(world.alice, "")


def test_relevance_prefers_more_matching_text(world, send, index, find):
    weak = send(world.bob, world.general, "filler words here " * 20 + "kettle")
    strong = send(world.bob, world.general, "kettle kettle kettle")
    index()
    by_date = ids(find(world.alice, "kettle"))
    assert by_date == [str(strong.id), str(weak.id)]
    send(world.bob, world.general, "unrelated newest message")
    index()
    assert ids(find(world.alice, "kettle", sort_by="relevance"))[0] == str(strong.id)


def test_has_finds_attachments_even_without_text(world, send, index, find):
    import io

    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(world.bob)

    def upload(name: str, data: bytes) -> str:
        response = client.post(
            "/api/v1/upload", {"file": SimpleUploadedFile(name, data)}, format="multipart"
        )
        assert response.status_code in (200, 201), response.content
        return response.json()["id"]

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (0, 90, 200)).save(buf, "PNG")
    mp4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 64
    photo = send(world.bob, world.general, "", attachments=[upload("sky.png", buf.getvalue())])
    clip = send(world.bob, world.general, "my clip", attachments=[upload("clip.mp4", mp4)])
    text = send(world.bob, world.general, "just words")
    index()
    assert ids(find(world.alice, "has:image")) == [str(photo.id)]
    assert ids(find(world.alice, "has:video")) == [str(clip.id)]
    assert set(ids(find(world.alice, "has:file"))) == {str(photo.id), str(clip.id)}
    assert find(world.alice, "has:link")["total_results"] == 0
    assert ids(find(world.alice, "clip has:video")) == [str(clip.id)]
    assert str(text.id) in ids(find(world.alice, "from:bob"))
    messages.check_delete_message(world.bob, world.general.id, photo.id)
    index()
    assert find(world.alice, "has:image")["total_results"] == 0
