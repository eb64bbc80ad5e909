"""A guild may hide its banned members' messages from search (`search_hides_banned`),
applied at query time: a ban hides at once, an unban or an expired ban shows them again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from guilds.services.guilds import check_update_guild
from jobs.models import Job, JobState
from messaging.models import SearchBacklog
from messaging.search import indexing
from moderation.models import GuildBan
from moderation.services import sanctions

pytestmark = pytest.mark.django_db


def ids(page) -> list[str]:
    return [group[0]["id"] for group in page["messages"]]


def hide_banned(world, on: bool = True) -> None:
    check_update_guild(world.alice, world.guild.id, {"search_hides_banned": on})


def test_banned_authors_hidden_only_if_the_guild_chose_so(world, send, index, find):
    spam = send(world.bob, world.general, "cheap watches offer")
    mine = send(world.carol, world.general, "an offer of help")
    index()
    sanctions.check_ban(world.alice, world.guild.id, world.bob.id, reason="spam")
    # The default keeps them: a ban alone changes nothing in search.
    assert set(ids(find(world.alice, "offer"))) == {str(spam.id), str(mine.id)}
    hide_banned(world)
    for searcher in (world.alice, world.carol):
        page = find(searcher, "offer")
        assert page["total_results"] == 1 and ids(page) == [str(mine.id)]
        assert all("watches" not in h["snippet_html"] for h in page["highlights"])
    assert find(world.alice, "from:bob")["total_results"] == 0
    assert find(world.alice, "watches")["total_results"] == 0
    # The index still holds it: hiding is a query-time filter, so an unban needs no reindex.
    assert world.engine.indexed_text(spam.id) == "cheap watches offer"
    sanctions.check_unban(world.alice, world.guild.id, world.bob.id)
    assert set(ids(find(world.alice, "offer"))) == {str(spam.id), str(mine.id)}


def test_a_new_ban_applies_to_the_next_search_and_an_expired_one_does_not(world, send, index, find):
    hide_banned(world)
    spam = send(world.bob, world.general, "limited offer today")
    index()
    assert ids(find(world.carol, "offer")) == [str(spam.id)]
    sanctions.check_ban(world.alice, world.guild.id, world.bob.id, duration_seconds=3600)
    assert find(world.carol, "offer")["total_results"] == 0
    # Its time is up but the expiry job has not run yet: the ban no longer holds.
    GuildBan.objects.filter(user=world.bob).update(expires_at=timezone.now() - timedelta(1))
    assert ids(find(world.carol, "offer")) == [str(spam.id)]
    hide_banned(world, False)
    GuildBan.objects.filter(user=world.bob).update(expires_at=None)
    assert ids(find(world.carol, "offer")) == [str(spam.id)]


def test_ban_with_message_deletion_reaches_the_index_exactly_once(world, send, index, find):
    sent = [send(world.bob, world.general, f"flood message {i}") for i in range(3)]
    index()
    sanctions.check_ban(world.alice, world.guild.id, world.bob.id, delete_message_seconds=3600)
    backlog = SearchBacklog.objects.values_list("message_id", "version")
    assert sorted(backlog) == sorted((m.id, 0) for m in sent)  # each deletion, once
    index()
    assert not SearchBacklog.objects.exists()
    for message in sent:
        assert world.engine.indexed_text(message.id) is None
    # one drain for the sends, one for the moderation deletions; each ran once
    runs = Job.objects.filter(name=indexing.DRAIN_JOB)
    assert list(runs.values_list("state", "attempts")) == [(JobState.DONE, 1)] * 2
    assert find(world.alice, "flood")["total_results"] == 0
    assert world.engine.count() == 0


def test_the_setting_through_the_api_and_the_settings_page(world):
    url = f"/api/v1/guilds/{world.guild.id}"
    owner, member = APIClient(), APIClient()
    owner.force_authenticate(world.alice)
    member.force_authenticate(world.bob)
    assert owner.get(url).json()["search_hides_banned"] is False
    response = owner.patch(url, {"search_hides_banned": True}, format="json")
    assert response.status_code == 200 and response.json()["search_hides_banned"] is True
    world.guild.refresh_from_db()
    assert world.guild.search_hides_banned is True
    bad = owner.patch(url, {"search_hides_banned": "yes"}, format="json")
    assert bad.status_code == 400 and "search_hides_banned" in bad.json()["errors"]
    forbidden = member.patch(url, {"search_hides_banned": False}, format="json")
    assert forbidden.status_code == 403
    world.guild.refresh_from_db()
    assert world.guild.search_hides_banned is True
    log = owner.get(f"{url}/audit-logs").json()["audit_log_entries"]
    assert any(
        c["key"] == "search_hides_banned" and c["new_value"] is True
        for e in log
        for c in e.get("changes") or []
    )
    # The web settings page: a checkbox, saved by the same service.
    browser = Client()
    browser.force_login(world.alice)
    page = f"/app/guilds/{world.guild.id}/settings/overview/"
    assert 'name="search_hides_banned" value="1" checked' in browser.get(page).content.decode()
    saved = browser.post(page, {"name": "Chat", "description": ""})
    assert saved.status_code == 302
    world.guild.refresh_from_db()
    assert world.guild.search_hides_banned is False
