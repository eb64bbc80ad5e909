"""Operator-only admin: the node audit log, node bans of local accounts, guild suspensions.
Imported by `moderation.admin`. Everything here is hidden from staff who are not
superusers: these are the node's powers, not a guild's."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from moderation.models import GuildSuspension, NodeAccount, NodeAuditEntry, OperatedGuild
from moderation.services import operators
from united.errors import APIError


class OperatorOnly(admin.ModelAdmin):
    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_actions(self, request: HttpRequest):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


def auth_events_link(user_id: int | None) -> str:
    if not user_id:
        return "—"
    url = reverse("admin:accounts_authevent_changelist") + f"?user__id__exact={user_id}"
    return format_html('<a href="{}">sign-ins and account events</a>', url)


@admin.register(NodeAuditEntry)
class NodeAuditEntryAdmin(OperatorOnly):
    """What operators did. Logins and account events are in Auth events (linked per user);
    guild changes in each guild's moderation log."""

    list_display = ("created_at", "action", "operator_id", "target_user_id", "target_guild_id")
    list_filter = ("action", "created_at")
    search_fields = ("action", "=target_user_id", "=target_guild_id", "reason")
    date_hierarchy = "created_at"
    readonly_fields = (
        "created_at",
        "operator",
        "action",
        "target_user_id",
        "auth_events",
        "target_guild_id",
        "reason",
        "details",
    )
    fields = readonly_fields

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="account events")
    def auth_events(self, entry: NodeAuditEntry) -> str:
        return auth_events_link(entry.target_user_id)


@admin.register(NodeAccount)
class NodeAccountAdmin(OperatorOnly):
    list_display = ("username", "display_name", "is_active", "date_joined", "last_login", "events")
    list_filter = ("is_active", "is_staff", "date_joined")
    search_fields = ("username", "display_name", "=id")
    fields = ("username", "display_name", "is_active", "date_joined", "last_login", "events")
    readonly_fields = fields
    actions = ["node_ban", "node_unban"]

    @admin.display(description="account events")
    def events(self, user: NodeAccount) -> str:
        return auth_events_link(user.id)

    def _each(self, request: HttpRequest, queryset: QuerySet, act, verb: str) -> None:
        done = 0
        for user in queryset:
            try:
                done += bool(act(request.user, user, reason="by the node operator"))
            except APIError as exc:
                self.message_user(request, f"{user.username}: {exc.message}", messages.ERROR)
        self.message_user(request, f"{done} account(s) {verb}.")

    @admin.action(description="Ban from this node (deactivate, sign out everywhere)")
    def node_ban(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._each(request, queryset, operators.do_node_ban, "banned from the node")

    @admin.action(description="Lift the node ban")
    def node_unban(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._each(request, queryset, operators.do_node_unban, "reactivated")


@admin.register(OperatedGuild)
class OperatedGuildAdmin(OperatorOnly):
    list_display = ("name", "owner", "discoverable", "directory_hidden", "suspended")
    list_filter = ("directory_hidden", "discoverable")
    search_fields = ("name", "=id", "owner__username")
    fields = ("name", "owner", "description", "directory_hidden")
    readonly_fields = fields
    actions = ["suspend", "unsuspend"]

    @admin.display(boolean=True)
    def suspended(self, guild: OperatedGuild) -> bool:
        return operators.is_suspended(guild.id)

    def _each(self, request: HttpRequest, queryset: QuerySet, act, verb: str) -> None:
        done = sum(bool(act(request.user, g, reason="by the node operator")) for g in queryset)
        self.message_user(request, f"{done} guild(s) {verb}.")

    @admin.action(description="Suspend (no reads or writes, hidden from the directory)")
    def suspend(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._each(request, queryset, operators.do_suspend_guild, "suspended")

    @admin.action(description="Lift the suspension")
    def unsuspend(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._each(request, queryset, operators.do_unsuspend_guild, "restored")


@admin.register(GuildSuspension)
class GuildSuspensionAdmin(OperatorOnly):
    list_display = ("guild", "operator", "reason", "created_at")
    search_fields = ("guild__name", "reason")
    readonly_fields = ("guild", "operator", "reason", "was_hidden", "created_at")

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # a record of the act: lift it with the guild list's "Lift the suspension"
