"""Entries written before the log was chained get their seq, hashes and signatures, in the
order they were written (by id, which is time-sortable)."""

import json
from datetime import UTC

from django.db import migrations


def chain(apps, schema_editor):
    from moderation import signing
    from moderation.verify import GENESIS, canonical, entry_hash

    Entry = apps.get_model("moderation", "AuditLogEntry")
    Head = apps.get_model("moderation", "ModlogHead")
    choices = dict(Entry._meta.get_field("action_type").choices)
    guild_ids = Entry.objects.filter(seq__isnull=True).values_list("guild_id", flat=True).distinct()
    for guild_id in list(guild_ids):
        prev, seq = GENESIS, 0
        for entry in Entry.objects.filter(guild_id=guild_id).order_by("id"):
            seq += 1
            changes = json.loads(json.dumps(entry.changes or []))
            name = choices.get(entry.action_type, str(entry.action_type))
            fields = {
                "guild_id": str(guild_id),
                "seq": seq,
                "action": name.upper().replace(" ", "_"),
                "action_type": entry.action_type,
                "target": str(entry.target_id) if entry.target_id is not None else None,
                "details": {"changes": changes, "reason": entry.reason},
                "actor": str(entry.actor_id) if entry.actor_id else None,
                "time": entry.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "prev_hash": prev,
            }
            digest = entry_hash(fields)
            Entry.objects.filter(id=entry.id).update(
                seq=seq,
                changes=changes,
                prev_hash=prev,
                hash=digest,
                sig=signing.sign(canonical(fields)),
            )
            prev = digest
        Head.objects.update_or_create(guild_id=guild_id, defaults={"seq": seq, "hash": prev})


class Migration(migrations.Migration):
    dependencies = [("moderation", "0002_sanctions_reports_chain")]

    operations = [migrations.RunPython(chain, migrations.RunPython.noop)]
