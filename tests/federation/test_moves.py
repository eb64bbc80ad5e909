"""Moving an account, in one node's database: how memberships and bans pass to the new
account, what a moved account may still do, and the checks a Move meets at the inbox door
(the three-node story is tests/federation/test_move_live.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.services import moves as account_moves
from federation import activities, actors, moves, origin
from federation.models import AccountMove
from guilds.models import Member
from guilds.services import invites as invite_services
from guilds.services import members as member_services
from tests.worlds import local_world

NEW = "https://new.example/users/alice"


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _world(make_user):
    return local_world(
        make_user,
        guild="Harbour",
        owner="carol",
        members=["alice", "newalice"],
        roles={"Crew": None, "Deck": None},
        member_roles={"alice": "Crew", "newalice": "Deck"},
    )


def test_a_move_into_an_existing_membership_merges_the_two(make_user):
    w = _world(make_user)
    guild = w.guild
    old = Member.objects.get(guild=guild, user=w.alice)
    Member.objects.filter(id=old.id).update(nick="Al", joined_at=timezone.now() - timedelta(days=9))
    earlier = Member.objects.get(id=old.id).joined_at

    assert member_services.do_move_member(guild, w.alice, w.newalice) is True

    assert not Member.objects.filter(guild=guild, user=w.alice).exists()
    merged = Member.objects.get(guild=guild, user=w.newalice)
    assert sorted(r.name for r in merged.roles.all()) == ["Crew", "Deck"]
    assert merged.nick == "Al" and merged.joined_at == earlier
    # A second time there is nothing left to move.
    assert member_services.do_move_member(guild, w.alice, w.newalice) is False


def test_a_banned_accounts_new_account_is_banned_too(make_user):
    from moderation.models import GuildBan
    from moderation.services.sanctions import do_ban

    w = _world(make_user)
    do_ban(w.guild, w.carol, w.alice, "spam")
    fresh = make_user("alice2")

    moves.transfer(w.alice, fresh)

    assert GuildBan.objects.filter(guild=w.guild, user=fresh).exists()
    assert not Member.objects.filter(guild=w.guild, user=fresh).exists()


def test_a_moved_account_is_read_only_and_says_where_it_went(make_user):
    w = _world(make_user)
    invite = invite_services.check_create_invite(w.carol, w.channel.id, {"max_age": 0})
    account_moves.do_mark_moved(w.alice, NEW, "alice@new.example")
    client = APIClient()
    client.force_authenticate(w.alice)

    sent = client.post(
        f"/api/v1/channels/{w.channel.id}/messages", {"content": "hi"}, format="json"
    )
    assert sent.status_code == 403
    assert sent.json()["code"] == 50013 and "alice@new.example" in sent.json()["message"]
    joined = client.post(f"/api/v1/invites/{invite.code}", {}, format="json")
    assert joined.status_code == 403 and "moved" in joined.json()["message"]
    dm = client.post("/api/v1/users/@me/channels", {"recipient_id": str(w.carol.id)}, format="json")
    assert dm.status_code == 403
    # Reading and exporting still work.
    assert client.get(f"/api/v1/channels/{w.channel.id}/messages").status_code == 200
    exported = client.get("/api/v1/users/@me/export")
    assert exported.status_code == 200 and exported.json()["move"]["moved_to"] == NEW
    # The actor says movedTo; a browser gets the profile page saying so.
    doc = client.get("/users/alice", HTTP_ACCEPT="application/activity+json").json()
    assert doc["movedTo"] == NEW
    page = client.get("/users/alice", HTTP_ACCEPT="text/html")
    assert b"has moved to" in page.content and NEW.encode() in page.content
    finger = client.get("/.well-known/webfinger", {"resource": f"acct:alice@{_domain()}"}).json()
    assert {"rel": moves_rel(), "type": "application/activity+json", "href": NEW} in finger["links"]


def _domain() -> str:
    from django.conf import settings

    return settings.FEDERATION_DOMAIN


def moves_rel() -> str:
    return "https://www.w3.org/ns/activitystreams#movedTo"


def test_an_alias_is_published_and_the_aliases_are_bounded(make_user):
    alice = make_user("alice")
    for n in range(account_moves.MAX_ALIASES):
        account_moves.do_add_alias(alice, f"https://old{n}.example/users/alice")
    assert actors.render_person(alice)["alsoKnownAs"][0] == "https://old0.example/users/alice"
    with pytest.raises(account_moves.Invalid):
        account_moves.do_add_alias(alice, "https://one-more.example/users/alice")
    client = APIClient()
    client.force_authenticate(alice)
    assert (
        client.get("/api/v1/users/@me/aliases")
        .json()["also_known_as"][4]
        .startswith("https://old4.")
    )
    gone = client.delete(
        "/api/v1/users/@me/aliases", {"actor": "https://old0.example/users/alice"}, format="json"
    )
    assert gone.status_code == 204
    unknown = client.delete("/api/v1/users/@me/aliases", {"actor": "nope"}, format="json")
    assert unknown.status_code == 400 and unknown.json()["errors"]["actor"]
    own = client.post("/api/v1/users/@me/aliases", {"handle": f"bob@{_domain()}"}, format="json")
    assert own.status_code == 400 and own.json()["errors"]["handle"]


def test_a_move_must_be_of_its_own_actor():
    mover = "https://old.example/users/mallory"
    someone = "https://old.example/users/alice"
    activity = activities.move(someone, NEW)
    with pytest.raises(origin.OriginError) as refused:
        origin.check_activity(activity, mover)
    assert refused.value.reason == "move_object"
    origin.check_activity(activities.move(mover, NEW), mover)  # its own: fine


def test_a_second_move_within_the_cooldown_is_refused_before_any_fetch(make_user):
    old = "https://old.example/users/alice"
    bob = make_user("bob")  # an account of this node that names nobody as an alias
    AccountMove.objects.create(old_uri=old, new_uri=NEW)
    elsewhere = activities.move(old, actors.user_uri(bob.username))
    with pytest.raises(moves.MoveRefused) as refused:
        moves._verify(elsewhere)
    assert refused.value.status == 409 and refused.value.reason == "move_cooldown"
    # After the cool-down the same Move is judged on its alias: bob does not name alice.
    AccountMove.objects.filter(old_uri=old).update(moved_at=timezone.now() - timedelta(days=31))
    with pytest.raises(moves.MoveRefused) as later:
        moves._verify(elsewhere)
    assert later.value.status == 422 and later.value.reason == "move_alias"
    account_moves.do_add_alias(bob, old)
    assert moves._verify(elsewhere) == actors.user_uri("bob")


def test_moving_asks_for_the_second_factor_when_there_is_one(make_user, rf):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    alice = make_user("alice")
    TOTPDevice.objects.create(user=alice, name="a", confirmed=True)
    with pytest.raises(account_moves.Invalid) as refused:
        account_moves.check_reauthenticate(
            rf.post("/"), alice, password="correct horse battery staple"
        )
    assert "code" in refused.value.errors
    with pytest.raises(account_moves.Invalid) as wrong:
        account_moves.check_reauthenticate(
            rf.post("/"), alice, password="correct horse battery staple", code="000000"
        )
    assert "code" in wrong.value.errors


def test_a_received_move_passes_memberships_and_follows_to_the_new_account(make_user):
    from django.db import transaction

    from federation.models import Delivery, Follow, InboxItem, RemoteActor
    from federation.people import user_for_actor
    from federation.services import do_follow
    from tests.federation.fixtures import remote_identity

    old = remote_identity("https://old.example/users/alice")
    new = remote_identity("https://new.example/users/alice")
    w = local_world(make_user, guild="Harbour", owner="carol", roles={"Crew": None})
    old_account = user_for_actor(old.uri)
    member_services.do_add_member(w.guild, old_account)
    member_services.check_member_role(
        w.carol, w.guild.id, old_account.id, w.roles["Crew"].id, add=True
    )
    old_actor = RemoteActor.objects.get(uri=old.uri)
    do_follow(w.carol, old_actor)
    move = activities.move(old.uri, new.uri)
    item = InboxItem(activity_uri=move["id"], type="Move", actor_uri=old.uri)

    with transaction.atomic():
        state, detail = moves.handle(item, move, old_actor)

    assert state == "processed", detail
    new_account = user_for_actor(new.uri)
    moved = Member.objects.get(guild=w.guild, user=new_account)
    assert [r.name for r in moved.roles.all()] == ["Crew"]
    assert not Member.objects.filter(guild=w.guild, user=old_account).exists()
    follows = Follow.objects.filter(local_user=w.carol, outgoing=True)
    assert [f.remote_actor.uri for f in follows] == [new.uri]
    sent = Delivery.objects.filter(activity__type="Follow", activity__payload__object=new.uri)
    assert sent.count() == 1
    assert AccountMove.objects.get(old_uri=old.uri).new_uri == new.uri
    # The same Move again changes nothing.
    with transaction.atomic():
        moves.handle(item, move, RemoteActor.objects.get(uri=old.uri))
    assert Member.objects.filter(guild=w.guild, user=new_account).count() == 1
    assert Follow.objects.filter(local_user=w.carol, outgoing=True).count() == 1


def test_a_move_to_a_private_address_is_a_bad_move_not_a_retry(db, settings):
    settings.FEDERATION_ALLOW_PRIVATE = []
    old = "https://old.example/users/alice"
    with pytest.raises(moves.MoveRefused) as refused:
        moves._verify(activities.move(old, "http://127.0.0.1:9/users/alice"))
    assert refused.value.status == 400 and refused.value.reason == "move_invalid"
