"""Applications and their bot accounts (docs/bots.md).

An application belongs to a member (its owner) and has exactly one bot user: an ordinary
`accounts.User` flagged `is_bot`, so every service treats it as a member of the guilds it is
installed in, with the same permissions, rate limits and moderation. Its token is stored as
a SHA-256 digest only; the owner sees the token once, when it is made or reset.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from accounts.models import User
from guilds.models import Channel, Guild, Role
from united.ids import new_id


class Application(models.Model):
    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    owner = models.ForeignKey(User, on_delete=models.CASCADE, related_name="applications")
    bot = models.OneToOneField(User, on_delete=models.CASCADE, related_name="bot_application")
    name = models.CharField(max_length=32)
    description = models.CharField(max_length=400, blank=True)
    token_digest = models.CharField(max_length=64, unique=True)
    # The privileged MESSAGE_CONTENT intent (1 << 15): without it the gateway blanks the
    # content of messages that do not mention the bot, as Discord does.
    message_content = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    token_reset_at = models.DateTimeField(default=timezone.now)
    # Interactions go by HTTP to this URL instead of the gateway when set (bots/interactions/),
    # signed with the application's Ed25519 key; its public half is what the owner verifies with.
    interactions_endpoint_url = models.URLField(max_length=500, blank=True)
    # The private seed, sealed with SecretBox under UNITED_SECRET_KEY, hex.
    signing_key = models.CharField(max_length=200, blank=True)
    public_key = models.CharField(max_length=64, blank=True)  # hex, as Discord shows it

    def __str__(self) -> str:
        return self.name


class Installation(models.Model):
    """The application's bot in one guild, and the role made for it (Discord's "managed"
    role: it goes when the bot leaves; members cannot give it to anyone else)."""

    application = models.ForeignKey(
        Application, on_delete=models.CASCADE, related_name="installations"
    )
    guild = models.ForeignKey(Guild, on_delete=models.CASCADE, related_name="+")
    role = models.ForeignKey(
        Role, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    installed_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    permissions = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["application", "guild"], name="bot_install_unique")
        ]

    def __str__(self) -> str:
        return f"{self.application} in {self.guild_id}"


class Webhook(models.Model):
    """An incoming webhook (Discord's type 1): whoever holds its URL posts into its channel
    under the name and avatar it chose. No account stands behind it; its posts have no
    author row (messaging.Message.webhook_id + persona). Only the token's SHA-256 digest is
    kept: the URL is shown once, when the webhook is made or its token regenerated. Deleting
    the channel deletes its webhooks (and their URLs answer 10015 Unknown Webhook)."""

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    guild = models.ForeignKey(Guild, on_delete=models.CASCADE, related_name="+")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+")
    creator = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    name = models.CharField(max_length=80)
    # An http(s) URL of the picture shown beside its posts (never loaded from the node).
    avatar_url = models.CharField(max_length=2048, blank=True)
    token_digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name


class ApplicationCommand(models.Model):
    """A slash (CHAT_INPUT) or context-menu (USER, MESSAGE) command (bots/commands.py), global
    when `guild` is empty. `options` is Discord's option tree as validated there."""

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="commands")
    guild = models.ForeignKey(
        Guild, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    type = models.PositiveSmallIntegerField(default=1)
    name = models.CharField(max_length=32)
    description = models.CharField(max_length=100, blank=True)
    options = models.JSONField(default=list, blank=True)
    default_member_permissions = models.BigIntegerField(null=True, blank=True)
    dm_permission = models.BooleanField(default=True)
    nsfw = models.BooleanField(default=False)
    contexts = models.JSONField(null=True, blank=True)
    integration_types = models.JSONField(null=True, blank=True)
    name_localizations = models.JSONField(default=dict, blank=True)
    description_localizations = models.JSONField(default=dict, blank=True)
    # Discord's `version`: a new snowflake whenever the command changes.
    version = models.BigIntegerField(default=new_id)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["application", "type", "name"],
                condition=models.Q(guild__isnull=True),
                name="bot_command_global_unique",
            ),
            models.UniqueConstraint(
                fields=["application", "guild", "type", "name"],
                condition=models.Q(guild__isnull=False),
                name="bot_command_guild_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"/{self.name}" if self.type == 1 else self.name


class Interaction(models.Model):
    """One invocation by a member (a command, a component click, an autocomplete request, a
    modal submitted) and what the application answered. The token is a bearer secret for 15
    minutes (the callback and the follow-up webhook routes); only its digest is kept.
    `response` keeps what only the invoker sees: an ephemeral reply, a modal, autocomplete
    choices; `ephemeral` the ephemeral follow-ups."""

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    application = models.ForeignKey(
        Application, on_delete=models.CASCADE, related_name="interactions"
    )
    type = models.PositiveSmallIntegerField()
    token_digest = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    guild = models.ForeignKey(Guild, on_delete=models.CASCADE, related_name="+")
    channel_id = models.BigIntegerField()
    message_id = models.BigIntegerField(null=True, blank=True)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    response_type = models.PositiveSmallIntegerField(null=True, blank=True)
    responded_at = models.DateTimeField(null=True, blank=True)
    response = models.JSONField(null=True, blank=True)
    original_message_id = models.BigIntegerField(null=True, blank=True)
    ephemeral = models.JSONField(default=list, blank=True)
    followups = models.PositiveSmallIntegerField(default=0)

    def __str__(self) -> str:
        return f"interaction {self.id}"
