"""Uploads, downloads, reference counting and garbage collection of blobs.

Storing a file is three steps, ordered so that a crash at any point leaves nothing that the
collector cannot clean up and nothing that points at missing bytes:

1. `_claim_blob`: make sure a LIVE Blob row exists (new rows start with refs=0 and a fresh
   `unreferenced_since`, which also protects an existing unreferenced blob from the collector
   for one grace period);
2. put the bytes into storage (skipped when the key exists: same key, same bytes);
3. in one transaction, take a reference (`refs + 1` only while the row is LIVE) and write the
   Attachment and Thumbnail rows.

The collector deletes only LIVE rows with refs=0 whose grace ran out, by first moving them to
DELETING with a conditional UPDATE. An upload racing it either takes its reference first (the
collector's UPDATE then matches nothing) or finds the row DELETING, waits for it to go, and
stores the bytes again.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from media import images, links
from media.access import may_read
from media.models import Attachment, Blob, BlobDeletion, BlobState, Kind, Purpose, Thumbnail
from media.storage import blob_store
from media.uploads import StreamedUpload, TooLarge
from united.errors import UNAUTHORIZED, APIError, Forbidden, Invalid, NotFound

logger = logging.getLogger(__name__)

GRACE = timedelta(hours=1)
TEMP_MAX_AGE = timedelta(days=1)
SCOPE_RE = re.compile(r"^[a-z_]{1,32}:[A-Za-z0-9_-]{1,64}$")


@dataclass
class _Stored:
    sha256: str
    size: int


# --- reading -----------------------------------------------------------------------------


def usage_of(user: Any) -> int:
    return Attachment.objects.filter(uploader=user).aggregate(total=Sum("size"))["total"] or 0


def quota_left(user: Any) -> int:
    return settings.UNITED_USER_QUOTA_BYTES - usage_of(user)


def serialize_attachment(attachment: Attachment) -> dict[str, Any]:
    """Discord's attachment object, plus our `kind`, `purpose`, `thumbnails` and `encrypted`."""
    url = f"/api/v1/attachments/{attachment.id}/content"
    return {
        "id": str(attachment.id),
        "filename": attachment.filename,
        "size": attachment.size,
        "url": url,
        "proxy_url": url,
        "content_type": attachment.content_type,
        "width": attachment.width,
        "height": attachment.height,
        "duration_secs": attachment.duration,
        "placeholder": attachment.blurhash or None,
        "animated": attachment.animated,
        "encrypted": attachment.encrypted,
        "kind": attachment.kind,
        "purpose": attachment.purpose,
        "scope": attachment.scope or None,
        "thumbnails": [
            {
                "size": t.size,
                "width": t.width,
                "height": t.height,
                "url": f"/api/v1/attachments/{attachment.id}/thumbnails/{t.size}",
            }
            for t in attachment.thumbnails.all()
        ],
    }


def access_attachment(
    user: Any, attachment_id: int | str, *, link: tuple[str, Mapping[str, Any]] | None = None
) -> Attachment:
    """The attachment, if `user` may read it, or `link` (what is read, the query) is a valid
    signed link for it (media/links.py); 404, 401 or 403 otherwise."""
    try:
        attachment = Attachment.objects.get(id=int(attachment_id))
    except (Attachment.DoesNotExist, ValueError, OverflowError):
        raise NotFound("Unknown attachment") from None
    if link is not None and links.valid(attachment.id, link[0], link[1]):
        return attachment
    if not may_read(user, attachment):
        if user is None or not user.is_authenticated:
            raise APIError("Sign in to read this attachment", status=401, code=UNAUTHORIZED)
        raise Forbidden("You cannot read this attachment")
    return attachment


# --- uploading ---------------------------------------------------------------------------


def _clean_filename(name: str) -> str:
    name = "".join(c for c in Path(name.replace("\\", "/")).name if c.isprintable()).strip()
    return name[:255] or "file"


def check_upload(
    user: Any,
    upload: StreamedUpload,
    *,
    scope: str = "",
    purpose: str = Purpose.ATTACHMENT,
    encrypted: bool = False,
) -> Attachment:
    if purpose not in Purpose.values:
        raise Invalid(errors={"purpose": [f"One of {', '.join(Purpose.values)}."]})
    if scope and not SCOPE_RE.match(scope):
        raise Invalid(errors={"scope": ["A scope looks like 'channel:<id>'."]})
    if encrypted and purpose != Purpose.ATTACHMENT:
        raise Invalid(errors={"encrypted": ["Avatars, icons and banners cannot be encrypted."]})
    if upload.size == 0:
        raise Invalid(errors={"file": ["The file is empty."]})
    if upload.size > quota_left(user):
        raise TooLarge("This upload would exceed your storage quota")
    _check_not_blocked(upload.sha256)
    return do_upload(user, upload, scope=scope, purpose=purpose, encrypted=encrypted)


