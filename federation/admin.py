"""The operator's federation dashboard in the Django admin: the Federation page (every peer,
its state, queue and last failure, with block / unblock / retry now) and read-only lists of
the records underneath. Every act goes through federation.operators or the delivery engine."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, Min, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from accounts.requests import AuthedHttpRequest
from federation import delivery, operators, policy
from federation.models import (
    Activity,
    Delivery,
    DeliveryState,
    FederationPolicy,
    InboxItem,
    InboxRejection,
    RemoteActor,
    RemoteNode,
)
from united.admin import ReadOnlyAdmin
from united.errors import APIError


def queue_health() -> dict[str, Any]:
    """Pending, retrying, dead, the oldest open delivery's age and per-node latency."""
    counts = Delivery.objects.aggregate(
        pending=Count("id", filter=Q(state__in=[DeliveryState.PENDING, DeliveryState.SENDING])),
        retrying=Count("id", filter=Q(state=DeliveryState.RETRYING)),
        dead=Count("id", filter=Q(state=DeliveryState.DEAD)),
        oldest=Min("created_at", filter=Q(state__in=delivery.OPEN)),
    )
    oldest = counts.pop("oldest")
    counts["oldest_age_seconds"] = (
        round((timezone.now() - oldest).total_seconds()) if oldest else None
    )
    counts["latency_ms"] = {
        node.domain: round(node.latency_ms or 0, 1)
        for node in RemoteNode.objects.exclude(latency_ms=None)
    }
    return counts


