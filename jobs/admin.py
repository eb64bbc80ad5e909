"""The operator's Jobs page and the read-only job lists.

A job row is the record of a piece of background work; the only changes an operator makes
are the retries jobs.services offers (a dead job gets a fresh budget, a job waiting out its
back-off runs now), from the Jobs page or as list actions. Those are the node's powers, so
only superusers see the buttons.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib import admin, messages
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.safestring import SafeString
from django.views.decorators.http import require_POST

from jobs import services
from jobs.models import Job, JobState, PeriodicRun
from united.admin import ReadOnlyAdmin
from united.humane import when

LISTED = 50  # rows per table on the Jobs page; the full lists are the changelists


def _backing_off(now: datetime) -> Q:
    """Queued after a failure and waiting out its back-off."""
    return Q(state=JobState.QUEUED, run_at__gt=now) & ~Q(last_error="")


def counts(now: datetime | None = None) -> dict[str, int]:
    """Each job in exactly one bucket."""
    now = now or timezone.now()
    later = Q(state=JobState.QUEUED, run_at__gt=now)
    return Job.objects.aggregate(
        queued=Count("id", filter=Q(state=JobState.QUEUED, run_at__lte=now)),
        scheduled=Count("id", filter=later & Q(last_error="")),
        retrying=Count("id", filter=_backing_off(now)),
        running=Count("id", filter=Q(state=JobState.RUNNING)),
        dead=Count("id", filter=Q(state=JobState.DEAD)),
        done_today=Count(
            "id", filter=Q(state=JobState.DONE, finished_at__gte=now - timedelta(days=1))
        ),
    )


def _retry(job_ids: list[int]) -> int:
    """Dead jobs get a fresh budget; queued ones waiting after a failure run now."""
    return sum(services.retry_now(i) or services.run_now(i) for i in job_ids)


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    list_display = ("id", "name", "state", "attempts", "due", "created", "last_error_short")
    list_filter = ("state", "name")
    search_fields = ("name", "last_error")
    ordering = ("-created_at",)
    actions = ["retry_now"]

    @admin.display(description="last error")
    def last_error_short(self, obj: Job) -> str:
        return obj.last_error[:80]

    @admin.display(description="due", ordering="run_at")
    def due(self, obj: Job) -> SafeString | str:
        return when(obj.run_at)

    @admin.display(description="created", ordering="created_at")
    def created(self, obj: Job) -> SafeString | str:
        return when(obj.created_at)

    @admin.action(description="Retry selected jobs now (failed or waiting after a failure)")
    def retry_now(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        if not request.user.is_superuser:
            self.message_user(request, "Only the node's operators retry jobs.", messages.ERROR)
            return
        count = _retry(list(queryset.values_list("id", flat=True)))
        self.message_user(request, f"{count} job(s) queued again.", messages.SUCCESS)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("overview/", view(self.overview_view), name="jobs_overview"),
            path(
                "overview/<int:job_id>/retry/",
                view(require_POST(self.retry_view)),
                name="jobs_retry",
            ),
            path(
                "overview/retry-dead/",
                view(require_POST(self.retry_dead_view)),
                name="jobs_retry_dead",
            ),
            *super().get_urls(),
        ]

    def overview_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            return HttpResponse("Forbidden", status=403)
        now = timezone.now()
        context = {
            **self.admin_site.each_context(request),
            "title": "Jobs",
            "subtitle": None,
            "opts": self.model._meta,
            "counts": counts(now),
            "running": list(Job.objects.filter(state=JobState.RUNNING).order_by("run_at")[:LISTED]),
            "failed": list(
                Job.objects.filter(Q(state=JobState.DEAD) | _backing_off(now)).order_by(
                    "-finished_at", "-run_at"
                )[:LISTED]
            ),
            "queued": list(
                Job.objects.filter(state=JobState.QUEUED)
                .exclude(_backing_off(now))
                .order_by("run_at")[:LISTED]
            ),
            "periodic": list(PeriodicRun.objects.order_by("name")),
            "can_act": request.user.is_superuser,
            "now": now,
        }
        return TemplateResponse(request, "jobs/admin_overview.html", context)

    def _done(self, request: HttpRequest, count: int) -> HttpResponse:
        if count:
            self.message_user(request, f"{count} job(s) queued again.", messages.SUCCESS)
        else:
            self.message_user(request, "Nothing to retry: already queued or finished.")
        return HttpResponseRedirect(reverse("admin:jobs_overview"))

    def retry_view(self, request: HttpRequest, job_id: int) -> HttpResponse:
        if not request.user.is_superuser:
            return HttpResponse("Only the node's operators retry jobs.", status=403)
        return self._done(request, _retry([job_id]))

    def retry_dead_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.is_superuser:
            return HttpResponse("Only the node's operators retry jobs.", status=403)
        dead = list(Job.objects.filter(state=JobState.DEAD).values_list("id", flat=True))
        return self._done(request, _retry(dead))


@admin.register(PeriodicRun)
class PeriodicRunAdmin(ReadOnlyAdmin):
    list_display = ("name", "last_run")

    @admin.display(description="last run", ordering="last_run_at")
    def last_run(self, obj: PeriodicRun) -> SafeString | str:
        return when(obj.last_run_at)
