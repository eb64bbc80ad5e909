"""Operator admin for moderation: the chained log (read-only), bans and timeouts in force,
the node-wide report queue with bulk actions, and member sanctions as admin actions.

Admin actions call the same services as every other door. A superuser acts as the node
operator (`operator=True`: outside the guild's hierarchy, never against its owner); any other
staff account acts with its own guild permissions, so a moderator without BAN_MEMBERS
cannot ban from here either.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib import admin, messages
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from accounts.requests import AuthedHttpRequest
from guilds.models import Member
from moderation.models import (
    UNRESOLVED,
    AuditLogEntry,
    CaseAction,
    CaseNote,
    CaseState,
    GuildBan,
    MemberTimeout,
    ModeratedMember,
    Report,
    ReportCase,
)
from moderation.services import cases as case_services
from moderation.services import sanctions, timeouts
from united.admin import ReadOnlyAdmin
from united.errors import APIError


@admin.register(AuditLogEntry)
class AuditLogEntryAdmin(ReadOnlyAdmin):
    """Read-only: the log is append-only, chained and signed (verify with verify_modlog)."""

    list_display = ("created_at", "guild", "seq", "action_type", "actor_id", "target_id", "reason")
    list_filter = ("action_type", "created_at")
    search_fields = ("guild__name", "=guild__id", "=actor_id", "=target_id", "reason")
    list_select_related = ("guild",)
    date_hierarchy = "created_at"


@admin.register(GuildBan)
class GuildBanAdmin(ReadOnlyAdmin):
    list_display = ("user", "guild", "moderator", "reason", "created_at", "expires_at")
    list_filter = ("created_at", "expires_at")
    search_fields = ("user__username", "guild__name", "reason")
    list_select_related = ("user", "guild", "moderator")
    actions = ["lift_bans"]

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_superuser

    @admin.action(description="Lift selected bans", permissions=["change"])
    def lift_bans(self, request: AuthedHttpRequest, queryset: QuerySet[GuildBan]) -> None:
        bans = list(queryset.select_related("guild", "user"))
        for ban in bans:
            sanctions.do_unban(ban, request.user, reason="lifted by the node operator")
        self.message_user(request, f"{len(bans)} ban(s) lifted.")


@admin.register(MemberTimeout)
class MemberTimeoutAdmin(ReadOnlyAdmin):
    list_display = ("user", "guild", "channel", "until", "moderator", "reason")
    list_filter = ("until",)
    search_fields = ("user__username", "guild__name", "reason")
    list_select_related = ("user", "guild", "channel", "moderator")


@admin.register(ModeratedMember)
class ModeratedMemberAdmin(ReadOnlyAdmin):
    list_display = ("user", "guild", "nick", "joined_at")
    list_filter = ("joined_at",)
    search_fields = ("user__username", "nick", "guild__name", "=guild__id")
    list_select_related = ("user", "guild")
    actions = ["timeout_hour", "kick", "ban"]

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return (
            request.user.is_active
            and request.user.is_staff
            and (
                request.user.is_superuser
                or request.user.has_perm("moderation.change_moderatedmember")
            )
        )

    def _each(self, request: HttpRequest, queryset: QuerySet[Member], act, verb: str) -> None:
        from moderation.services.operators import record_node_audit

        done, refused = 0, []
        for member in queryset.select_related("user", "guild"):
            try:
                act(member)
                done += 1
                if request.user.is_superuser:
                    record_node_audit(
                        request.user,
                        "member_" + verb.replace(" ", "_"),
                        user=member.user,
                        guild=member.guild,
                    )
            except APIError as exc:
                refused.append(f"{member.user.username}: {exc.message}")
        if done:
            self.message_user(request, f"{done} member(s) {verb}.")
        for line in refused:
            self.message_user(request, f"Refused: {line}", messages.ERROR)

    @admin.action(description="Time out for one hour", permissions=["change"])
    def timeout_hour(self, request: AuthedHttpRequest, queryset: QuerySet[Member]) -> None:
        until = timezone.now() + timedelta(hours=1)
        self._each(
            request,
            queryset,
            lambda m: timeouts.check_timeout(
                request.user,
                m.guild_id,
                m.user_id,
                until,
                reason="via the admin",
                operator=request.user.is_superuser,
            ),
            "timed out",
        )

    @admin.action(description="Kick from their guild", permissions=["change"])
    def kick(self, request: AuthedHttpRequest, queryset: QuerySet[Member]) -> None:
        self._each(
            request,
            queryset,
            lambda m: sanctions.check_kick(
                request.user,
                m.guild_id,
                m.user_id,
                reason="via the admin",
                operator=request.user.is_superuser,
            ),
            "kicked",
        )

    @admin.action(description="Ban from their guild", permissions=["change"])
    def ban(self, request: AuthedHttpRequest, queryset: QuerySet[Member]) -> None:
        self._each(
            request,
            queryset,
            lambda m: sanctions.check_ban(
                request.user,
                m.guild_id,
                m.user_id,
                reason="via the admin",
                operator=request.user.is_superuser,
            ),
            "banned",
        )


class ReportInline(admin.TabularInline):
    model = Report
    extra = 0
    can_delete = False
    fields = ("created_at", "reporter", "category", "note", "signature_valid")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class NoteInline(admin.TabularInline):
    model = CaseNote
    extra = 0
    can_delete = False
    fields = ("created_at", "author", "body")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class ActionInline(admin.TabularInline):
    model = CaseAction
    extra = 0
    can_delete = False
    fields = ("created_at", "action", "actor", "audit_entry")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class QueueFilter(admin.SimpleListFilter):
    title = "queue"
    parameter_name = "queue"

    def lookups(self, request, model_admin):
        return [("node", "Node (operators)"), ("guild", "Guild queues")]

    def queryset(self, request, queryset):
        if self.value() == "node":
            return queryset.filter(guild__isnull=True)
        if self.value() == "guild":
            return queryset.filter(guild__isnull=False)
        return queryset


@admin.register(ReportCase)
class ReportCaseAdmin(admin.ModelAdmin):
    """The operators' queue: most severe first, then oldest."""

    list_display = (
        "id",
        "kind",
        "guild",
        "state",
        "severity",
        "report_count",
        "automod",
        "assignee",
        "created_at",
    )
    list_filter = (QueueFilter, "state", "kind", "severity", "automod", "created_at")
    search_fields = ("=id", "target_key", "target_user__username", "guild__name")
    list_select_related = ("guild", "assignee")
    ordering = ("-severity", "created_at")
    readonly_fields = (
        "guild",
        "kind",
        "target_key",
        "message_id",
        "channel_id",
        "target_user",
        "target_guild_id",
        "snapshot",
        "state",
        "assignee",
        "severity",
        "report_count",
        "automod",
        "created_at",
        "updated_at",
        "resolved_at",
    )
    inlines = [ReportInline, NoteInline, ActionInline]
    actions = ["assign_to_me", "dismiss", "reopen"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_actions(self, request: HttpRequest):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def changelist_view(self, request: HttpRequest, extra_context=None):
        counts = ReportCase.objects.aggregate(
            open=Count("id", filter=Q(state__in=UNRESOLVED)),
            node=Count("id", filter=Q(state__in=UNRESOLVED, guild__isnull=True)),
            severe=Count("id", filter=Q(state__in=UNRESOLVED, severity__gte=4)),
        )
        self.message_user(
            request,
            f"{counts['open']} unresolved case(s), {counts['node']} in the node queue, "
            f"{counts['severe']} severe.",
            messages.INFO,
        )
        return super().changelist_view(request, extra_context)

    def _move(self, request: HttpRequest, queryset, state: str, **kw) -> None:
        moved = 0
        for case in queryset:
            try:
                case_services.do_transition(case, state, **kw)
                moved += 1
            except APIError as exc:
                self.message_user(request, f"Case {case.id}: {exc.message}", messages.ERROR)
        self.message_user(request, f"{moved} case(s) now {state}.")

    @admin.action(description="Assign to me", permissions=["change"])
    def assign_to_me(self, request: HttpRequest, queryset) -> None:
        self._move(request, queryset, CaseState.ASSIGNED, assignee=request.user)

    @admin.action(description="Dismiss", permissions=["change"])
    def dismiss(self, request: HttpRequest, queryset) -> None:
        self._move(request, queryset, CaseState.DISMISSED)

    @admin.action(description="Reopen", permissions=["change"])
    def reopen(self, request: HttpRequest, queryset) -> None:
        self._move(request, queryset, CaseState.OPEN)


def _index_with_counts(index):
    """Counts of unresolved cases on the admin index, where operators land."""

    def view(request: HttpRequest, extra_context=None):
        unresolved = ReportCase.objects.filter(state__in=UNRESOLVED)
        extra = {
            "moderation_counts": {
                "unresolved": unresolved.count(),
                "node": unresolved.filter(guild__isnull=True).count(),
                "severe": unresolved.filter(severity__gte=4).count(),
                "bans": GuildBan.objects.count(),
            },
            **(extra_context or {}),
        }
        return index(request, extra)

    return view


# The admin index gains the queue counts; AdminSite has no hook for it.
admin.site.index = _index_with_counts(admin.site.index)  # type: ignore[method-assign]
admin.site.index_template = "moderation/admin_index.html"


from moderation import operators_admin  # noqa: E402, F401  (registers the operator-only pages)
