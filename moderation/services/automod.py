"""Automod: per-guild rules (MANAGE_GUILD) and what happens when one fires.

`check_automod` runs before messaging opens its write transaction (see `gate`), so what a
refusal records (a modlog entry, a flagged case, a timeout) is kept although the message is
not. The owner, administrators and members with MANAGE_GUILD are exempt (as in Discord), and
each rule may exempt roles and channels (a channel exemption covers its threads).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from guilds.permissions import Permissions as P
from guilds.permissions import has
from moderation import automod
from moderation.models import AutomodAction, AutomodRule, Category, Report
from moderation.services.audit import record_audit
from united import events
from united.audit import AuditLogEvent
from united.errors import APIError, Invalid, NotFound

AUTOMOD_BLOCKED = 200000  # Discord's "Message was blocked by automatic moderation"
MAX_RULES = 25


def serialize_rule(rule: AutomodRule) -> dict[str, Any]:
    return {
        "id": str(rule.id),
        "guild_id": str(rule.guild_id),
        "name": rule.name,
        "type": rule.kind,
        "config": rule.config,
        "action": rule.action,
        "timeout_seconds": rule.timeout_seconds,
        "exempt_roles": rule.exempt_roles,
        "exempt_channels": rule.exempt_channels,
        "enabled": rule.enabled,
        "creator_id": str(rule.creator_id) if rule.creator_id else None,
    }


def _manage(user: User, guild_id: int):
    from guilds.services.access import guild_context

    ctx = guild_context(user, guild_id, lock=True)
    ctx.require(P.MANAGE_GUILD)
    return ctx


def _ids(data: dict[str, Any], name: str) -> list[str]:
    values = data.get(name, [])
    if not isinstance(values, list) or len(values) > 50:
        raise Invalid(errors={name: ["A list of at most 50 ids."]})
    if not all(str(v).isdigit() and len(str(v)) <= 20 for v in values):
        raise Invalid(errors={name: ["Snowflake ids."]})
    return [str(v) for v in values]


def _apply(rule: AutomodRule, data: dict[str, Any], *, creating: bool) -> None:
    if creating or "type" in data or "config" in data:
        kind = data.get("type", rule.kind)
        try:
            rule.config = automod.check_config(kind, data.get("config", rule.config))
        except ValueError as exc:
            raise Invalid(errors={"config": [str(exc)]}) from None
        rule.kind = kind
    if creating or "name" in data:
        name = data.get("name")
        if not isinstance(name, str) or not 1 <= len(name.strip()) <= 100:
            raise Invalid(errors={"name": ["1 to 100 characters."]})
        rule.name = name.strip()
    if creating or "action" in data:
        if data.get("action") not in AutomodAction.values:
            raise Invalid(errors={"action": [f"One of {', '.join(AutomodAction.values)}."]})
        rule.action = data["action"]
    if "timeout_seconds" in data:
        seconds = data["timeout_seconds"]
        if (
            not isinstance(seconds, int)
            or isinstance(seconds, bool)
            or not 60 <= seconds <= 2419200
        ):
            raise Invalid(errors={"timeout_seconds": ["From 60 seconds to 28 days."]})
        rule.timeout_seconds = seconds
    for name in ("exempt_roles", "exempt_channels"):
        if name in data:
            setattr(rule, name, _ids(data, name))
    if "enabled" in data:
        rule.enabled = bool(data["enabled"])


def list_rules(user: User, guild_id: int) -> list[dict[str, Any]]:
    from guilds.services.access import guild_context

    ctx = guild_context(user, guild_id)
    ctx.require(P.MANAGE_GUILD)
    return [serialize_rule(r) for r in AutomodRule.objects.filter(guild=ctx.guild)]


def check_create_rule(user: User, guild_id: int, data: dict[str, Any]) -> AutomodRule:
    with transaction.atomic():
        ctx = _manage(user, guild_id)
        if AutomodRule.objects.filter(guild=ctx.guild).count() >= MAX_RULES:
            raise Invalid(errors={"_errors": [f"At most {MAX_RULES} rules per guild."]})
        rule = AutomodRule(guild=ctx.guild, creator=user)
        _apply(rule, data, creating=True)
        rule.save()
        events.guild_changed(ctx.guild.id)  # the gateway's held rules (gate.GuildGate)
        record_audit(
            ctx.guild,
            user,
            AuditLogEvent.AUTO_MODERATION_RULE_CREATE,
            rule.id,
            [{"key": k, "new_value": v} for k, v in serialize_rule(rule).items() if k != "id"],
        )
        return rule


def _rule(ctx: Any, rule_id: int) -> AutomodRule:
    rule = AutomodRule.objects.filter(guild=ctx.guild, id=rule_id).first()
    if rule is None:
        raise NotFound("Unknown auto moderation rule", code=10066)
    return rule


def check_update_rule(user: User, guild_id: int, rule_id: int, data: dict[str, Any]) -> AutomodRule:
    from united.audit import diff

    with transaction.atomic():
        ctx = _manage(user, guild_id)
        rule = _rule(ctx, rule_id)
        before = serialize_rule(rule)
        _apply(rule, data, creating=False)
        rule.save()
        events.guild_changed(ctx.guild.id)
        changes = diff(before, serialize_rule(rule))
        if changes:
            record_audit(
                ctx.guild, user, AuditLogEvent.AUTO_MODERATION_RULE_UPDATE, rule.id, changes
            )
        return rule


def check_delete_rule(user: User, guild_id: int, rule_id: int) -> None:
    with transaction.atomic():
        ctx = _manage(user, guild_id)
        rule = _rule(ctx, rule_id)
        changes = [{"key": "name", "old_value": rule.name}, {"key": "type", "old_value": rule.kind}]
        rule.delete()
        events.guild_changed(ctx.guild.id)
        record_audit(ctx.guild, user, AuditLogEvent.AUTO_MODERATION_RULE_DELETE, rule_id, changes)


# --- evaluation ----------------------------------------------------------------------------


def _facts(rule: AutomodRule, access: Any, user: User, content: str) -> automod.MessageFacts:
    from guilds.models import Invite
    from messaging.models import Message

    facts = automod.MessageFacts(content=content, node_domain=settings.FEDERATION_DOMAIN or "")
    now = timezone.now()
    if rule.kind == "new_account":
        facts.account_age_seconds = (now - user.date_joined).total_seconds()
    elif rule.kind in ("flood", "duplicate"):
        since = now - timedelta(seconds=rule.config["per_seconds"])
        recent = Message.objects.live().filter(
            channel__guild_id=access.channel.guild_id, author=user, created_at__gte=since
        )
        if rule.kind == "flood":
            facts.recent_count = recent.count()
        else:
            facts.recent_contents = list(
                recent.order_by("-id").values_list("content", flat=True)[:50]
            )
    elif rule.kind == "invites":
        codes = set(automod._INVITE.findall(content))
        facts.own_invite_codes = frozenset(
            Invite.objects.filter(guild_id=access.channel.guild_id, code__in=codes).values_list(
                "code", flat=True
            )
        )
    return facts


def _exempt(rule: AutomodRule, access: Any) -> bool:
    channel = access.channel
    if {str(channel.id), str(channel.parent_id)} & set(rule.exempt_channels):
        return True
    return bool({str(r) for r in access.ctx.role_ids} & set(rule.exempt_roles))


def fired_rules(
    access: Any, user: User, content: str, rules: list[AutomodRule] | None = None
) -> list[tuple[AutomodRule, str]]:
    """`rules`: the guild's enabled rules when the caller holds them (gate.GuildGate)."""
    ctx = access.ctx
    if rules == [] or ctx.is_owner or ctx.is_admin or has(ctx.base, P.MANAGE_GUILD):
        return []
    if rules is None:
        rules = list(AutomodRule.objects.filter(guild_id=access.channel.guild_id, enabled=True))
    fired = []
    for rule in rules:
        if _exempt(rule, access):
            continue
        reason = automod.matches(rule.kind, rule.config, _facts(rule, access, user, content))
        if reason:
            fired.append((rule, reason))
    return fired


