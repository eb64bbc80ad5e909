"""Reference counting, the garbage collector, and an operator's delete-everywhere."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.services import registered, run_due_jobs
from media import services
from media.models import Attachment, Blob, BlobDeletion, BlobState, Thumbnail
from media.storage import blob_store
from tests.media.helpers import png_bytes, upload

pytestmark = pytest.mark.usefixtures("backend")


def keys() -> list[str]:
    return list(blob_store().list("blobs"))


def test_unreferenced_blob_is_collected_after_the_grace_period(as_alice):
    meta = upload(as_alice, b"short-lived", "tmp.txt").json()
    services.do_delete_attachment(Attachment.objects.get(id=int(meta["id"])))
    blob = Blob.objects.get()
    assert blob.refs == 0 and blob.unreferenced_since is not None

    assert services.do_collect_garbage() == 0  # still inside the grace period
    assert keys() == [blob.key]
    later = timezone.now() + services.GRACE + timedelta(seconds=1)
    assert services.do_collect_garbage(now=later) == 1
    assert keys() == [] and not Blob.objects.exists()


def test_referenced_blob_survives_collection(as_alice):
    upload(as_alice, b"keep me", "keep.txt")
    later = timezone.now() + timedelta(days=30)
    assert services.do_collect_garbage(now=later) == 0
    assert len(keys()) == 1


def test_reupload_inside_the_grace_period_revives_the_blob(as_alice):
    first = upload(as_alice, b"comes back", "a.txt").json()
    services.do_delete_attachment(Attachment.objects.get(id=int(first["id"])))
    upload(as_alice, b"comes back", "b.txt")
    blob = Blob.objects.get()
    assert blob.refs == 1 and blob.unreferenced_since is None
    assert services.do_collect_garbage(now=timezone.now() + timedelta(days=1)) == 0
    assert keys() == [blob.key]


def test_collector_finishes_what_a_dead_collector_started(as_alice):
    meta = upload(as_alice, b"half deleted", "h.txt").json()
    services.do_delete_attachment(Attachment.objects.get(id=int(meta["id"])))
    Blob.objects.update(state=BlobState.DELETING)
    assert services.do_collect_garbage() == 1
    assert keys() == [] and not Blob.objects.exists()


def test_thumbnails_hold_references_too(as_alice):
    meta = upload(as_alice, png_bytes((700, 500)), "p.png").json()
    assert Thumbnail.objects.count() == 2
    assert Blob.objects.count() == 3 and set(Blob.objects.values_list("refs", flat=True)) == {1}
    services.do_delete_attachment(Attachment.objects.get(id=int(meta["id"])))
    assert set(Blob.objects.values_list("refs", flat=True)) == {0}
    assert services.do_collect_garbage(now=timezone.now() + timedelta(days=1)) == 3
    assert keys() == []


def test_the_collector_is_a_registered_periodic_job(as_alice):
    assert "media.collect_garbage" in registered()
    run_due_jobs()


def test_delete_everywhere(as_alice, alice, client, make_user, caplog):
    admin = make_user("root", is_staff=True, is_superuser=True)
    data = b"illegal content"
    upload(as_alice, data, "one.txt")
    client.force_login(make_user("dave"))
    upload(client, data, "two.txt")
    blob = Blob.objects.get()
    with caplog.at_level(logging.WARNING, logger="media.services"):
        record = services.do_delete_blob_everywhere(blob, actor=admin, reason="court order 17")
    assert record.attachments == 2 and record.deleted_by == admin
    assert record.reason == "court order 17" and record.sha256 == blob.sha256
    assert not Attachment.objects.exists() and not Blob.objects.exists() and keys() == []
    warning = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warning and blob.sha256 in warning[0].getMessage()
    assert "court order 17" in warning[0].getMessage()
    # The same bytes cannot come back.
    again = upload(as_alice, data, "three.txt")
    assert again.status_code == 403
    assert BlobDeletion.objects.count() == 1


def test_delete_everywhere_needs_a_reason(as_alice, alice):
    upload(as_alice, b"x", "x.txt")
    with pytest.raises(services.Invalid):
        services.do_delete_blob_everywhere(Blob.objects.get(), actor=alice, reason="  ")


def test_usage_reports(as_alice, alice, make_user, client):
    upload(as_alice, b"a" * 1000, "a.txt", scope="channel:1")
    upload(as_alice, b"b" * 3000, "b.txt", scope="channel:2")
    client.force_login(make_user("erin"))
    upload(client, b"c" * 500, "c.txt", scope="channel:1")
    assert services.usage_of(alice) == 4000
    by_user = services.usage_by_user()
    assert [(u["uploader__username"], u["bytes"], u["files"]) for u in by_user] == [
        ("alice", 4000, 2),
        ("erin", 500, 1),
    ]
    by_scope = {s["scope"]: s["bytes"] for s in services.usage_by_scope()}
    assert by_scope == {"channel:2": 3000, "channel:1": 1500}
    assert [b.size for b in services.largest_blobs()] == [3000, 1000, 500]
