from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from moderation.models import AuditLogEntry, GuildBan


@admin.register(AuditLogEntry)
class AuditLogEntryAdmin(admin.ModelAdmin):
    """Read-only: the audit log is append-only."""

    list_display = ("created_at", "guild", "actor_id", "action_type", "target_id", "reason")
    list_filter = ("action_type", "created_at")
    search_fields = ("guild__name", "=actor_id", "=target_id", "reason")
    list_select_related = ("guild",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(GuildBan)
class GuildBanAdmin(admin.ModelAdmin):
    list_display = ("user", "guild", "moderator", "reason", "created_at")
    search_fields = ("user__username", "guild__name", "reason")
    list_select_related = ("user", "guild", "moderator")
    readonly_fields = ("guild", "user", "moderator", "reason", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
