"""Federation state: this node's keys, what we know of other nodes and actors, the inbox, the
outbox and its deliveries. The rows are the source of truth; jobs only carry ids."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone

from united.ids import new_id


class KeyAlgorithm(models.TextChoices):
    ED25519 = "ed25519"
    RSA = "rsa"


class NodeKey(models.Model):
    """One of this node's signing keys. The newest unretired key of each algorithm signs; a
    retired key stays published until `expires_at` so requests signed just before a rotation
    still verify (overlap)."""

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    algorithm = models.CharField(max_length=10, choices=KeyAlgorithm.choices)
    public_pem = models.TextField()
    private_sealed = models.BinaryField()  # SecretBox under a key derived from SECRET_KEY
    created_at = models.DateTimeField(default=timezone.now)
    retired_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        state = "retired" if self.retired_at else "active"
        return f"{self.algorithm} key {self.id} ({state})"


class NodeStatus(models.TextChoices):
    OK = "ok"
    UNREACHABLE = "unreachable"


class RemoteNode(models.Model):
    """Another node (any ActivityPub server), keyed by its host[:port]."""

    domain = models.CharField(max_length=255, unique=True)
    software = models.CharField(max_length=100, blank=True)
    software_version = models.CharField(max_length=50, blank=True)
    is_united = models.BooleanField(default=False)
    manifest = models.JSONField(default=dict, blank=True)
    public_keys = models.JSONField(default=list, blank=True)
    manifest_checked_at = models.DateTimeField(null=True, blank=True)
    manifest_problems = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=12, choices=NodeStatus.choices, default=NodeStatus.OK)
    consecutive_failures = models.PositiveIntegerField(default=0)
    unreachable_since = models.DateTimeField(null=True, blank=True)
    next_probe_at = models.DateTimeField(null=True, blank=True)
    probes = models.PositiveIntegerField(default=0)
    blocked = models.BooleanField(default=False)
    blocked_reason = models.CharField(max_length=300, blank=True)
    allowed = models.BooleanField(default=False, help_text="Listed for allowlist-only mode.")
    latency_ms = models.FloatField(null=True, blank=True)  # moving average of deliveries
    sending_until = models.DateTimeField(null=True, blank=True)  # one sender per destination
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    # The latest failed delivery or probe, kept after the node recovers: the operator's
    # Federation page answers "what went wrong, and when" without digging through rows.
    last_error = models.CharField(max_length=500, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.domain


class FederationPolicy(models.Model):
    """The operator's federation policy (one row). The privacy manifest publishes it."""

    allowlist_only = models.BooleanField(default=False)
    refuse_ip_logging = models.BooleanField(
        default=False, help_text="Refuse nodes whose manifest says they log IP addresses."
    )
    max_retention_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Refuse nodes that keep logs longer than this."
    )
    require_manifest = models.BooleanField(
        default=False, help_text="Refuse nodes that publish no privacy manifest."
    )

    class Meta:
        verbose_name_plural = "federation policy"

    def __str__(self) -> str:
        return "Federation policy"

    @classmethod
    def current(cls) -> FederationPolicy:
        policy, _ = cls.objects.get_or_create(pk=1)
        return policy


class RemoteActor(models.Model):
    """A cached remote actor document: where to deliver and which keys speak for it."""

    uri = models.URLField(max_length=500, unique=True)
    node = models.ForeignKey(RemoteNode, on_delete=models.CASCADE, related_name="actors")
    kind = models.CharField(max_length=30)
    username = models.CharField(max_length=200, blank=True)
    inbox = models.URLField(max_length=500)
    shared_inbox = models.URLField(max_length=500, blank=True)
    document = models.JSONField(default=dict)
    blocked = models.BooleanField(default=False)
    fetched_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.uri

    @property
    def acct(self) -> str:
        return f"{self.username}@{self.node.domain}"


class RemoteKey(models.Model):
    """A remote public key by its keyId (draft-cavage `keyId`, RFC 9421 `keyid`)."""

    key_id = models.URLField(max_length=500, unique=True)
    actor = models.ForeignKey(RemoteActor, on_delete=models.CASCADE, related_name="keys")
    algorithm = models.CharField(max_length=10, choices=KeyAlgorithm.choices)
    public_pem = models.TextField()
    fetched_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.key_id


