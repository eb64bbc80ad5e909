from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from bots import services
from bots.models import Application, Installation


class InstallationInline(admin.TabularInline):
    model = Installation
    extra = 0
    fields = ("guild", "role", "permissions", "installed_by", "created_at")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Application)
class ApplicationAdmin(admin.ModelAdmin):
    """What an operator does to an application goes through the services, so the bot's open
    connections follow: no field is edited in place, the actions do it. To stop a bot for
    good, deactivate its account (Accounts → Users): its token then opens nothing."""

    list_display = ("name", "owner", "bot", "message_content", "created_at")
    search_fields = ("name", "owner__username", "bot__username")
    list_filter = ("message_content",)
    # The token's digest is never shown: reset it with the action.
    fields = (
        "name",
        "description",
        "owner",
        "bot",
        "message_content",
        "created_at",
        "token_reset_at",
    )
    readonly_fields = fields
    inlines = [InstallationInline]
    actions = ["reset_tokens", "revoke_message_content"]

    @admin.action(description="Reset the token (the bot is locked out)")
    def reset_tokens(self, request: HttpRequest, queryset: QuerySet[Application]) -> None:
        for app in queryset:
            services.do_reset_token(app)
        messages.success(
            request,
            f"Reset {queryset.count()} token(s): each bot is locked out until its owner resets "
            "the token again on the Developer page, which shows the new one.",
        )

    @admin.action(description="Withdraw the message content intent")
    def revoke_message_content(self, request: HttpRequest, queryset: QuerySet[Application]) -> None:
        for app in queryset:
            services.do_set_message_content(app, False)
        messages.success(request, f"{queryset.count()} bot(s) no longer read message content.")

    def has_add_permission(self, request: HttpRequest) -> bool:
        # An application is made by its owner on the Developer page, which shows its token.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # Deleting it would leave its bot in every guild with no way to reach it.
        return False
