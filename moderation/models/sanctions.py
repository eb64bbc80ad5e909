"""Bans and timeouts. The log of who did what is the chained `AuditLogEntry`; these rows are
only the sanctions in force (a lifted or expired one is deleted)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from guilds.models import Member


class GuildBan(models.Model):
    guild = models.ForeignKey("guilds.Guild", on_delete=models.CASCADE, related_name="bans")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    moderator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=512, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: permanent")

    class Meta:
        constraints = [models.UniqueConstraint("guild", "user", name="guild_ban_unique")]
        indexes = [models.Index(fields=["expires_at"], name="guildban_expires_idx")]

    def __str__(self) -> str:
        return f"{self.user_id} banned from {self.guild_id}"

    def active(self, now=None) -> bool:
        return self.expires_at is None or self.expires_at > (now or timezone.now())


class MemberTimeout(models.Model):
    """A member may read but not send, react or speak until `until`: in the whole guild
    (`channel` empty, Discord's `communication_disabled_until`) or in one channel (and the
    threads under it)."""

    guild = models.ForeignKey("guilds.Guild", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    channel = models.ForeignKey(
        "guilds.Channel", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    until = models.DateTimeField(db_index=True)
    moderator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=512, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                "guild",
                "user",
                condition=models.Q(channel__isnull=True),
                name="timeout_guild_unique",
            ),
            models.UniqueConstraint("guild", "user", "channel", name="timeout_channel_unique"),
        ]

    def __str__(self) -> str:
        where = f"#{self.channel_id}" if self.channel_id else "guild"
        return f"{self.user_id} timed out in {self.guild_id} ({where}) until {self.until}"


class ModeratedMember(Member):
    """Guild members as the operators' admin shows them, with sanction actions."""

    class Meta:
        proxy = True
        verbose_name = "member sanction"
        verbose_name_plural = "member sanctions"