class FollowState(models.TextChoices):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class Follow(models.Model):
    """A follow between a local user and a remote actor; `outgoing` when ours follows theirs."""

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    local_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="federated_follows"
    )
    remote_actor = models.ForeignKey(RemoteActor, on_delete=models.CASCADE, related_name="follows")
    outgoing = models.BooleanField()
    state = models.CharField(max_length=10, choices=FollowState.choices)
    activity_uri = models.URLField(max_length=500)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["local_user", "remote_actor", "outgoing"], name="follow_unique_pair"
            )
        ]

    def __str__(self) -> str:
        arrow = "→" if self.outgoing else "←"
        return f"{self.local_user} {arrow} {self.remote_actor} ({self.state})"


class Activity(models.Model):
    """The outbox: an activity this node sent, written in the transaction of the change."""

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    uri = models.URLField(max_length=500, unique=True)
    type = models.CharField(max_length=30)
    actor_uri = models.URLField(max_length=500)
    payload = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "activities"

    def __str__(self) -> str:
        return f"{self.type} {self.uri}"


class DeliveryState(models.TextChoices):
    PENDING = "pending"
    SENDING = "sending"
    RETRYING = "retrying"
    DELIVERED = "delivered"
    DEAD = "dead"
    CANCELLED = "cancelled"


class Delivery(models.Model):
    """One activity to one inbox. States and their transitions live in `federation.delivery`."""

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    activity = models.ForeignKey(Activity, on_delete=models.CASCADE, related_name="deliveries")
    node = models.ForeignKey(RemoteNode, on_delete=models.CASCADE, related_name="deliveries")
    inbox = models.URLField(max_length=500)
    state = models.CharField(
        max_length=10, choices=DeliveryState.choices, default=DeliveryState.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_error = models.CharField(max_length=500, blank=True)
    last_status = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(fields=["activity", "inbox"], name="delivery_unique_inbox")
        ]
        indexes = [models.Index(fields=["node", "state", "activity"], name="delivery_queue_idx")]

    def __str__(self) -> str:
        return f"{self.activity_id} → {self.inbox} ({self.state})"

    def age(self, now: datetime | None = None) -> float:
        return ((now or timezone.now()) - self.created_at).total_seconds()


class InboxState(models.TextChoices):
    RECEIVED = "received"
    PROCESSED = "processed"
    IGNORED = "ignored"
    FAILED = "failed"


class InboxItem(models.Model):
    """A verified incoming activity, stored before any processing; unique on its id so a
    redelivery has no second effect."""

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    activity_uri = models.URLField(max_length=500, unique=True)
    type = models.CharField(max_length=30)
    actor_uri = models.URLField(max_length=500)
    node = models.ForeignKey(RemoteNode, on_delete=models.CASCADE, related_name="inbox_items")
    key_id = models.URLField(max_length=500)
    payload = models.JSONField()
    state = models.CharField(max_length=10, choices=InboxState.choices, default=InboxState.RECEIVED)
    detail = models.CharField(max_length=500, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.type} {self.activity_uri} ({self.state})"


class InboxRejection(models.Model):
    """Why an incoming request was refused, for the operator. Holds no IP address."""

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    at = models.DateTimeField(default=timezone.now)
    domain = models.CharField(max_length=255, blank=True)
    key_id = models.CharField(max_length=500, blank=True)
    activity_uri = models.CharField(max_length=500, blank=True)
    path = models.CharField(max_length=300)
    reason = models.CharField(max_length=40)
    detail = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.reason} from {self.domain or '?'}"


class RemoteUser(models.Model):
    """A member of another node as this node knows them: a local account row that cannot sign
    in (`name@node`), so guilds, messages and moderation work on remote people unchanged."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="remote_identity"
    )
    actor_uri = models.URLField(max_length=500, unique=True)
    domain = models.CharField(max_length=255, db_index=True)

    def __str__(self) -> str:
        return self.actor_uri


class GuildLink(models.Model):
    """On a member's node: a local replica (mirror) of a guild hosted by another node. The
    hosting node is authoritative; the replica is rebuilt from what it announces."""

    guild = models.OneToOneField("guilds.Guild", on_delete=models.CASCADE, related_name="link")
    group_uri = models.URLField(max_length=500, unique=True)
    domain = models.CharField(max_length=255, db_index=True)
    state_version = models.BigIntegerField(default=0)
    last_heard_at = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.group_uri


class JoinState(models.TextChoices):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class RemoteJoin(models.Model):
    """A local user's request to join a remote guild (our Follow of its Group)."""

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="remote_joins"
    )
    group_uri = models.URLField(max_length=500)
    guild_id = models.BigIntegerField()
    activity_uri = models.URLField(max_length=500, unique=True)
    state = models.CharField(max_length=10, choices=JoinState.choices, default=JoinState.PENDING)
    detail = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.user_id} → {self.group_uri} ({self.state})"


