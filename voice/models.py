from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class VoiceState(models.Model):
    """Who is connected to which voice channel, with Discord's voice-state flags.

    One row per (guild, user): joining another channel of the guild moves the row. `mute` and
    `deaf` are the server (moderator) flags; `self_*` are the member's own. `suppress` is set
    when the member lacks SPEAK or is timed out: they hear but are not forwarded.
    """

    guild = models.ForeignKey("guilds.Guild", on_delete=models.CASCADE, related_name="+")
    channel = models.ForeignKey("guilds.Channel", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    session_id = models.CharField(max_length=64, blank=True, default="")
    slot = models.PositiveIntegerField(default=0)
    self_mute = models.BooleanField(default=False)
    self_deaf = models.BooleanField(default=False)
    mute = models.BooleanField(default=False)
    deaf = models.BooleanField(default=False)
    suppress = models.BooleanField(default=False)
    # The member's camera is on / it is sharing its screen ("go live"); needs STREAM.
    self_video = models.BooleanField(default=False)
    self_stream = models.BooleanField(default=False)
    joined_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint("guild", "user", name="voice_state_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.channel_id}"

    @property
    def silenced(self) -> bool:
        return self.self_mute or self.mute or self.suppress

    @property
    def deafened(self) -> bool:
        return self.self_deaf or self.deaf


class VoiceGrant(models.Model):
    """Hosting node: a voice token minted for a member of another node (federation.voice).

    Only the SHA-256 of the token is stored. It allows one join of `channel` within its expiry
    (`used_at` set by that join: a second use is a replay); after the join it names that voice
    session (VoiceState.session_id `fed-<id>`) for the SDP answer, self flags and leaving.
    """

    digest = models.CharField(max_length=64, unique=True)
    guild = models.ForeignKey("guilds.Guild", on_delete=models.CASCADE, related_name="+")
    channel = models.ForeignKey("guilds.Channel", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"grant {self.id} for {self.user_id} in {self.channel_id}"

    @property
    def session_id(self) -> str:
        return f"fed-{self.id}"


class RemoteVoiceSession(models.Model):
    """Member's node: one of our members is in a voice channel of a guild hosted elsewhere;
    the token and endpoint the hosting node handed out carry the rest of the signaling."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    guild = models.ForeignKey("guilds.Guild", on_delete=models.CASCADE, related_name="+")
    channel_id = models.BigIntegerField()
    session_id = models.CharField(max_length=64)
    token = models.CharField(max_length=200)
    endpoint = models.URLField(max_length=500)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint("guild", "user", name="remote_voice_session_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.channel_id} ({self.endpoint})"
