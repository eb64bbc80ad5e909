"""The one secret backups need across runs: the key that names and encrypts blobs in a target.

It lives in the database, so it is inside every archive and a restored node keeps writing
incremental backups to the same target instead of uploading every blob again.
"""

from __future__ import annotations

import os

from django.db import models


def _new_secret() -> bytes:
    return os.urandom(32)


class BackupSecret(models.Model):
    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    secret = models.BinaryField(default=_new_secret)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"backup secret of {self.created_at:%Y-%m-%d}"

    @classmethod
    def get(cls) -> bytes:
        row, _ = cls.objects.get_or_create(id=1)
        return bytes(row.secret)
