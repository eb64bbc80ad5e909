from __future__ import annotations

import pytest

from guilds.permissions import Permissions as P
from moderation.models import AppendOnly, AuditLogEntry, AuditLogEvent

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
