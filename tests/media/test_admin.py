"""The operator's storage pages and "delete everywhere" through the real admin."""

from __future__ import annotations

import logging

import pytest
from django.test import Client

from media.models import Attachment, Blob, BlobDeletion
from media.storage import blob_store
from tests.media.helpers import upload

pytestmark = pytest.mark.usefixtures("backend")


@pytest.fixture
def operator(make_user):
    client = Client()
    client.force_login(make_user("root", is_staff=True, is_superuser=True))
    return client


def test_usage_page_lists_members_scopes_and_largest_blobs(as_alice, operator):
    upload(as_alice, b"z" * 4321, "big.bin", scope="channel:99")
    page = operator.get("/admin/media/blob/usage/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "alice" in text and "channel:99" in text and Blob.objects.get().sha256 in text
    changelist = operator.get("/admin/media/blob/")
    assert changelist.status_code == 200 and "Storage usage" in changelist.content.decode()


def test_delete_everywhere_asks_why_then_deletes(as_alice, operator, caplog):
    upload(as_alice, b"remove me", "bad.txt")
    blob = Blob.objects.get()
    action = {"action": "delete_everywhere", "_selected_action": [blob.pk]}
    ask = operator.post("/admin/media/blob/", action)
    assert ask.status_code == 200 and "reason" in ask.content.decode()
    assert Blob.objects.exists()

    with caplog.at_level(logging.WARNING, logger="media.services"):
        done = operator.post(
            "/admin/media/blob/", {**action, "confirm": "yes", "reason": "spam wave"}
        )
    assert done.status_code == 302
    assert not Blob.objects.exists() and not Attachment.objects.exists()
    assert list(blob_store().list("blobs")) == []
    record = BlobDeletion.objects.get()
    assert record.reason == "spam wave" and record.deleted_by.username == "root"
    assert any("spam wave" in r.getMessage() for r in caplog.records)


def test_members_cannot_reach_the_storage_pages(as_alice):
    assert as_alice.get("/admin/media/blob/usage/").status_code == 302  # to the admin login
