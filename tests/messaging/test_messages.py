from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import close_old_connections
from django.utils import timezone

from guilds.permissions import Permissions as P
from guilds.services import channels as channel_services
from guilds.services import overwrites as overwrite_services
from messaging.models import Message, MessageEdit, Reaction
from messaging.services import messages
from messaging.tasks import expire_messages

pytestmark = pytest.mark.django_db


def url(w, suffix: str = "") -> str:
    return f"/api/v1/channels/{w.channel.id}/messages{suffix}"


def send(client, w, content="hello", **extra):
    return client.post(url(w), {"content": content, **extra}, format="json")


def test_send_and_read_history(world, api):
    alice, bob = api(world.alice), api(world.bob)
    first = send(alice, world, "**hi** bob").json()
    second = send(bob, world, "hi alice").json()
    assert first["content_html"] == "<p><strong>hi</strong> bob</p>"
    assert first["author"]["username"] == "alice" and first["guild_id"] == str(world.guild.id)
    page = bob.get(url(world)).json()
    assert [m["id"] for m in page] == [second["id"], first["id"]]  # newest first
    assert page[0]["hlc"] > page[1]["hlc"]


def test_hidden_channel_is_unknown_to_outsiders(world, api):
    send(api(world.alice), world)
    carol = api(world.carol)
    for response in (carol.get(url(world)), send(carol, world, "let me in")):
        assert response.status_code == 404
        assert response.json()["code"] == 10003


def test_retried_send_with_same_nonce_is_one_message(world, api):
    client = api(world.bob)
    a = send(client, world, "once", nonce="n-1").json()
    b = send(client, world, "once", nonce="n-1").json()
    assert a["id"] == b["id"]
    assert Message.objects.filter(nonce="n-1").count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_with_same_nonce_make_one_message(world):
    results, errors = [], []

    def worker():
        try:
            message, _ = messages.check_send_message(
                world.bob, world.channel.id, content="race", nonce="same"
            )
            results.append(message.id)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(results)) == 1
    assert Message.objects.filter(nonce="same").count() == 1


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"content": ""}, 400, 50006),
        ({"content": "   "}, 400, 50006),
        ({"content": "x" * 4001}, 400, 50035),
        ({"content": 5}, 400, 50035),
        ({"content": "ok", "nonce": "x" * 65}, 400, 50035),
        ({"content": "ok", "ttl": 0}, 400, 50035),
        ({"content": "ok", "message_reference": {"message_id": "123"}}, 400, 50035),
    ],
)
def test_bad_sends_get_clear_errors(world, api, body, status, code):
    response = api(world.bob).post(url(world), body, format="json")
    assert response.status_code == status
    assert response.json()["code"] == code
    assert not Message.objects.exists()


def test_edit_keeps_history_and_only_author_may(world, api):
    mid = send(api(world.bob), world, "frist").json()["id"]
    assert (
        api(world.alice).patch(url(world, f"/{mid}"), {"content": "x"}, format="json").status_code
        == 403
    )
    edited = api(world.bob).patch(url(world, f"/{mid}"), {"content": "first"}, format="json")
    assert edited.status_code == 200
    assert edited.json()["content"] == "first" and edited.json()["edited_timestamp"]
    assert list(MessageEdit.objects.values_list("content", flat=True)) == ["frist"]


def test_delete_leaves_tombstone(world, api):
    mid = send(api(world.bob), world, "oops").json()["id"]
    api(world.alice).put(url(world, f"/{mid}/reactions/%F0%9F%91%8D/@me"))
    assert api(world.bob).delete(url(world, f"/{mid}")).status_code == 204
    row = Message.objects.get(id=mid)
    assert row.deleted and row.content == "" and not Reaction.objects.exists()
    page = api(world.alice).get(url(world)).json()
    assert page[0]["deleted"] is True and page[0]["content"] == ""
    assert api(world.bob).delete(url(world, f"/{mid}")).status_code == 404