def check_automod(
    access: Any, user: User, content: str, *, rules: list[AutomodRule] | None = None
) -> None:
    """Run the guild's rules on a message about to be sent; flag, time out or refuse."""
    fired = fired_rules(access, user, content, rules)
    if not fired:
        return
    blocked = None
    with transaction.atomic():
        for rule, reason in fired:
            do_automod_action(rule, access, user, content, reason)
            if rule.action != AutomodAction.FLAG and blocked is None:
                blocked = (rule, reason)
    if blocked is not None:
        rule, reason = blocked
        raise APIError(
            "Message blocked by automatic moderation",
            code=AUTOMOD_BLOCKED,
            status=400,
            errors={"content": [f"{rule.name}: {reason}"]},
        )


def do_automod_action(
    rule: AutomodRule, access: Any, user: User, content: str, reason: str
) -> None:
    from moderation.models import SEVERITY
    from moderation.services.reports import do_open_case
    from moderation.services.timeouts import do_timeout

    guild, channel = access.ctx.guild, access.channel
    changes = [
        {"key": "rule_name", "new_value": rule.name},
        {"key": "rule_id", "new_value": str(rule.id)},
        {"key": "channel_id", "new_value": str(channel.id)},
        {"key": "reason", "new_value": reason},
    ]
    why = f"automod: {rule.name}"
    if rule.action == AutomodAction.FLAG:
        case = do_open_case(
            {
                "kind": "user",
                "key": f"user:{user.id}@{guild.id}",
                "guild": guild,
                "target_user": user,
                "snapshot": {
                    "user": {"id": str(user.id), "username": user.username},
                    "flagged": {"channel_id": str(channel.id), "content": content},
                },
            },
            severity=SEVERITY[Category.SPAM],
            automod=True,
        )
        Report.objects.create(case=case, reporter=None, category=Category.SPAM, note=why)
        case.report_count += 1
        case.save(update_fields=["report_count"])
        record_audit(guild, None, AuditLogEvent.AUTO_MODERATION_FLAG_TO_CHANNEL, user.id, changes)
        return
    record_audit(guild, None, AuditLogEvent.AUTO_MODERATION_BLOCK_MESSAGE, user.id, changes, why)
    if rule.action == AutomodAction.TIMEOUT:
        until = timezone.now() + timedelta(seconds=rule.timeout_seconds)
        do_timeout(
            guild,
            None,
            user,
            until,
            reason=why,
            action=AuditLogEvent.AUTO_MODERATION_USER_COMMUNICATION_DISABLED,
        )
