from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import UserChangeForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from accounts.models import AuthEvent, AuthSession, Device, Passkey, RegistrationInvite, User


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


@admin.register(AuthEvent)
class AuthEventAdmin(admin.ModelAdmin):
    """The operator's read-only authentication audit log."""

    list_display = ("created_at", "kind", "username", "success", "ip")
    list_filter = ("kind", "success")
    search_fields = ("username",)
    date_hierarchy = "created_at"
    readonly_fields = ("id", "user", "username", "kind", "success", "ip", "detail", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuthEvent | None = None) -> bool:
        return False


@admin.register(RegistrationInvite)
class RegistrationInviteAdmin(admin.ModelAdmin):
    list_display = ("code", "note", "uses", "max_uses", "expires_at", "created_at")
    search_fields = ("code", "note")


@admin.register(AuthSession)
class AuthSessionAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "kind", "name", "created_at", "last_used_at", "revoked_at")
    list_filter = ("kind",)
    search_fields = ("user__username",)
    readonly_fields = (
        "user",
        "kind",
        "name",
        "session_key",
        "device",
        "created_at",
        "last_used_at",
    )


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
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


@admin.register(Passkey)
class PasskeyAdmin(admin.ModelAdmin):
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
