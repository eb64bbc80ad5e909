"""Admin building blocks every app shares. Nothing is registered here.

`ReadOnlyAdmin` is for records of something that happened (logs, outbox and inbox rows, audit
entries): an operator reads them and may run the admin actions an app offers, which go through
its services, but never adds, edits or deletes a row by hand. It lives in united/ because the
lowest layer is the only one every app (jobs included) may import.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