def test_only_author_or_manage_messages_may_delete(world, api):
    mid = send(api(world.alice), world, "mine").json()["id"]
    assert api(world.bob).delete(url(world, f"/{mid}")).status_code == 403
    assert api(world.alice).delete(url(world, f"/{mid}")).status_code == 204


def test_reactions_toggle_and_count(world, api):
    mid = send(api(world.alice), world, "react").json()["id"]
    thumbs = "/reactions/%F0%9F%91%8D"
    assert api(world.bob).put(url(world, f"/{mid}{thumbs}/@me")).status_code == 204
    assert api(world.bob).put(url(world, f"/{mid}{thumbs}/@me")).status_code == 204  # idempotent
    api(world.alice).put(url(world, f"/{mid}{thumbs}/@me"))
    msg = api(world.bob).get(url(world, f"/{mid}")).json()
    assert msg["reactions"] == [{"emoji": {"id": None, "name": "👍"}, "count": 2, "me": True}]
    who = api(world.bob).get(url(world, f"/{mid}{thumbs}")).json()
    assert {u["username"] for u in who} == {"alice", "bob"}
    api(world.bob).delete(url(world, f"/{mid}{thumbs}/@me"))
    assert Reaction.objects.count() == 1
    bad = api(world.bob).put(url(world, f"/{mid}/reactions/notanemoji/@me"))
    assert bad.status_code == 400 and bad.json()["code"] == 10014


def test_pins_need_manage_messages(world, api):
    mid = send(api(world.bob), world, "pin me").json()["id"]
    pin = f"/api/v1/channels/{world.channel.id}/pins/{mid}"
    assert api(world.bob).put(pin).status_code == 403
    assert api(world.alice).put(pin).status_code == 204
    pins = api(world.bob).get(f"/api/v1/channels/{world.channel.id}/pins").json()
    assert [p["id"] for p in pins] == [mid]


def test_mentions_are_permission_checked(world, api):
    alice, bob = world.alice, world.bob
    body = f"hey <@{alice.id}> and <@{world.carol.id}> @everyone <@&{world.outsiders.id}>"
    msg = send(api(bob), world, body).json()
    assert {u["username"] for u in msg["mentions"]} == {"alice", "carol"}
    assert msg["mention_everyone"] is False  # bob lacks MENTION_EVERYONE
    assert msg["mention_roles"] == []  # the role is not mentionable
    owner_msg = send(api(alice), world, "@everyone look").json()
    assert owner_msg["mention_everyone"] is True


def test_replies_reference_the_original(world, api):
    original = send(api(world.alice), world, "question").json()
    reply = send(
        api(world.bob), world, "answer", message_reference={"message_id": original["id"]}
    ).json()
    assert reply["message_reference"]["message_id"] == original["id"]
    assert reply["type"] == 19


def test_history_paging_is_stable(world, api):
    client = api(world.bob)
    ids = [send(client, world, f"m{i}").json()["id"] for i in range(7)]
    newest = client.get(url(world), {"limit": 3}).json()
    assert [m["id"] for m in newest] == ids[-1:-4:-1]
    older = client.get(url(world), {"before": newest[-1]["id"], "limit": 3}).json()
    assert [m["id"] for m in older] == ids[-4:-7:-1]
    after = client.get(url(world), {"after": ids[0], "limit": 2}).json()
    assert [m["id"] for m in after] == [ids[2], ids[1]]
    around = client.get(url(world), {"around": ids[3], "limit": 3}).json()
    assert [m["id"] for m in around] == [ids[4], ids[3], ids[2]]
    for bad in (
        {"limit": 101},
        {"limit": 0},
        {"limit": "x"},
        {"before": 1, "after": 2},
        {"before": "999"},
    ):
        assert client.get(url(world), bad).status_code == 400


