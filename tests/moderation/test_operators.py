"""Operator tools: node bans, guild suspensions and the node audit log, through the admin,
the REST API and a live gateway socket."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.db import close_old_connections

from accounts.models import AuthSession
from guilds.services import directory
from moderation.models import NodeAccount, NodeAuditEntry, OperatedGuild
from moderation.services import operators
from tests.messaging.test_realtime_chat import cookie_for, open_session
from tests.moderation.pages import browser


@pytest.fixture
def root(make_user):
    return make_user("root", is_staff=True, is_superuser=True)


@pytest.mark.django_db
def test_node_ban_deactivates_and_revokes_sessions(world, root, api):
    w = world
    from accounts.services.tokens import do_start_api_session

    do_start_api_session(w.bob, None)
    assert AuthSession.objects.filter(user=w.bob, revoked_at__isnull=True).exists()
    body = {"action": "node_ban", "_selected_action": [str(w.bob.id)]}
    response = browser(root).post("/admin/moderation/nodeaccount/", body, follow=True)
    assert b"1 account(s) banned from the node" in response.content
    w.bob.refresh_from_db()
    assert not w.bob.is_active
    assert not AuthSession.objects.filter(user=w.bob, revoked_at__isnull=True).exists()
    entry = NodeAuditEntry.objects.get(action="node_ban")
    assert entry.operator_id == root.id and entry.target_user_id == w.bob.id
    # Operators cannot be banned this way, and only operators may ban.
    with pytest.raises(Exception, match="operators"):
        operators.do_node_ban(w.alice, w.carol)
    assert operators.do_node_unban(root, w.bob)
    w.bob.refresh_from_db()
    assert w.bob.is_active


@pytest.mark.django_db
def test_suspended_guild_cannot_be_read_or_written_and_leaves_the_directory(world, root, api):
    w = world
    from guilds.services.guilds import check_update_guild

    check_update_guild(w.alice, w.guild.id, {"discoverable": True})
    assert [e["id"] for e in directory.directory()] == [str(w.guild.id)]
    body = {"action": "suspend", "_selected_action": [str(w.guild.id)]}
    response = browser(root).post("/admin/moderation/operatedguild/", body, follow=True)
    assert b"1 guild(s) suspended" in response.content
    assert directory.directory() == []
    base = f"/api/v1/channels/{w.channel.id}/messages"
    assert api(w.bob).get(base).status_code == 404
    assert api(w.alice).post(base, {"content": "hello?"}, "json").status_code == 404
    assert api(w.alice).get(f"/api/v1/guilds/{w.guild.id}").status_code == 404
    assert NodeAuditEntry.objects.filter(action="guild_suspend", target_guild_id=w.guild.id)

    assert operators.do_unsuspend_guild(root, OperatedGuild.objects.get(id=w.guild.id))
    assert api(w.bob).get(base).status_code == 200
    assert [e["id"] for e in directory.directory()] == [str(w.guild.id)]


@pytest.mark.django_db
def test_operator_pages_are_for_operators_only(world, root):
    w = world
    w.mo.is_staff = True
    w.mo.save(update_fields=["is_staff"])
    for path in ("nodeauditentry", "nodeaccount", "operatedguild", "guildsuspension"):
        assert browser(root).get(f"/admin/moderation/{path}/").status_code == 200, path
        assert browser(w.mo).get(f"/admin/moderation/{path}/").status_code == 403, path
    operators.record_node_audit(root, "test", user=w.bob)
    entry = NodeAuditEntry.objects.get(action="test")
    page = browser(root).get(f"/admin/moderation/nodeauditentry/{entry.id}/change/")
    assert f"user__id__exact={w.bob.id}".encode() in page.content  # linked to AuthEvents
    assert NodeAccount.objects.filter(id=w.bob.id).exists()


@pytest.mark.django_db(transaction=True)
async def test_node_ban_closes_live_gateway_sockets(world, root):
    w = world
    session = await open_session(await sync_to_async(cookie_for)(w.bob))
    await sync_to_async(operators.do_node_ban)(root, w.bob)
    closed = await session.ws.receive_output(timeout=5)
    while closed["type"] != "websocket.close":
        closed = await session.ws.receive_output(timeout=5)
    assert closed["code"] == 4004
    await session.ws.wait(timeout=5)  # let the consumer finish its disconnect bookkeeping
    await sync_to_async(close_old_connections)()
