from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import UserChangeForm
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.safestring import SafeString

from accounts import useragent
from accounts.models import AuthEvent, AuthSession, Device, Passkey, RegistrationInvite, User
from accounts.services import tokens
from united.admin import ReadOnlyAdmin
from united.humane import when


class OperatorUserForm(UserChangeForm):
    """The admin's user form checks a display name as the API does (accounts.services)."""

    def clean_display_name(self) -> str:
        from accounts.services.profile import check_display_name
        from united.errors import Invalid

        try:
            return check_display_name(self.instance, self.cleaned_data.get("display_name", ""))
        except Invalid as exc:
            raise ValidationError(exc.errors.get("global_name") or [exc.message]) from None


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    form = OperatorUserForm
    list_display = (
        "username",
        "display_name",
        "is_staff",
        "is_active",
        "date_joined",
        "deletion_requested_at",
    )
    search_fields = ("username", "display_name")
    # The stubs type UserAdmin.fieldsets as possibly None; Django sets it.
    fieldsets = (  # type: ignore[misc]
        *BaseUserAdmin.fieldsets,
        ("Profile", {"fields": ("display_name", "avatar", "bio", "pronouns")}),
        ("Lifecycle", {"fields": ("deletion_requested_at",)}),
    )

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change and "display_name" in form.changed_data:
            from accounts.services.profile import do_update_profile

            # Through the service, as the member's own edit is: their open clients and the
            # member lists that sort by the shown name hear of it (USER_UPDATE).
            do_update_profile(obj, display_name=obj.display_name)


@admin.register(AuthEvent)
class AuthEventAdmin(ReadOnlyAdmin):
    """The operator's authentication audit log: append-only."""

    list_display = ("created_at", "kind", "username", "success", "ip")
    list_filter = ("kind", "success")
    search_fields = ("username",)
    date_hierarchy = "created_at"


@admin.register(RegistrationInvite)
class RegistrationInviteAdmin(admin.ModelAdmin):
    list_display = ("code", "note", "uses", "max_uses", "expires_at", "created_at")
    search_fields = ("code", "note")


@admin.register(AuthSession)
class AuthSessionAdmin(ReadOnlyAdmin):
    """Who is signed in where, as "Firefox on Linux · 3 hours ago". Rows are records of a
    sign-in: the one change an operator makes is ending one, through the same service the
    member's own "Sign out" button uses."""

    list_display = ("client", "user", "kind", "last_used", "signed_in", "revoked")
    list_filter = ("kind", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("user__username",)
    list_select_related = ("user",)
    ordering = ("-last_used_at",)
    # Not the session key: for a live session it is a credential.
    fields = ("client", "user", "kind", "device", "signed_in", "last_used", "revoked")
    readonly_fields = fields
    actions = ["sign_out"]

    @admin.display(description="client", ordering="name")
    def client(self, session: AuthSession) -> str:
        return useragent.describe(session.name)

    @admin.display(description="last used", ordering="last_used_at")
    def last_used(self, session: AuthSession) -> SafeString | str:
        return when(session.last_used_at)

    @admin.display(description="signed in", ordering="created_at")
    def signed_in(self, session: AuthSession) -> SafeString | str:
        return when(session.created_at)

    @admin.display(description="signed out", ordering="revoked_at")
    def revoked(self, session: AuthSession) -> SafeString | str:
        return when(session.revoked_at) if session.revoked_at else "–"

    @admin.action(description="Sign out selected sessions")
    def sign_out(self, request: HttpRequest, queryset: QuerySet[AuthSession]) -> None:
        live = list(queryset.filter(revoked_at__isnull=True))
        for session in live:
            tokens.do_revoke_session(session)
        self.message_user(request, f"{len(live)} session(s) signed out.", messages.SUCCESS)


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    """Devices register themselves with their keys; the operator can rename or revoke one."""

    list_display = ("id", "user", "name", "created_at", "revoked_at")
    search_fields = ("user__username",)
    readonly_fields = (
        "user",
        "identity_key",
        "signed_prekey_id",
        "signed_prekey",
        "signed_prekey_signature",
        "created_at",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a device is its keys, made on the device


@admin.register(Passkey)
class PasskeyAdmin(admin.ModelAdmin):
    """Passkeys (sign-in with a security key or the device's lock): made only by the
    member's authenticator, so no "Add" here."""

    list_display = ("name", "user", "created_at", "last_used_at")
    search_fields = ("user__username",)
    readonly_fields = (
        "user",
        "credential_id",
        "public_key",
        "sign_count",
        "transports",
        "created_at",
        "last_used_at",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
