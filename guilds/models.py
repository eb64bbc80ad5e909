"""Guilds and what they hold. Fields and small invariants only: guilds.services does the rest.

Roles: the @everyone role's id equals its guild's id (as in Discord) and sits at position 0;
other roles take positions 1..n, higher is more powerful. Channels: positions are dense
0..n-1 among siblings (same parent), renumbered under the guild row's lock on every move.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from united.ids import new_id


class VerificationLevel(models.IntegerChoices):
    NONE = 0, "None"
    LOW = 1, "Low: verified account"
    MEDIUM = 2, "Medium: registered for 5 minutes"
    HIGH = 3, "High: member for 10 minutes"
    VERY_HIGH = 4, "Very high: verified phone or passkey"


class ChannelType(models.IntegerChoices):
    GUILD_TEXT = 0, "Text"
    DM = 1, "Direct message"
    GUILD_VOICE = 2, "Voice"
    GROUP_DM = 3, "Group direct message"
    GUILD_CATEGORY = 4, "Category"
    GUILD_ANNOUNCEMENT = 5, "Announcement"
    PUBLIC_THREAD = 11, "Public thread"


TEXT_TYPES = frozenset({ChannelType.GUILD_TEXT, ChannelType.GUILD_ANNOUNCEMENT})
CREATABLE_TYPES = frozenset(
    {
        ChannelType.GUILD_TEXT,
        ChannelType.GUILD_VOICE,
        ChannelType.GUILD_CATEGORY,
        ChannelType.GUILD_ANNOUNCEMENT,
    }
)


class Guild(models.Model):
    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    name = models.CharField(max_length=100)
    icon = models.CharField(max_length=200, null=True, blank=True)
    description = models.CharField(max_length=300, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_guilds"
    )
    default_channel = models.ForeignKey(
        "Channel", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    system_channel = models.ForeignKey(
        "Channel", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    verification_level = models.PositiveSmallIntegerField(
        choices=VerificationLevel.choices, default=VerificationLevel.NONE
    )
    settings = models.JSONField(default=dict, blank=True)
    discoverable = models.BooleanField(default=False, help_text="Listed in the node directory")
    directory_hidden = models.BooleanField(
        default=False, help_text="Hidden from the directory by the operator"
    )
    search_hides_banned = models.BooleanField(
        default=False,
        help_text="Message search leaves out messages of members banned from the guild",
    )
    show_ban_reasons = models.BooleanField(
        default=False,
        help_text="A banned member who opens the guild is told the reason the moderator gave",
    )
    last_activity_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["discoverable", "directory_hidden"])]

    def __str__(self) -> str:
        return self.name


class GuildTag(models.Model):
    guild = models.ForeignKey(Guild, on_delete=models.CASCADE, related_name="tags")
    tag = models.SlugField(max_length=24)

    class Meta:
        constraints = [models.UniqueConstraint("guild", "tag", name="guild_tag_unique")]
        indexes = [models.Index(fields=["tag"])]

    def __str__(self) -> str:
        return self.tag


class Channel(models.Model):
    """A guild channel, or (guild unset) a direct-message channel between `recipients`."""

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    guild = models.ForeignKey(
        Guild, on_delete=models.CASCADE, related_name="channels", null=True, blank=True
    )
    type = models.PositiveSmallIntegerField(choices=ChannelType.choices)
    name = models.CharField(max_length=100)
    topic = models.CharField(max_length=1024, blank=True)
    position = models.IntegerField(default=0)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    nsfw = models.BooleanField(default=False)
    rate_limit_per_user = models.PositiveIntegerField(default=0)
    user_limit = models.PositiveIntegerField(default=0)
    bitrate = models.PositiveIntegerField(default=64000)
    permission_synced = models.BooleanField(default=False)
    # Seconds after which new messages are hard-deleted everywhere (0: kept).
    default_message_ttl = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    # Direct messages only (messaging.services.dms).
    recipients = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="dm_channels"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    dm_key = models.CharField(max_length=64, null=True, blank=True, unique=True)

    class Meta:
        ordering = ["position", "id"]
        indexes = [models.Index(fields=["guild", "parent", "position"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(rate_limit_per_user__lte=21600), name="channel_slowmode_max"
            ),
            models.CheckConstraint(condition=Q(user_limit__lte=99), name="channel_user_limit_max"),
        ]

    def __str__(self) -> str:
        return f"#{self.name}"

    @property
    def is_category(self) -> bool:
        return self.type == ChannelType.GUILD_CATEGORY


class Role(models.Model):
    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    guild = models.ForeignKey(Guild, on_delete=models.CASCADE, related_name="roles")
    name = models.CharField(max_length=100)
    color = models.PositiveIntegerField(default=0)
    position = models.IntegerField(default=0)
    hoist = models.BooleanField(default=False)
    mentionable = models.BooleanField(default=False)
    permissions = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-position", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_everyone(self) -> bool:
        return self.id == self.guild_id


class Member(models.Model):
    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    guild = models.ForeignKey(Guild, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    nick = models.CharField(max_length=32, null=True, blank=True)
    roles = models.ManyToManyField(Role, blank=True, related_name="members")
    joined_at = models.DateTimeField(default=timezone.now)
    temporary = models.BooleanField(
        default=False, help_text="Joined through a temporary invite and holds no role yet"
    )
    # The member list's order (the shown name, lower-cased): kept here so a page of a large
    # guild's list is an index range, not a sort of every member joined with their user.
    # Written by the services that change a nick or a display name (member_sort_name).
    sort_name = models.CharField(max_length=100, blank=True, default="")

    class Meta:
        constraints = [models.UniqueConstraint("guild", "user", name="member_unique")]
        ordering = ["joined_at", "id"]
        indexes = [models.Index(fields=["guild", "sort_name", "id"], name="member_list_idx")]

    def __str__(self) -> str:
        return f"{self.user} in {self.guild}"


def member_sort_name(nick: str | None, user: Any) -> str:
    """Where a member sorts in the member list: the name it shows, lower-cased."""
    return (nick or user.display_name or user.username).lower()[:100]


class PermissionOverwrite(models.Model):
    ROLE = 0
    MEMBER = 1

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="overwrites")
    target_id = models.BigIntegerField()
    type = models.PositiveSmallIntegerField(choices=[(ROLE, "role"), (MEMBER, "member")])
    allow = models.BigIntegerField(default=0)
    deny = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint("channel", "target_id", name="overwrite_unique"),
        ]

    def __str__(self) -> str:
        return f"overwrite {self.target_id} on {self.channel_id}"


class Invite(models.Model):
    code = models.CharField(primary_key=True, max_length=32)
    guild = models.ForeignKey(Guild, on_delete=models.CASCADE, related_name="invites")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="invites")
    inviter = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    max_age = models.PositiveIntegerField(default=86400, help_text="Seconds; 0 never expires")
    max_uses = models.PositiveIntegerField(default=0, help_text="0 is unlimited")
    uses = models.PositiveIntegerField(default=0)
    temporary = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.code

    def usable(self, now=None) -> bool:
        now = now or timezone.now()
        if self.revoked_at is not None:
            return False
        if self.expires_at is not None and self.expires_at <= now:
            return False
        return not (self.max_uses and self.uses >= self.max_uses)