@admin.register(RemoteNode)
class RemoteNodeAdmin(ReadOnlyAdmin):
    """Peers are discovered, not typed in; what an operator does to one (block, unblock,
    retry) is an action here or a button on the Federation page."""

    list_display = [
        "domain",
        "software",
        "status",
        "blocked",
        "allowed",
        "open_deliveries",
        "dead_deliveries",
        "latency",
        "manifest_ok",
        "last_seen_at",
    ]
    list_filter = ["status", "blocked", "allowed", "is_united"]
    search_fields = ["domain"]
    readonly_fields = [
        "domain",
        "software",
        "software_version",
        "is_united",
        "pretty_manifest",
        "pretty_keys",
        "manifest_checked_at",
        "manifest_problems",
        "status",
        "consecutive_failures",
        "unreachable_since",
        "next_probe_at",
        "latency_ms",
        "last_error",
        "last_error_at",
        "first_seen_at",
        "last_seen_at",
    ]
    exclude = ["manifest", "public_keys", "sending_until", "probes"]
    actions = ["block", "unblock", "allow", "recheck_manifest", "retry_dead"]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None):
        health = queue_health()
        self.message_user(
            request,
            "Delivery queue: {pending} pending, {retrying} retrying, {dead} dead; oldest open "
            "delivery {age}".format(
                age=f"{health['oldest_age_seconds']} s old"
                if health["oldest_age_seconds"] is not None
                else "none",
                **health,
            ),
            messages.INFO,
        )
        return super().changelist_view(request, extra_context)

    def get_queryset(self, request: HttpRequest) -> QuerySet[RemoteNode]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                n_open=Count("deliveries", filter=Q(deliveries__state__in=delivery.OPEN)),
                n_dead=Count("deliveries", filter=Q(deliveries__state=DeliveryState.DEAD)),
            )
        )

    @admin.display(description="open", ordering="n_open")
    def open_deliveries(self, obj: Any) -> int:
        return int(obj.n_open)

    @admin.display(description="dead", ordering="n_dead")
    def dead_deliveries(self, obj: Any) -> int:
        return int(obj.n_dead)

    @admin.display(description="latency (ms)")
    def latency(self, obj: RemoteNode) -> str:
        return "–" if obj.latency_ms is None else f"{obj.latency_ms:.0f}"

    @admin.display(boolean=True, description="manifest ok")
    def manifest_ok(self, obj: RemoteNode) -> bool:
        return not obj.manifest_problems

    @admin.display(description="privacy manifest")
    def pretty_manifest(self, obj: RemoteNode) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.manifest, indent=2))

    @admin.display(description="published keys")
    def pretty_keys(self, obj: RemoteNode) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.public_keys, indent=2))

    def _each(self, request: AuthedHttpRequest, queryset: QuerySet[RemoteNode], act) -> int:
        done = 0
        for node in queryset:
            try:
                act(node)
                done += 1
            except APIError as exc:
                self.message_user(request, f"{node.domain}: {exc.message}", messages.ERROR)
        return done

    @admin.action(description="Block (defederate) and purge cached content")
    def block(self, request: AuthedHttpRequest, queryset: QuerySet[RemoteNode]) -> None:
        done = self._each(
            request, queryset, lambda n: operators.check_block_peer(request.user, n.id)
        )
        self.message_user(request, f"Blocked {done} node(s).")

    @admin.action(description="Unblock")
    def unblock(self, request: AuthedHttpRequest, queryset: QuerySet[RemoteNode]) -> None:
        done = self._each(
            request, queryset, lambda n: operators.check_unblock_peer(request.user, n.id)
        )
        self.message_user(request, f"Unblocked {done} node(s).")

    @admin.action(description="Allow (for allowlist-only mode)")
    def allow(self, request: HttpRequest, queryset: QuerySet[RemoteNode]) -> None:
        queryset.update(allowed=True)

    @admin.action(description="Re-check privacy manifest now")
    def recheck_manifest(self, request: HttpRequest, queryset: QuerySet[RemoteNode]) -> None:
        from jobs.services import enqueue

        for node in queryset:
            enqueue("federation.check_node", {"domain": node.domain})

    @admin.action(description="Retry now (failed and waiting deliveries)")
    def retry_dead(self, request: AuthedHttpRequest, queryset: QuerySet[RemoteNode]) -> None:
        done = self._each(
            request, queryset, lambda n: operators.check_retry_peer(request.user, n.id)
        )
        self.message_user(request, f"Retrying {done} node(s) now.")

    # The Federation page: one screen an operator runs federation from.

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("overview/", view(self.overview_view), name="federation_overview"),
            path(
                "overview/<int:node_id>/block/",
                view(require_POST(self.block_view)),
                name="federation_block",
            ),
            path(
                "overview/<int:node_id>/unblock/",
                view(require_POST(self.unblock_view)),
                name="federation_unblock",
            ),
            path(
                "overview/<int:node_id>/retry/",
                view(require_POST(self.retry_view)),
                name="federation_retry",
            ),
            *super().get_urls(),
        ]

    def overview_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            return HttpResponse("Forbidden", status=403)
        context = {
            **self.admin_site.each_context(request),
            "title": "Federation",
            "subtitle": None,
            "opts": self.model._meta,
            "peers": operators.peers(),
            "health": queue_health(),
            "can_act": request.user.is_superuser,
            "reason_max": operators.REASON_MAX,
        }
        return TemplateResponse(request, "federation/admin_overview.html", context)

    def _act(self, request: HttpRequest, act) -> HttpResponse:
        try:
            self.message_user(request, act(), messages.SUCCESS)
        except APIError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        return HttpResponseRedirect(reverse("admin:federation_overview"))

    def block_view(self, request: AuthedHttpRequest, node_id: int) -> HttpResponse:
        def act() -> str:
            reason = request.POST.get("reason", "")
            node = operators.check_block_peer(request.user, node_id, reason)
            return f"{node.domain} is blocked: nothing is sent to it or accepted from it."

        return self._act(request, act)

    def unblock_view(self, request: AuthedHttpRequest, node_id: int) -> HttpResponse:
        def act() -> str:
            node = operators.check_unblock_peer(request.user, node_id)
            return f"{node.domain} is unblocked."

        return self._act(request, act)

    def retry_view(self, request: AuthedHttpRequest, node_id: int) -> HttpResponse:
        def act() -> str:
            node, queued = operators.check_retry_peer(request.user, node_id)
            return f"Retrying {node.domain} now: {queued} delivery(ies) queued."

        return self._act(request, act)


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ["id", "activity", "inbox", "state", "attempts", "next_attempt_at", "last_error"]
    list_filter = ["state", "node"]
    search_fields = ["inbox", "activity__uri"]
    actions = ["retry"]

    @admin.action(description="Retry now")
    def retry(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        retried = sum(delivery.retry_now(row) for row in queryset.filter(state=DeliveryState.DEAD))
        self.message_user(request, f"Retrying {retried} dead delivery(ies).")


@admin.register(Activity)
class ActivityAdmin(ReadOnlyAdmin):
    list_display = ["id", "type", "actor_uri", "created_at"]
    list_filter = ["type"]


@admin.register(InboxItem)
class InboxItemAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "type", "actor_uri", "state", "detail"]
    list_filter = ["state", "type"]


@admin.register(InboxRejection)
class InboxRejectionAdmin(ReadOnlyAdmin):
    list_display = ["at", "reason", "domain", "key_id", "path", "detail"]
    list_filter = ["reason", "domain"]


@admin.register(RemoteActor)
class RemoteActorAdmin(ReadOnlyAdmin):
    list_display = ["uri", "kind", "node", "blocked", "fetched_at"]
    list_filter = ["blocked", "kind"]
    search_fields = ["uri", "username"]
    actions = ["block"]

    @admin.action(description="Block these actors")
    def block(self, request: HttpRequest, queryset: QuerySet[RemoteActor]) -> None:
        for actor in queryset:
            policy.do_block_actor(actor)


@admin.register(FederationPolicy)
class FederationPolicyAdmin(admin.ModelAdmin):
    list_display = ["__str__", "allowlist_only", "refuse_ip_logging", "max_retention_days"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not FederationPolicy.objects.exists()
