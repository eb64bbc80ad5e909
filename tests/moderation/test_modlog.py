"""The moderation log is hash-chained and signed; `verify_modlog` finds the first broken or
missing entry after someone tampers with the database directly."""

from __future__ import annotations

import os
import stat
import threading
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from guilds.services import members as member_services
from moderation import signing
from moderation.models import AuditLogEntry, ModlogHead
from moderation.services import record_audit, sanctions
from moderation.verify import GENESIS, verify_export

pytestmark = pytest.mark.django_db


def verify(guild) -> tuple[int, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("verify_modlog", str(guild.id), stdout=out, stderr=err)
    except SystemExit as exit_:
        return exit_.code, err.getvalue()
    return 0, out.getvalue()


@pytest.fixture
def logged(world, make_user):
    """A few more entries on top of the ones setting up the guild wrote."""
    w = world
    w.dave = make_user("dave")
    member_services.do_add_member(w.guild, w.dave)
    sanctions.check_kick(w.mo, w.guild.id, w.carol.id, reason="first")
    sanctions.check_ban(w.sam, w.guild.id, w.dave.id, reason="second")
    sanctions.check_unban(w.sam, w.guild.id, w.dave.id, reason="third")
    return w


def entries(guild) -> list[AuditLogEntry]:
    return list(AuditLogEntry.objects.filter(guild=guild).order_by("seq"))


def test_every_change_is_chained_and_signed(logged):
    rows = entries(logged.guild)
    assert [e.seq for e in rows] == list(range(1, len(rows) + 1))
    assert rows[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in zip(rows, rows[1:], strict=False))
    assert ModlogHead.objects.get(guild=logged.guild).hash == rows[-1].hash
    code, out = verify(logged.guild)
    assert code == 0 and f"{len(rows)} entries" in out
    # Role and permission changes are in it, not only sanctions.
    assert {"ROLE_CREATE", "MEMBER_ROLE_UPDATE", "MEMBER_KICK", "MEMBER_BAN_ADD"} <= {
        e.get_action_type_display().upper().replace(" ", "_") for e in rows
    }


def test_node_key_file_is_private(logged):
    path = signing.key_path()
    assert path.parent == settings.DATA_DIR and path.name == "node-modlog-ed25519.key"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_export_verifies_offline_and_needs_view_audit_log(logged, api):
    w = logged
    url = f"/api/v1/guilds/{w.guild.id}/modlog/export"
    assert api(w.carol).get(url).status_code == 404  # kicked: not a member any more
    assert api(w.bob).get(url).status_code == 403
    export = api(w.mo).get(url).json()
    assert export["public_key"] == signing.public_key()
    result = verify_export(export, signing.public_key())
    assert result.ok, result
    first = export["entries"][0]
    assert set(first) >= {"seq", "action", "target", "details", "actor", "time", "prev_hash", "sig"}
    # An edit to the JSON, or cutting the last entry off, is caught offline too.
    export["entries"][1]["details"]["reason"] = "rewritten"
    assert not verify_export(export, signing.public_key()).ok
    export = api(w.mo).get(url).json()
    export["entries"].pop()
    cut = verify_export(export, signing.public_key())
    assert not cut.ok and "head" in cut.problem


def test_detects_an_edited_entry(logged):
    victim = entries(logged.guild)[-2]
    AuditLogEntry.objects.filter(id=victim.id).update(reason="nothing to see")
    code, err = verify(logged.guild)
    assert code == 1 and f"seq {victim.seq}" in err and "signature" in err


def test_detects_a_deleted_entry(logged):
    victim = entries(logged.guild)[2]
    AuditLogEntry.objects.filter(id=victim.id).delete()
    code, err = verify(logged.guild)
    assert code == 1 and f"entry {victim.seq} is missing" in err


def test_detects_a_deleted_last_entry(logged):
    AuditLogEntry.objects.filter(id=entries(logged.guild)[-1].id).delete()
    code, err = verify(logged.guild)
    assert code == 1 and "head" in err


def test_detects_a_reordered_pair(logged):
    a, b = entries(logged.guild)[3:5]
    AuditLogEntry.objects.filter(id=a.id).update(seq=10**9)
    AuditLogEntry.objects.filter(id=b.id).update(seq=a.seq)
    AuditLogEntry.objects.filter(id=a.id).update(seq=b.seq)
    code, err = verify(logged.guild)
    assert code == 1 and f"seq {a.seq}" in err


def test_unknown_guild_is_an_error(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("verify_modlog", "12345")


@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_leave_no_gaps(world):
    if connection.vendor != "postgresql":
        pytest.skip("needs row locks (PostgreSQL); SQLite serialises writers anyway")
    w = world
    errors: list[BaseException] = []

    def append(i: int) -> None:
        try:
            for _ in range(5):
                record_audit(w.guild, w.alice, 1, None, [{"key": "n", "new_value": i}])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=append, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    seqs = [e.seq for e in entries(w.guild)]
    assert seqs == list(range(1, len(seqs) + 1))
    assert verify(w.guild)[0] == 0


def test_joining_is_not_a_moderation_entry(world):
    before = AuditLogEntry.objects.count()
    member_services.do_add_member(world.guild, world.carol)
    assert AuditLogEntry.objects.count() == before