class MessageDeliveryState(models.TextChoices):
    SENDING = "sending"
    DELIVERED = "delivered"
    FAILED = "failed"


class MessageDelivery(models.Model):
    """A message a local member wrote in a remote guild, until its host confirms it (the host
    announces it back) or refuses it."""

    message_id = models.BigIntegerField(primary_key=True)
    activity = models.ForeignKey(Activity, on_delete=models.SET_NULL, null=True, blank=True)
    state = models.CharField(
        max_length=10, choices=MessageDeliveryState.choices, default=MessageDeliveryState.SENDING
    )
    detail = models.CharField(max_length=300, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"message {self.message_id} {self.state}"


class RelayedEnvelope(models.Model):
    """An opaque JSON object another node relayed to some devices of a local user (the E2E
    layer puts its ciphertext envelopes in it; this node never looks inside)."""

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="relayed_envelopes"
    )
    sender_uri = models.URLField(max_length=500)
    devices = models.JSONField(default=list)
    payload = models.JSONField()
    activity_uri = models.URLField(max_length=500, unique=True)
    received_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"envelope {self.id} for {self.recipient_id}"


class ChannelFollower(models.Model):
    """A fediverse account (Mastodon and friends) following a public announcement channel."""

    channel = models.ForeignKey(
        "guilds.Channel", on_delete=models.CASCADE, related_name="fediverse_followers"
    )
    actor = models.ForeignKey(RemoteActor, on_delete=models.CASCADE, related_name="+")
    follow_uri = models.URLField(max_length=500)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["channel", "actor"], name="channel_follower_unique")
        ]

    def __str__(self) -> str:
        return f"{self.actor_id} follows {self.channel_id}"


class ReceivedObject(models.Model):
    """An object (a fediverse reply's Note) another server sent us and we stored, by its id:
    the same object under a new activity id is stored once (as Mastodon dedupes by `uri`)."""

    uri = models.URLField(max_length=500, unique=True)
    message = models.ForeignKey(
        "messaging.Message", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    received_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.uri


class SuspendedMembership(models.Model):
    """A membership of a guild we host that blocking its person's node ended, kept so that
    unblocking the node gives it back (with its roles and nickname) instead of making
    everyone rejoin."""

    domain = models.CharField(max_length=255, db_index=True)
    guild = models.ForeignKey("guilds.Guild", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    nick = models.CharField(max_length=32, null=True, blank=True)
    role_ids = models.JSONField(default=list)
    temporary = models.BooleanField(default=False)
    suspended_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["guild", "user"], name="suspended_membership_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.guild_id} (suspended: {self.domain} blocked)"


class FederatedGroup(models.Model):
    """A group DM with members on other nodes, as this node keeps it (federation.groupdms).
    `authority` is the node actor of the creator's node: the only one whose membership states
    this node applies; `version` is the newest state applied; `leaving` holds the actor ids
    of this node's members who left and whose leave the authority has not confirmed yet."""

    channel = models.OneToOneField(
        "guilds.Channel", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    authority = models.URLField(max_length=500)
    key = models.CharField(max_length=64)
    version = models.PositiveBigIntegerField(default=1)
    leaving = models.JSONField(default=list)

    def __str__(self) -> str:
        return f"group {self.channel_id} of {self.authority} v{self.version}"


class AccountMove(models.Model):
    """An account's move to another node (an ActivityPub `Move`) that this node accepted,
    or, for its own member, made (federation.moves). It is the cool-down's memory: a second
    move of the same account to somewhere else within 30 days is refused, while a replay of
    this one changes nothing."""

    old_uri = models.URLField(max_length=500, unique=True)
    new_uri = models.URLField(max_length=500)
    activity_uri = models.URLField(max_length=500, blank=True)
    moved_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.old_uri} → {self.new_uri}"
