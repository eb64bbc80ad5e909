"""Operators' view of storage: usage per member and per scope, largest blobs, and
"delete everywhere", which goes through `services.do_delete_blob_everywhere` (logged, recorded
in BlobDeletion, hash blocked). Rows are read-only here: a plain admin delete would bypass the
reference counts."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import path

from media import services
from media.models import Attachment, Blob, BlobDeletion
from united.admin import ReadOnlyAdmin


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=2000)


@admin.register(Blob)
class BlobAdmin(ReadOnlyAdmin):
    list_display = ("sha256", "size", "refs", "state", "unreferenced_since", "created_at")
    list_filter = ("state",)
    search_fields = ("sha256",)
    ordering = ("-size",)  # largest first
    actions = ["delete_everywhere"]
    change_list_template = "media/admin_blob_changelist.html"

    def get_urls(self):
        usage = path("usage/", self.admin_site.admin_view(self.usage_view), name="media_usage")
        return [usage, *super().get_urls()]

    def usage_view(self, request: HttpRequest) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": "Storage usage",
            "by_user": services.usage_by_user(),
            "by_scope": services.usage_by_scope(),
            "largest": services.largest_blobs(20),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "media/admin_usage.html", context)

    @admin.action(description="Delete everywhere (every attachment using it; blocks re-upload)")
    def delete_everywhere(self, request: HttpRequest, queryset: QuerySet[Blob]):
        form = ReasonForm(request.POST if "confirm" in request.POST else None)
        if form.is_valid():
            blobs = list(queryset)
            for blob in blobs:
                services.do_delete_blob_everywhere(
                    blob, actor=request.user, reason=form.cleaned_data["reason"]
                )
            self.message_user(
                request, f"Deleted {len(blobs)} blob(s) everywhere.", messages.WARNING
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Delete blobs everywhere",
            "blobs": queryset,
            "form": form,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "media/admin_delete_everywhere.html", context)


@admin.register(Attachment)
class AttachmentAdmin(ReadOnlyAdmin):
    list_display = ("id", "filename", "uploader", "scope", "purpose", "kind", "size", "created_at")
    list_filter = ("purpose", "kind", "encrypted")
    search_fields = ("filename", "uploader__username", "scope", "blob__sha256")
    list_select_related = ("uploader",)
    ordering = ("-created_at",)


@admin.register(BlobDeletion)
class BlobDeletionAdmin(ReadOnlyAdmin):
    list_display = ("sha256", "size", "attachments", "deleted_by", "reason", "created_at")
    search_fields = ("sha256", "reason")
    ordering = ("-created_at",)
