from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from united.ids import new_id


class GatewayEvent(models.Model):
    """A dispatched gateway event, kept for a while so RESUME (and a session that missed a
    pub/sub message during a Redis blip) can replay it. Written in the same transaction as the
    change it announces; ephemeral events (typing, presence) are never stored."""

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    group = models.CharField(max_length=100)
    t = models.CharField(max_length=64)
    d = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["group", "id"], name="gwevent_group_id_idx")]

    def __str__(self) -> str:
        return f"{self.t} → {self.group}"


class _Row(models.Func):
    function = ""  # renders "(a, b)"


class _Position(models.Func):
    """`(hlc, id) <op> (%s, %s)`: a row-value comparison, which both engines answer as one range
    of the history index (channel, hlc, id). Spelled `hlc < x OR (hlc = x AND id < y)`, it
    was a filter over every message of the channel up to the cursor on PostgreSQL (EXPLAIN:
    "Index Cond: channel_id; Filter: ..."): a page deep in a large channel scanned it all."""

    output_field = models.BooleanField()
    conditional = True
    template = "%(expressions)s"

    def __init__(self, op: str, hlc: int, message_id: int) -> None:
        super().__init__(
            _Row(models.F("hlc"), models.F("id")),
            _Row(models.Value(int(hlc)), models.Value(int(message_id))),
        )
        self.arg_joiner = f" {op} "


class MessageQuerySet(models.QuerySet["Message"]):
    def live(self) -> MessageQuerySet:
        return self.filter(deleted_at__isnull=True)

    def in_order(self) -> MessageQuerySet:
        return self.order_by("hlc", "id")

    def before(self, hlc: int, message_id: int, *, inclusive: bool = False) -> MessageQuerySet:
        """Messages ordered before (hlc, id) in history order (or at it, `inclusive`)."""
        return self.filter(_Position("<=" if inclusive else "<", hlc, message_id))

    def after(self, hlc: int, message_id: int) -> MessageQuerySet:
        """Messages ordered after (hlc, id) in history order."""
        return self.filter(_Position(">", hlc, message_id))


class Message(models.Model):
    """A message in a guild channel, thread or DM. History is ordered by (hlc, id), so
    messages merged from several nodes sort the same way everywhere."""

    DEFAULT = 0
    REPLY = 19
    THREAD_STARTER = 21

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    channel = models.ForeignKey("guilds.Channel", on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="messages"
    )
    type = models.PositiveSmallIntegerField(default=DEFAULT)
    content = models.TextField(blank=True)
    content_html = models.TextField(blank=True)
    hlc = models.BigIntegerField()
    hlc_node = models.CharField(max_length=255, blank=True)
    nonce = models.CharField(max_length=64, null=True, blank=True)
    reference = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="replies"
    )
    thread = models.OneToOneField(
        "guilds.Channel",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="starter_message",
    )
    mentions = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="mentioned_in"
    )
    mention_roles = models.ManyToManyField("guilds.Role", blank=True, related_name="+")
    attachments = models.ManyToManyField("media.Attachment", blank=True, related_name="messages")
    mention_everyone = models.BooleanField(default=False)
    pinned = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    edited_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # Rich content bots and webhooks send, in Discord's shapes (validated where they enter:
    # bots/embeds.py). Member-typed messages leave them empty.
    embeds = models.JSONField(default=list, blank=True)
    components = models.JSONField(default=list, blank=True)
    flags = models.PositiveIntegerField(default=0)
    # A webhook's post: no author row; the name and avatar it chose are shown instead.
    webhook_id = models.BigIntegerField(null=True, blank=True)
    persona = models.JSONField(null=True, blank=True)
    # The application whose interaction answer this is, and which command (id, type, name,
    # user id) a member invoked for it.
    application_id = models.BigIntegerField(null=True, blank=True)
    interaction = models.JSONField(null=True, blank=True)

    objects = MessageQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["channel", "hlc", "id"], name="message_history_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "author", "nonce"],
                name="message_nonce_unique",
                condition=models.Q(nonce__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"message {self.id} in {self.channel_id}"

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None


class MessageEdit(models.Model):
    """The text a message had before each edit (its history)."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="edits")
    content = models.TextField(blank=True)
    replaced_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"edit of {self.message_id}"


class Reaction(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="reactions")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reactions"
    )
    emoji = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["message", "user", "emoji"], name="reaction_once_per_user"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.emoji} on {self.message_id}"


class ReadState(models.Model):
    """Where a user has read up to in a channel; unread and mention counts derive from it."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="read_states"
    )
    channel = models.ForeignKey(
        "guilds.Channel", on_delete=models.CASCADE, related_name="read_states"
    )
    last_message_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "channel"], name="read_state_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} read {self.channel_id} to {self.last_message_id}"


class Presence(models.Model):
    """The status a user chose (shown while any of their sessions is connected)."""

    STATUSES = ("online", "idle", "dnd", "invisible")

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="presence",
    )
    status = models.CharField(max_length=10, default="online")
    custom_status = models.CharField(max_length=128, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.user_id}: {self.status}"


class SearchBacklog(models.Model):
    """A message whose search document may disagree with its row, written in the transaction
    of the change (messaging.search.indexing). No foreign key: a message deleted outright must
    still reach the drain, which then removes its document. `version` grows each time the
    message changes again, so a drain deletes only the rows it read and a change that lands
    meanwhile is drained again."""

    message_id = models.BigIntegerField(primary_key=True)
    version = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"search backlog {self.message_id} v{self.version}"


class ThreadFollow(models.Model):
    """A member following a thread (Discord's "thread member"): they started it, replied in
    it, were mentioned in it, or pressed Follow. A followed thread with replies newer than the
    member's read marker is unread for them. The read marker itself is their `ReadState` on
    the thread, which is a channel like any other, so marking it read and counting its
    mentions take the same paths as a channel's."""

    thread = models.ForeignKey("guilds.Channel", on_delete=models.CASCADE, related_name="followers")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="followed_threads"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["thread", "user"], name="thread_follow_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} follows {self.thread_id}"


class NotifyLevel(models.TextChoices):
    ALL = "all", "All messages"
    MENTIONS = "mentions", "Only @mentions"
    NOTHING = "nothing", "Nothing"
    # A channel's row only: follow the guild's level.
    INHERIT = "", "Same as the community"


class NotificationSetting(models.Model):
    """A member's choice for one guild (channel null) or one channel (a guild's or a DM):
    what notifies them (pushes, the mention badge and unread marks) and a mute. `muted` with
    no `muted_until` lasts until turned off; a time in the past means not muted."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_settings"
    )
    guild = models.ForeignKey(
        "guilds.Guild", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    channel = models.ForeignKey(
        "guilds.Channel", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    level = models.CharField(max_length=10, choices=NotifyLevel.choices, blank=True)
    muted = models.BooleanField(default=False)
    muted_until = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "guild"],
                condition=models.Q(channel__isnull=True),
                name="notify_setting_guild_once",
            ),
            models.UniqueConstraint(
                fields=["user", "channel"],
                condition=models.Q(channel__isnull=False),
                name="notify_setting_channel_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.channel_id or self.guild_id}: {self.level or 'inherit'}"

    def muted_at(self, now) -> bool:
        return self.muted and (self.muted_until is None or self.muted_until > now)