def test_without_read_history_the_past_is_empty(world, api):
    send(api(world.alice), world, "before you came")
    overwrite_services.check_put_overwrite(
        world.alice,
        world.channel.id,
        world.guild.id,
        {"type": 0, "deny": str(int(P.READ_MESSAGE_HISTORY))},
    )
    assert api(world.bob).get(url(world)).json() == []


def test_slow_mode_refuses_with_retry_after(world, api):
    channel_services.check_update_channel(
        world.alice, world.channel.id, {"rate_limit_per_user": 30}
    )
    client = api(world.bob)
    assert send(client, world, "one").status_code == 200
    second = send(client, world, "two")
    assert second.status_code == 429
    body = second.json()
    assert body["code"] == 20016 and 25 < body["retry_after"] <= 30
    assert int(second["Retry-After"]) >= 25
    assert send(api(world.alice), world, "mods are exempt").status_code == 200


def test_ttl_messages_are_hard_deleted_when_due(world, api):
    mid = send(api(world.bob), world, "self-destruct", ttl=60).json()["id"]
    keep = send(api(world.bob), world, "stays").json()["id"]
    expire_messages()
    assert Message.objects.filter(id=mid).exists()
    Message.objects.filter(id=mid).update(expires_at=timezone.now() - timedelta(seconds=1))
    expire_messages()
    assert not Message.objects.filter(id=mid).exists()
    assert Message.objects.filter(id=keep).exists()


def test_threads_start_from_a_message(world, api):
    mid = send(api(world.alice), world, "topic").json()["id"]
    thread = api(world.bob).post(url(world, f"/{mid}/threads"), {"name": "Topic"}, format="json")
    assert thread.status_code == 201
    tid = thread.json()["id"]
    posted = api(world.bob).post(
        f"/api/v1/channels/{tid}/messages", {"content": "in thread"}, format="json"
    )
    assert posted.status_code == 200
    assert api(world.carol).get(f"/api/v1/channels/{tid}/messages").status_code == 404
    again = api(world.bob).post(url(world, f"/{mid}/threads"), {"name": "Again"}, format="json")
    assert again.status_code == 400


def test_read_state_and_mention_counts(world, api):
    from messaging.services.readstates import read_states

    send(api(world.bob), world, f"hi <@{world.alice.id}>")
    last = send(api(world.bob), world, "plain").json()["id"]
    state = read_states(world.alice, [world.channel])[0]
    assert state["unread"] is True and state["mention_count"] == 1
    ack = api(world.alice).post(url(world, f"/{last}/ack"))
    assert ack.status_code == 204
    state = read_states(world.alice, [world.channel])[0]
    assert state == {
        "id": str(world.channel.id),
        "last_message_id": last,
        "mention_count": 0,
        "unread": False,
        "muted": False,
    }


def test_read_markers_only_move_forward_and_a_send_marks_the_senders_own(world, api):
    from messaging.services.readstates import read_states

    first = send(api(world.bob), world, "one").json()["id"]
    second = send(api(world.bob), world, "two").json()["id"]
    assert read_states(world.bob, [world.channel])[0]["last_message_id"] == second
    assert read_states(world.alice, [world.channel])[0]["unread"] is True
    for message_id in (second, first):  # acking an older message does not move it back
        assert api(world.alice).post(url(world, f"/{message_id}/ack")).status_code == 204
        state = read_states(world.alice, [world.channel])[0]
        assert state["last_message_id"] == second and state["unread"] is False


def test_channel_default_ttl_applies_to_new_messages(world, api):
    updated = api(world.alice).patch(
        f"/api/v1/channels/{world.channel.id}", {"default_message_ttl": 3600}, format="json"
    )
    assert updated.status_code == 200 and updated.json()["default_message_ttl"] == 3600
    sent = send(api(world.bob), world, "fleeting").json()
    assert sent["expires_at"] is not None
    bad = api(world.alice).patch(
        f"/api/v1/channels/{world.channel.id}", {"default_message_ttl": -1}, format="json"
    )
    assert bad.status_code == 400
