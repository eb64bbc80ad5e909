from __future__ import annotations

import pytest
from django.db import transaction

from guilds.models import Role
from guilds.permissions import Permissions as P
from guilds.services import roles as role_services
from guilds.services.access import guild_context
from messaging.models import GatewayEvent
from moderation.models import AppendOnly, AuditLogEntry, ModlogHead
from moderation.services import audit as audit_services
from moderation.services.audit import verify_guild_modlog
from united import events
from united.audit import AuditLogEvent

pytestmark = pytest.mark.django_db


def test_audit_log_needs_view_audit_log(api, guild, owner, join, make_role):
    api(owner).patch(
        f"/api/v1/guilds/{guild.id}",
        {"name": "Renamed"},
        format="json",
        HTTP_X_AUDIT_LOG_REASON="because",
    )
    role = make_role("Auditors", P.VIEW_AUDIT_LOG)
    member = join("member")
    assert api(member).get(f"/api/v1/guilds/{guild.id}/audit-logs").status_code == 403
    auditor = join("auditor", role)
    response = api(auditor).get(f"/api/v1/guilds/{guild.id}/audit-logs")
    assert response.status_code == 200
    body = response.json()
    kinds = [e["action_type"] for e in body["audit_log_entries"]]
    # Newest first: giving the auditor the role, creating it, renaming the guild.
    assert kinds == [
        AuditLogEvent.MEMBER_ROLE_UPDATE,
        AuditLogEvent.ROLE_CREATE,
        AuditLogEvent.GUILD_UPDATE,
    ]
    update = body["audit_log_entries"][-1]
    assert update["user_id"] == str(owner.id) and update["reason"] == "because"
    assert update["target_id"] == str(guild.id)
    assert {u["id"] for u in body["users"]} == {str(owner.id)}
    filtered = (
        api(auditor)
        .get(f"/api/v1/guilds/{guild.id}/audit-logs?action_type=30&limit=1")
        .json()["audit_log_entries"]
    )
    assert [e["action_type"] for e in filtered] == [30]
    assert api(auditor).get(f"/api/v1/guilds/{guild.id}/audit-logs?limit=500").status_code == 400
    assert api(auditor).get(f"/api/v1/guilds/{guild.id}/audit-logs?before=x").status_code == 400


def test_entries_are_append_only(api, guild, owner):
    api(owner).patch(f"/api/v1/guilds/{guild.id}", {"name": "Renamed"}, format="json")
    entry = AuditLogEntry.objects.get()
    entry.reason = "rewritten"
    with pytest.raises(AppendOnly):
        entry.save()


def test_rejected_change_writes_no_entry(api, guild, join):
    member = join("member")
    api(member).patch(f"/api/v1/guilds/{guild.id}", {"name": "Mine"}, format="json")
    assert not AuditLogEntry.objects.filter(action_type=AuditLogEvent.GUILD_UPDATE).exists()


class Abandoned(Exception):
    pass


def _rename_role(owner, guild, role, name: str, reason: str):
    """A role change through guilds' own `do_*`, as every door reaches it."""
    ctx = guild_context(owner, guild.id, lock=True)
    return role_services.do_update_role(ctx, ctx.roles[role.id], {"name": name}, reason=reason)


def test_role_change_reaches_the_log_through_the_moderation_observer(guild, owner, make_role):
    role = make_role("Helpers")
    before = ModlogHead.objects.get(guild_id=guild.id).seq
    heard: list[events.Published] = []
    events.observe(heard.append)
    try:
        with transaction.atomic():
            _rename_role(owner, guild, role, "Stewards", "clearer name")
    finally:
        events.unobserve(heard.append)

    # The event guilds published carries the entry; guilds itself wrote none.
    (event,) = [e for e in heard if e.t == "GUILD_ROLE_UPDATE"]
    assert event.actor_id == owner.id
    assert event.audit is not None and event.audit.action == AuditLogEvent.ROLE_UPDATE
    entry = AuditLogEntry.objects.get(guild=guild, seq=before + 1)
    assert (entry.action_type, entry.target_id, entry.actor_id, entry.reason) == (
        AuditLogEvent.ROLE_UPDATE,
        role.id,
        owner.id,
        "clearer name",
    )
    assert entry.changes == [{"key": "name", "old_value": "Helpers", "new_value": "Stewards"}]
    assert verify_guild_modlog(guild.id).ok

    # Without moderation's observer the same change leaves the log as it was: the entry above
    # was written by the observer, not by the guild service.
    saved = events._observers[:]
    events.unobserve(audit_services.on_event)
    try:
        with transaction.atomic():
            _rename_role(owner, guild, role, "Wardens", "")
    finally:
        events._observers[:] = saved
    assert Role.objects.get(id=role.id).name == "Wardens"
    assert ModlogHead.objects.get(guild_id=guild.id).seq == before + 1


def test_rolled_back_role_change_leaves_no_entry(guild, owner, make_role):
    role = make_role("Helpers")
    head = ModlogHead.objects.get(guild_id=guild.id)
    entries = AuditLogEntry.objects.filter(guild=guild).count()
    stored = GatewayEvent.objects.filter(t="GUILD_ROLE_UPDATE").count()
    with pytest.raises(Abandoned), transaction.atomic():
        _rename_role(owner, guild, role, "Stewards", "never happened")
        # The entry exists inside the change's transaction...
        assert AuditLogEntry.objects.filter(guild=guild, reason="never happened").exists()
        raise Abandoned
    # ...and goes with it: no entry, the chain's head where it was, no stored event.
    assert AuditLogEntry.objects.filter(guild=guild).count() == entries
    assert ModlogHead.objects.get(guild_id=guild.id).seq == head.seq
    assert ModlogHead.objects.get(guild_id=guild.id).hash == head.hash
    assert GatewayEvent.objects.filter(t="GUILD_ROLE_UPDATE").count() == stored
    assert Role.objects.get(id=role.id).name == "Helpers"
    assert verify_guild_modlog(guild.id).ok
