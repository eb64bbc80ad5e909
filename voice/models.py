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