def _check_not_blocked(sha256: str) -> None:
    if BlobDeletion.objects.filter(sha256=sha256).exists():
        raise Forbidden("This file was removed by the node's operators and cannot be uploaded")


def do_upload(
    user: Any, upload: StreamedUpload, *, scope: str, purpose: str, encrypted: bool
) -> Attachment:
    fields: dict[str, Any] = {
        "uploader": user,
        "scope": scope,
        "purpose": purpose,
        "filename": _clean_filename(upload.filename),
        "encrypted": encrypted,
    }
    temp_dir = upload.path.parent
    made: list[Path] = []
    try:
        thumbnails: list[images.Rendition] = []
        if encrypted:
            # Opaque ciphertext: no sniffing, no decoding, no thumbnails.
            fields.update(kind=Kind.ENCRYPTED, content_type="application/octet-stream")
            main = _Stored(upload.sha256, upload.size)
            main_path = upload.path
        else:
            content_type = images.sniff(upload.path)
            kind = images.kind_of(content_type)
            fields.update(kind=kind, content_type=content_type)
            if purpose != Purpose.ATTACHMENT and kind != Kind.IMAGE:
                raise Invalid(errors={"file": ["Avatars, icons and banners must be images."]})
            main, main_path = _Stored(upload.sha256, upload.size), upload.path
            if kind == Kind.IMAGE:
                result = _process_image(upload.path, content_type, temp_dir, purpose)
                made += [result.cleaned.path, *(t.path for t in result.thumbnails)]
                _check_not_blocked(result.cleaned.sha256)
                main = _Stored(result.cleaned.sha256, result.cleaned.size)
                main_path = result.cleaned.path
                thumbnails = result.thumbnails
                fields.update(
                    width=result.width,
                    height=result.height,
                    animated=result.animated,
                    blurhash=result.blurhash,
                )
            elif kind == Kind.VIDEO:
                thumbnails = _video_extras(upload.path, content_type, temp_dir, fields, made)
        fields["size"] = main.size
        _store(main, main_path)
        for thumb in thumbnails:
            _store(_Stored(thumb.sha256, thumb.size), thumb.path)
        return _record(fields, main, thumbnails)
    finally:
        for path in made:
            path.unlink(missing_ok=True)


def _process_image(
    path: Path, content_type: str, temp_dir: Path, purpose: str
) -> images.ImageResult:
    try:
        return images.process_image(path, content_type, temp_dir, purpose)
    except images.RejectedImage as exc:
        raise Invalid(str(exc), errors={"file": [str(exc)]}) from None


def _video_extras(
    path: Path, content_type: str, temp_dir: Path, fields: dict[str, Any], made: list[Path]
) -> list[images.Rendition]:
    if content_type in {"video/mp4", "video/quicktime"}:
        fields["duration"] = images.mp4_duration(path)
    poster = images.video_poster(path, temp_dir)
    if poster is None:
        return []  # no decoder on this node: clients show a generic video card
    made.append(poster)
    try:
        result = images.process_image(poster, "image/png", temp_dir)
    except images.RejectedImage:
        return []
    made += [result.cleaned.path, *(t.path for t in result.thumbnails)]
    fields.update(width=result.width, height=result.height, blurhash=result.blurhash)
    poster_rendition = result.cleaned
    poster_rendition.bound = max(result.width, result.height)
    poster_rendition.content_type = "image/png"
    return [*result.thumbnails, poster_rendition]


def _claim_blob(sha256: str, size: int) -> None:
    for _ in range(100):
        now = timezone.now()
        # An existing unreferenced blob gets a fresh grace period while we take a reference.
        Blob.objects.filter(sha256=sha256, state=BlobState.LIVE, refs=0).update(
            unreferenced_since=now
        )
        if Blob.objects.filter(sha256=sha256, state=BlobState.LIVE).exists():
            return
        try:
            with transaction.atomic():
                Blob.objects.create(sha256=sha256, size=size, refs=0, unreferenced_since=now)
            return
        except IntegrityError:
            time.sleep(0.05)  # the collector is deleting this blob; wait for the row to go
    raise APIError("Storage is busy, try again", status=503)


def _store(stored: _Stored, path: Path) -> None:
    _claim_blob(stored.sha256, stored.size)
    key = Blob(sha256=stored.sha256).key
    try:
        blob_store().put_path(key, path)
    except Exception:
        # Storage refused the bytes (a full disk…): leave no row pointing at nothing, unless
        # another upload took a reference or stored the same bytes meanwhile.
        if not blob_store().exists(key):
            Blob.objects.filter(sha256=stored.sha256, state=BlobState.LIVE, refs=0).delete()
        raise


def _take_ref(sha256: str) -> None:
    taken = Blob.objects.filter(sha256=sha256, state=BlobState.LIVE).update(
        refs=F("refs") + 1, unreferenced_since=None
    )
    if not taken:
        raise APIError("Storage is busy, try again", status=503)


