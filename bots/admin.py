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


@admin.register(Application)
class ApplicationAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "bot", "message_content", "created_at")
    search_fields = ("name", "owner__username", "bot__username")
    list_filter = ("message_content",)
    # The token's digest is never shown or edited here: reset it with the action.
    fields = (
        "name",
        "description",
        "owner",
        "bot",
        "message_content",
        "created_at",
        "token_reset_at",
    )
    readonly_fields = ("owner", "bot", "created_at", "token_reset_at")
    inlines = [InstallationInline]
    actions = ["reset_tokens"]

    @admin.action(
        description="Reset the token (the bot stops working until its owner takes the new one)"
    )
    def reset_tokens(self, request: HttpRequest, queryset: QuerySet[Application]) -> None:
        for app in queryset:
            services.do_reset_token(app)
        messages.success(
            request,
            f"Reset {queryset.count()} token(s): each bot is locked out until its owner resets "
            "the token again on the Developer page, which shows the new one.",
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        # An application is made by its owner on the Developer page, which shows its token.
        return False
