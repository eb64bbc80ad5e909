from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from jobs import services
from jobs.models import Job, JobState, PeriodicRun


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "state", "attempts", "run_at", "created_at", "last_error_short")
    list_filter = ("state", "name")
    search_fields = ("name", "last_error")
    ordering = ("-created_at",)
    readonly_fields = [f.name for f in Job._meta.fields]
    actions = ["retry_now"]

    @admin.display(description="last error")
    def last_error_short(self, obj: Job) -> str:
        return obj.last_error[:80]

    @admin.action(description="Retry selected dead jobs now")
    def retry_now(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        count = sum(services.retry_now(j.id) for j in queryset.filter(state=JobState.DEAD))
        self.message_user(request, f"{count} job(s) queued again.", messages.SUCCESS)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(PeriodicRun)
class PeriodicRunAdmin(admin.ModelAdmin):
    list_display = ("name", "last_run_at")
