"""Moderation's side of the ports that the apps below it declare (guilds.ports,
messaging.ports): registered in `ModerationConfig.ready()`, so guilds and messaging ask about
bans, suspensions, timeouts and automod without importing moderation."""

from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.utils import timezone

from accounts.models import User
from guilds.models import Channel
from moderation.models import GuildBan
from moderation.services import gate as gate_module
from moderation.services import operators, timeouts
from moderation.services.gate import GuildGate


class GuildSanctions:
    """guilds.ports.Sanctions."""

    def is_suspended(self, guild_id: int) -> bool:
        return operators.is_suspended(guild_id)

    def suspended_ids(self, guild_ids: list[int]) -> frozenset[int]:
        return operators.suspended_ids(guild_ids)

    def is_banned(self, guild_id: int, user_id: int) -> bool:
        ban = GuildBan.objects.filter(guild_id=guild_id, user_id=user_id).first()
        return ban is not None and ban.active()

    def banned_user_ids(self, guild_id: int) -> frozenset[int]:
        active = Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())
        rows = GuildBan.objects.filter(active, guild_id=guild_id)
        return frozenset(rows.values_list("user_id", flat=True))


class SendGate:
    """messaging.ports.SendGate."""

    def check_message_allowed(
        self,
        user: User,
        channel_id: int,
        content: str,
        *,
        nonce: Any = None,
        access: Any = None,
        gate: Any = None,
    ) -> None:
        guild_gate = gate if isinstance(gate, GuildGate) else None
        gate_module.check_message_allowed(
            user, channel_id, content, nonce=nonce, access=access, gate=guild_gate
        )

    def check_not_timed_out(self, user: User, channel: Channel) -> None:
        timeouts.check_not_timed_out(user, channel)

    def guild_gate(self, guild_id: int) -> GuildGate:
        return gate_module.guild_gate(guild_id)
