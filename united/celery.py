"""Celery app (production mode). Jobs live in the database (jobs app); Celery carries ids."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "united.settings")

app = Celery("united")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["jobs"])
