"""Operator admin. Listings and inlines are read-only: changes to guilds go through the
services (permissions, audit log, gateway events); the bulk actions call them too."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from accounts.requests import AuthedHttpRequest
from guilds.models import Channel, Guild, GuildTag, Invite, Member, Role
from guilds.services.directory import do_set_directory_hidden
from guilds.services.guilds import do_delete_guild
from guilds.services.invites import do_revoke_invite
from united.errors import APIError

if TYPE_CHECKING:
    from accounts.models import User


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class ChannelInline(ReadOnlyInline):
    model = Channel
    fk_name = "guild"
    fields = ("name", "type", "parent", "position", "nsfw", "rate_limit_per_user")
    readonly_fields = fields
    ordering = ("parent_id", "position")


class RoleInline(ReadOnlyInline):
    model = Role
    fields = ("name", "position", "permissions", "hoist", "mentionable")
    readonly_fields = fields


class TagInline(ReadOnlyInline):
    model = GuildTag
    fields = ("tag",)
    readonly_fields = fields


@admin.register(Guild)
class GuildAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "owner",
        "member_count",
        "verification_level",
        "discoverable",
        "directory_hidden",
        "created_at",
    )
    list_filter = ("discoverable", "directory_hidden", "verification_level", "created_at")
    search_fields = ("name", "description", "owner__username", "=id")
    readonly_fields = (
        "id",
        "name",
        "icon",
        "description",
        "owner",
        "default_channel",
        "system_channel",
        "verification_level",
        "settings",
        "discoverable",
        "search_hides_banned",
        "show_ban_reasons",
        "last_activity_at",
        "created_at",
    )
    fields = (*readonly_fields, "directory_hidden")
    inlines = [ChannelInline, RoleInline, TagInline]
    actions = ["hide_from_directory", "show_in_directory", "delete_guilds"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Guild]:
        return (
            super()
            .get_queryset(request)
            .select_related("owner")
            .annotate(_members=Count("members", distinct=True))
        )

    @admin.display(ordering="_members", description="members")
    def member_count(self, guild: Guild) -> int:
        # Annotated by get_queryset (Count).
        return guild._members  # type: ignore[attr-defined]

    def get_actions(self, request: HttpRequest):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Guild, form, change: bool) -> None:
        do_set_directory_hidden([obj.id], obj.directory_hidden)

    @admin.action(description="Hide from the public directory")
    def hide_from_directory(self, request: HttpRequest, queryset: QuerySet[Guild]) -> None:
        count = do_set_directory_hidden(list(queryset.values_list("id", flat=True)), True)
        self.message_user(request, f"{count} guild(s) hidden from the directory.")

    @admin.action(description="Show in the public directory again")
    def show_in_directory(self, request: HttpRequest, queryset: QuerySet[Guild]) -> None:
        count = do_set_directory_hidden(list(queryset.values_list("id", flat=True)), False)
        self.message_user(request, f"{count} guild(s) shown in the directory.")

    @admin.action(description="Delete selected guilds (cannot be undone)", permissions=["change"])
    def delete_guilds(self, request: AuthedHttpRequest, queryset: QuerySet[Guild]) -> None:
        guilds = list(queryset)
        for guild in guilds:
            do_delete_guild(guild, actor=request.user)
        self.message_user(request, f"{len(guilds)} guild(s) deleted.", messages.WARNING)


@admin.register(Member)
class MemberAdmin(admin.ModelAdmin):
    """A member's roles are editable here; the change goes through `check_member_role` as
    the signed-in staff user, so it needs their MANAGE_ROLES in that guild, is audited and
    reaches the gateway and other nodes like a change made in the app."""

    list_display = ("user", "guild", "nick", "joined_at", "temporary")
    list_filter = ("temporary", "joined_at")
    search_fields = ("user__username", "nick", "guild__name")
    list_select_related = ("user", "guild")
    fields = ("guild", "user", "nick", "roles", "joined_at", "temporary")
    readonly_fields = ("guild", "user", "nick", "joined_at", "temporary")
    filter_horizontal = ("roles",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_form(self, request: HttpRequest, obj: Member | None = None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is not None and "roles" in form.base_fields:
            roles = form.base_fields["roles"]
            # The roles field is a ModelMultipleChoiceField.
            roles.queryset = Role.objects.filter(guild_id=obj.guild_id).exclude(id=obj.guild_id)  # type: ignore[attr-defined]
            roles.required = False
        return form

    def save_model(self, request: HttpRequest, obj: Member, form, change: bool) -> None:
        """Nothing but the roles is editable, and they are saved in `save_related`."""

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        from guilds.services.access import member_role_ids
        from guilds.services.members import check_member_role

        member: Member = form.instance
        wanted = {role.id for role in form.cleaned_data.get("roles") or ()}
        current = member_role_ids(member) - {member.guild_id}
        changes = [(rid, True) for rid in sorted(wanted - current)]
        changes += [(rid, False) for rid in sorted(current - wanted)]
        operator = cast("User", request.user)  # the admin site is behind a staff sign-in
        for role_id, add in changes:
            try:
                check_member_role(
                    operator,
                    member.guild_id,
                    member.user_id,
                    role_id,
                    add=add,
                    reason="via the admin",
                )
            except APIError as exc:
                self.message_user(request, f"Role {role_id}: {exc.message}", messages.ERROR)


@admin.register(Invite)
class InviteAdmin(admin.ModelAdmin):
    list_display = (
        "code",
        "guild",
        "channel",
        "inviter",
        "uses",
        "max_uses",
        "expires_at",
        "revoked_at",
        "temporary",
    )
    list_filter = ("temporary", "created_at", "revoked_at")
    search_fields = ("code", "guild__name", "inviter__username")
    list_select_related = ("guild", "channel", "inviter")
    readonly_fields = (
        "code",
        "guild",
        "channel",
        "inviter",
        "max_age",
        "max_uses",
        "uses",
        "temporary",
        "created_at",
        "expires_at",
        "revoked_at",
    )
    actions = ["revoke"]

    def get_actions(self, request: HttpRequest):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.action(description="Revoke selected invites", permissions=["change"])
    def revoke(self, request: AuthedHttpRequest, queryset: QuerySet[Invite]) -> None:
        invites = list(queryset.filter(revoked_at__isnull=True).select_related("guild"))
        for invite in invites:
            do_revoke_invite(invite, request.user, reason="revoked by the node operator")
        self.message_user(request, f"{len(invites)} invite(s) revoked.")