@transaction.atomic
def _record(fields: dict[str, Any], main: _Stored, thumbs: list[images.Rendition]) -> Attachment:
    _take_ref(main.sha256)
    attachment = Attachment.objects.create(blob_id=main.sha256, **fields)
    for thumb in thumbs:
        _take_ref(thumb.sha256)
        Thumbnail.objects.create(
            attachment=attachment,
            blob_id=thumb.sha256,
            size=thumb.bound,
            width=thumb.width,
            height=thumb.height,
            content_type=thumb.content_type,
        )
    return attachment


# --- deleting ----------------------------------------------------------------------------


def _release(sha256: str, now: datetime) -> None:
    Blob.objects.filter(sha256=sha256).update(refs=F("refs") - 1)
    Blob.objects.filter(sha256=sha256, refs=0, unreferenced_since=None).update(
        unreferenced_since=now
    )


def check_delete_attachment(user: Any, attachment: Attachment) -> None:
    if attachment.uploader_id != user.id and not user.is_staff:
        raise Forbidden()
    do_delete_attachment(attachment)


@transaction.atomic
def do_delete_attachment(attachment: Attachment) -> None:
    """Drop the attachment; its blobs are collected once nothing else refers to them."""
    now = timezone.now()
    shas = [attachment.blob_id, *attachment.thumbnails.values_list("blob_id", flat=True)]
    attachment.thumbnails.all().delete()
    attachment.delete()
    for sha in shas:
        _release(sha, now)


def do_delete_blob_everywhere(blob: Blob, *, actor: Any, reason: str) -> BlobDeletion:
    """An operator removes content: every attachment using it goes, and the hash is blocked."""
    if not reason.strip():
        raise Invalid(errors={"reason": ["Say why the blob is deleted."]})
    with transaction.atomic():
        users = Attachment.objects.filter(Q(blob=blob) | Q(thumbnails__blob=blob)).distinct()
        count = 0
        for attachment in users:
            do_delete_attachment(attachment)
            count += 1
        record = BlobDeletion.objects.create(
            sha256=blob.sha256, size=blob.size, attachments=count, deleted_by=actor, reason=reason
        )
        Blob.objects.filter(sha256=blob.sha256).update(state=BlobState.DELETING)
    blob_store().delete(blob.key)
    Blob.objects.filter(sha256=blob.sha256, state=BlobState.DELETING).delete()
    logger.warning(
        "blob %s (%s bytes, %s attachments) deleted everywhere by %s: %s",
        blob.sha256,
        blob.size,
        count,
        getattr(actor, "username", actor),
        reason,
    )
    return record


def do_collect_garbage(now: datetime | None = None, grace: timedelta = GRACE) -> int:
    """Delete blobs nobody referred to for `grace`, and stale temp files. Returns blobs gone."""
    now = now or timezone.now()
    store = blob_store()
    candidates = list(
        Blob.objects.filter(
            Q(state=BlobState.LIVE, refs=0, unreferenced_since__lt=now - grace)
            | Q(state=BlobState.DELETING)  # a collector that died half-way
        ).values_list("sha256", flat=True)[:1000]
    )
    deleted = 0
    for sha in candidates:
        claimed = Blob.objects.filter(
            Q(state=BlobState.LIVE, refs=0, unreferenced_since__lt=now - grace)
            | Q(state=BlobState.DELETING),
            sha256=sha,
        ).update(state=BlobState.DELETING)
        if not claimed:
            continue  # somebody took a reference meanwhile
        store.delete(Blob(sha256=sha).key)
        Blob.objects.filter(sha256=sha, state=BlobState.DELETING).delete()
        deleted += 1
    _sweep_temp_files(now)
    if deleted:
        logger.info("collected %s unreferenced blob(s)", deleted)
    return deleted


def _sweep_temp_files(now: datetime) -> None:
    cutoff = (now - TEMP_MAX_AGE).timestamp()
    directory = Path(settings.FILE_UPLOAD_TEMP_DIR)
    for path in directory.glob("*") if directory.exists() else []:
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
        except FileNotFoundError:
            continue


# --- operators ---------------------------------------------------------------------------


def usage_by_user(limit: int = 50) -> list[dict[str, Any]]:
    return list(
        # values() rows are dicts; the stubs type them as TypedDicts.
        Attachment.objects.values("uploader__id", "uploader__username")  # type: ignore[arg-type]
        .annotate(bytes=Sum("size"), files=Count("id"))
        .order_by("-bytes")[:limit]
    )


def usage_by_scope(limit: int = 50) -> list[dict[str, Any]]:
    return list(
        # values() rows are dicts; the stubs type them as TypedDicts.
        Attachment.objects.values("scope")  # type: ignore[arg-type]
        .annotate(bytes=Sum("size"), files=Count("id"))
        .order_by("-bytes")[:limit]
    )


def largest_blobs(limit: int = 50) -> list[Blob]:
    return list(Blob.objects.filter(state=BlobState.LIVE).order_by("-size")[:limit])
