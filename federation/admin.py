"""The operator's federation dashboard in the Django admin. Actions call the services."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, Min, Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html

from federation import delivery, policy
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
class RemoteNodeAdmin(admin.ModelAdmin):
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

    @admin.action(description="Block (defederate) and purge cached content")
    def block(self, request: HttpRequest, queryset: QuerySet[RemoteNode]) -> None:
        for node in queryset:
            policy.do_block_node(node, f"blocked by {request.user}")
        self.message_user(request, f"Blocked {queryset.count()} node(s).")

    @admin.action(description="Unblock")
    def unblock(self, request: HttpRequest, queryset: QuerySet[RemoteNode]) -> None:
        for node in queryset:
            policy.do_unblock_node(node)

    @admin.action(description="Allow (for allowlist-only mode)")
    def allow(self, request: HttpRequest, queryset: QuerySet[RemoteNode]) -> None:
        queryset.update(allowed=True)

    @admin.action(description="Re-check privacy manifest now")
    def recheck_manifest(self, request: HttpRequest, queryset: QuerySet[RemoteNode]) -> None:
        from jobs.services import enqueue

        for node in queryset:
            enqueue("federation.check_node", {"domain": node.domain})

    @admin.action(description="Retry dead deliveries now")
    def retry_dead(self, request: HttpRequest, queryset: QuerySet[RemoteNode]) -> None:
        retried = 0
        for row in Delivery.objects.filter(node__in=queryset, state=DeliveryState.DEAD):
            retried += delivery.retry_now(row)
        self.message_user(request, f"Retrying {retried} delivery(ies).")


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["id", "activity", "inbox", "state", "attempts", "next_attempt_at", "last_error"]
    list_filter = ["state", "node"]
    search_fields = ["inbox", "activity__uri"]
    readonly_fields = [f.name for f in Delivery._meta.fields]
    actions = ["retry"]

    @admin.action(description="Retry now")
    def retry(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        retried = sum(delivery.retry_now(row) for row in queryset.filter(state=DeliveryState.DEAD))
        self.message_user(request, f"Retrying {retried} dead delivery(ies).")


@admin.register(Activity)
class ActivityAdmin(admin.ModelAdmin):
    list_display = ["id", "type", "actor_uri", "created_at"]
    list_filter = ["type"]
    readonly_fields = [f.name for f in Activity._meta.fields]


@admin.register(InboxItem)
class InboxItemAdmin(admin.ModelAdmin):
    list_display = ["received_at", "type", "actor_uri", "state", "detail"]
    list_filter = ["state", "type"]
    readonly_fields = [f.name for f in InboxItem._meta.fields]


@admin.register(InboxRejection)
class InboxRejectionAdmin(admin.ModelAdmin):
    list_display = ["at", "reason", "domain", "key_id", "path", "detail"]
    list_filter = ["reason", "domain"]
    readonly_fields = [f.name for f in InboxRejection._meta.fields]


@admin.register(RemoteActor)
class RemoteActorAdmin(admin.ModelAdmin):
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
