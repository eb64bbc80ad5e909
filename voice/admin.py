"""Operator admin for voice: who is connected where, and server mute/deafen/disconnect (the
same service the API and the web client call, recorded in the guild's audit log)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.requests import AuthedHttpRequest
from united.errors import APIError
from voice import services
from voice.models import VoiceState


@admin.register(VoiceState)
class VoiceStateAdmin(admin.ModelAdmin):
    list_display = ("user", "guild", "channel", "self_mute", "self_deaf", "mute", "deaf")
    list_filter = ("mute", "deaf", "suppress")
    search_fields = ("user__username", "guild__name", "channel__name")
    list_select_related = ("user", "guild", "channel")
    readonly_fields = [f.name for f in VoiceState._meta.fields]
    actions = ["server_mute", "server_unmute", "server_deafen", "server_undeafen", "disconnect"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def _each(self, request: AuthedHttpRequest, queryset: QuerySet[VoiceState], body: dict) -> None:
        done = 0
        for state in queryset:
            try:
                services.check_moderate(
                    request.user, state.guild_id, state.user_id, body, operator=True
                )
                done += 1
            except APIError as exc:
                self.message_user(request, f"{state.user}: {exc.message}", messages.ERROR)
        if done:
            self.message_user(request, f"{done} member(s) updated.")

    @admin.action(description="Server mute", permissions=["change"])
    def server_mute(self, request: AuthedHttpRequest, queryset: QuerySet[VoiceState]) -> None:
        self._each(request, queryset, {"mute": True})

    @admin.action(description="Server unmute", permissions=["change"])
    def server_unmute(self, request: AuthedHttpRequest, queryset: QuerySet[VoiceState]) -> None:
        self._each(request, queryset, {"mute": False})

    @admin.action(description="Server deafen", permissions=["change"])
    def server_deafen(self, request: AuthedHttpRequest, queryset: QuerySet[VoiceState]) -> None:
        self._each(request, queryset, {"deaf": True})

    @admin.action(description="Server undeafen", permissions=["change"])
    def server_undeafen(self, request: AuthedHttpRequest, queryset: QuerySet[VoiceState]) -> None:
        self._each(request, queryset, {"deaf": False})

    @admin.action(description="Disconnect from voice", permissions=["change"])
    def disconnect(self, request: AuthedHttpRequest, queryset: QuerySet[VoiceState]) -> None:
        self._each(request, queryset, {"channel_id": None})
