"""Moderation services: every door (REST, web pages, admin actions, automod, report cases)
calls these.

- `audit`: the chained, signed moderation log (`record_audit`), listing, export, replay.
- `standing`: who may sanction whom (permission + role hierarchy).
- `timeouts`: timeouts and the check messaging (and voice) make before letting a member speak.
- `sanctions`: kicks, bans, unbans, and the expiry of temporary sanctions.
- `reports`: reports, cases, notes, and the actions taken from a case.
"""

from moderation.services.audit import (
    check_list_audit_log,
    record_audit,
    serialize_audit_entry,
)
from moderation.services.gate import check_message_allowed
from moderation.services.sanctions import do_ban, is_banned
from moderation.services.timeouts import check_not_timed_out

__all__ = [
    "check_list_audit_log",
    "check_message_allowed",
    "check_not_timed_out",
    "do_ban",
    "is_banned",
    "record_audit",
    "serialize_audit_entry",
]
