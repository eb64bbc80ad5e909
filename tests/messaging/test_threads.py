"""Following threads and their unread state: the rows, the API, what a member is told."""

from __future__ import annotations

import pytest

from guilds.permissions import Permissions as P
from guilds.services import overwrites as overwrite_services
from messaging.models import GatewayEvent, ReadState, ThreadFollow
from messaging.services.threads import channel_threads, thread_summaries
from united import events

pytestmark = pytest.mark.django_db


def post(client, path: str, body: dict):
    return client.post(f"/api/v1{path}", body, format="json")


def start_thread(world, api, author, content="Shall we plan the launch?", name="Launch"):
    mid = post(api(author), f"/channels/{world.channel.id}/messages", {"content": content})
    mid = mid.json()["id"]
    made = post(api(author), f"/channels/{world.channel.id}/messages/{mid}/threads", {"name": name})
    assert made.status_code == 201, made.content
    return int(made.json()["id"]), mid


def reply(api, user, thread_id: int, content: str) -> str:
    answer = post(api(user), f"/channels/{thread_id}/messages", {"content": content})
    assert answer.status_code == 200, answer.content
    return answer.json()["id"]


def listed(api, user, channel_id: int) -> dict:
    answer = api(user).get(f"/api/v1/channels/{channel_id}/threads")
    assert answer.status_code == 200, answer.content
    return {t["id"]: t for t in answer.json()["threads"]}


def test_starting_or_replying_follows_and_only_followers_see_unread(world, api):
    tid, _ = start_thread(world, api, world.alice)
    assert set(ThreadFollow.objects.filter(thread_id=tid).values_list("user_id", flat=True)) == {
        world.alice.id
    }
    reply(api, world.alice, tid, "first thoughts")
    # bob does not follow: the reply is counted but the thread is not unread for him.
    seen = listed(api, world.bob, world.channel.id)[str(tid)]
    assert (seen["message_count"], seen["following"], seen["unread"]) == (1, False, False)
    reply(api, world.bob, tid, "count me in")
    assert ThreadFollow.objects.filter(thread_id=tid, user=world.bob).exists()
    last = reply(api, world.alice, tid, "great, Friday then")
    seen = listed(api, world.bob, world.channel.id)[str(tid)]
    assert (seen["message_count"], seen["following"], seen["unread"]) == (3, True, True)
    assert seen["last_message_id"] == last
    # The author's own replies never make it unread for them.
    assert listed(api, world.alice, world.channel.id)[str(tid)]["unread"] is False
    # Reading the thread (the same ack as a channel's) clears it and moves the stored marker.
    acked = post(api(world.bob), f"/channels/{tid}/messages/{last}/ack", {})
    assert acked.status_code == 204
    assert ReadState.objects.get(user=world.bob, channel_id=tid).last_message_id == int(last)
    assert listed(api, world.bob, world.channel.id)[str(tid)]["unread"] is False


def test_follow_and_unfollow_by_hand(world, api):
    tid, _ = start_thread(world, api, world.alice)
    me = f"/api/v1/channels/{tid}/thread-members/@me"
    assert api(world.bob).put(me).status_code == 204
    assert listed(api, world.bob, world.channel.id)[str(tid)]["following"] is True
    told = GatewayEvent.objects.filter(
        group=events.user_group(world.bob.id), t="THREAD_MEMBER_UPDATE"
    )
    assert [e.d["following"] for e in told] == [True]
    reply(api, world.alice, tid, "news")
    assert listed(api, world.bob, world.channel.id)[str(tid)]["unread"] is True
    assert api(world.bob).delete(me).status_code == 204
    assert not ThreadFollow.objects.filter(thread_id=tid, user=world.bob).exists()
    seen = listed(api, world.bob, world.channel.id)[str(tid)]
    assert (seen["following"], seen["unread"]) == (False, False)
    assert api(world.bob).delete(me).status_code == 204  # idempotent, like Discord's


def test_mentions_in_a_thread_count_and_make_the_member_follow(world, api):
    tid, _ = start_thread(world, api, world.alice)
    reply(api, world.alice, tid, f"what do you think <@{world.bob.id}>?")
    seen = listed(api, world.bob, world.channel.id)[str(tid)]
    assert (seen["mention_count"], seen["following"], seen["unread"]) == (1, True, True)
    # The mention also counts on the channel in the sidebar (and so on the guild rail).
    from guilds.services.access import guild_context
    from web import sidebar

    item = next(
        i
        for i in sidebar.channel_items(world.bob, guild_context(world.bob, world.guild.id))
        if i.channel.id == world.channel.id
    )
    assert item.mentions == 1 and item.thread_unread is True
    assert all(i.channel.id != tid for i in sidebar.channel_items(world.bob, item_ctx(world)))


def item_ctx(world):
    from guilds.services.access import guild_context

    return guild_context(world.bob, world.guild.id)


def test_thread_list_puts_active_threads_first(world, api):
    from datetime import timedelta

    from django.utils import timezone

    from guilds.models import Channel

    old, _ = start_thread(world, api, world.alice, content="old topic", name="Old")
    new, _ = start_thread(world, api, world.alice, content="new topic", name="New")
    fresh, _ = start_thread(world, api, world.alice, content="fresh topic", name="Fresh")
    Channel.objects.filter(id=old).update(created_at=timezone.now() - timedelta(days=30))
    reply(api, world.alice, new, "bump")
    rows = channel_threads(world.bob, world.channel.id)
    assert [r.thread.id for r in rows] == [new, fresh, old]
    assert [r.active for r in rows] == [True, True, False]
    assert list(listed(api, world.bob, world.channel.id)) == [str(new), str(fresh), str(old)]


def test_who_may_follow_and_list(world, api):
    tid, _ = start_thread(world, api, world.alice)
    # carol cannot see the channel: its threads are unknown to her.
    me = f"/api/v1/channels/{tid}/thread-members/@me"
    assert api(world.carol).put(me).status_code == 404
    assert api(world.carol).get(f"/api/v1/channels/{world.channel.id}/threads").status_code == 404
    assert not ThreadFollow.objects.filter(user=world.carol).exists()
    # A channel is not a thread, and a thread has no threads.
    refused = api(world.bob).put(f"/api/v1/channels/{world.channel.id}/thread-members/@me")
    assert refused.status_code == 400 and "channel_id" in refused.json()["errors"]
    nested = api(world.bob).get(f"/api/v1/channels/{tid}/threads")
    assert nested.status_code == 400


def test_without_read_history_the_list_is_empty(world, api):
    start_thread(world, api, world.alice)
    overwrite_services.check_put_overwrite(
        world.alice,
        world.channel.id,
        world.guild.id,
        {"type": 0, "deny": str(int(P.READ_MESSAGE_HISTORY))},
    )
    assert api(world.bob).get(f"/api/v1/channels/{world.channel.id}/threads").json() == {
        "threads": []
    }


def test_summaries_cost_a_fixed_number_of_queries(world, api, django_assert_max_num_queries):
    from guilds.models import Channel

    ids = [
        start_thread(world, api, world.alice, content=f"t{n}", name=f"T{n}")[0] for n in range(6)
    ]
    for tid in ids:
        reply(api, world.alice, tid, f"hey <@{world.bob.id}>")
    threads = list(Channel.objects.filter(id__in=ids))
    with django_assert_max_num_queries(7):
        summaries = thread_summaries(world.bob, threads)
    assert all(s.mentions == 1 and s.unread for s in summaries.values())
