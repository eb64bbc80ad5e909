"""Web Push: who gets a push, when, and what it carries.

What a push carries is the point of this module: a channel id, its guild id and a count,
encrypted to the browser (push/webpush.py). Never a message's text, never a sender's name;
the service worker fetches those itself with the member's session when it shows the
notification (`preview`), so the push service in the middle learns nothing but timing.

Flow, all through the job queue (jobs/), so pushes survive restarts and are retried:

1. `on_event` hears MESSAGE_CREATE (guild channels, plaintext DMs) and E2E_ENVELOPE_CREATE
   (E2E DMs) inside the change's transaction and enqueues a job: `push.message` for a guild
   message (who may be notified is decided there, off the sender's request), `push.prepare`
   per recipient for a DM.
2. `push.message` picks the members with a subscription who can see the channel and whose
   notification setting (messaging.services.notify) says this message notifies them.
3. `push.prepare` (one per member and channel, deduplicated and COALESCE later, so a burst
   becomes one push with a count) drops members with an open gateway connection (a tab is
   open: the page tells them), silenced channels and channels read meanwhile, and enqueues
   `push.send` per subscription.
4. `push.send` encrypts, signs and POSTs through the port's SSRF-guarded client; 404/410
   remove the subscription, 429/5xx/network errors retry with back-off.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.utils import timezone

from accounts.models import AuthSession, User
from accounts.useragent import describe
from guilds.models import Channel, Member
from jobs.services import enqueue, job
from messaging.models import Message, NotifyLevel, ReadState
from messaging.presence import store as presence_store
from messaging.services.access import access_text_channel, can_read_history
from messaging.services.dms import DM_TYPES
from messaging.services.notify import effective, notifiable
from push import ports, webpush
from push.models import PushSubscription
from united.errors import Invalid, NotFound
from united.events import Published

logger = logging.getLogger(__name__)

MAX_SUBSCRIPTIONS = 10  # per account: one per browser or device is the norm
MAX_ENDPOINT = 2048
COALESCE = timedelta(seconds=2)
COUNT_CAP = 99  # what a badge shows; the exact number past it tells nobody anything
PREVIEW_MAX = 200
ENCRYPTED_TEXT = "New encrypted message"


# --- subscriptions ---------------------------------------------------------------------------


def _key(raw: Any, field: str, size: int) -> str:
    if not isinstance(raw, str) or len(raw) > 100:
        raise Invalid(errors={field: ["A base64url string."]})
    try:
        decoded = webpush.b64url_decode(raw)
    except (ValueError, TypeError):
        raise Invalid(errors={field: ["A base64url string."]}) from None
    if len(decoded) != size or (size == 65 and decoded[0] != 4):
        raise Invalid(errors={field: [f"Must decode to {size} bytes."]})
    return raw.rstrip("=")


def _endpoint(raw: Any) -> str:
    if not isinstance(raw, str) or not raw or len(raw) > MAX_ENDPOINT:
        raise Invalid(errors={"endpoint": [f"A URL of at most {MAX_ENDPOINT} characters."]})
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise Invalid(errors={"endpoint": ["Not a URL."]}) from None
    # Real push services are https; plain http only where the operator opened private ranges
    # for push (tests run their push service on loopback).
    schemes = {"https", "http"} if settings.PUSH_ALLOW_PRIVATE else {"https"}
    if parts.scheme not in schemes or not parts.hostname:
        raise Invalid(errors={"endpoint": ["Must be an https URL."]})
    if parts.username or parts.password:
        raise Invalid(errors={"endpoint": ["Must not carry credentials."]})
    return raw


def check_subscribe(
    user: User, session: AuthSession | None, data: Any, *, user_agent: str = ""
) -> tuple[PushSubscription, bool]:
    """`data` is the browser's PushSubscription.toJSON(): {endpoint, keys: {p256dh, auth}}."""
    if not isinstance(data, dict):
        raise Invalid(errors={"endpoint": ["A PushSubscription object."]})
    endpoint = _endpoint(data.get("endpoint"))
    keys = data.get("keys")
    if not isinstance(keys, dict):
        raise Invalid(errors={"keys": ["An object with p256dh and auth."]})
    p256dh = _key(keys.get("p256dh"), "keys.p256dh", 65)
    auth = _key(keys.get("auth"), "keys.auth", 16)
    mine = PushSubscription.objects.filter(user=user)
    if not mine.filter(endpoint=endpoint).exists() and mine.count() >= MAX_SUBSCRIPTIONS:
        raise Invalid(
            errors={"endpoint": [f"At most {MAX_SUBSCRIPTIONS} devices; remove one first."]}
        )
    return do_subscribe(user, session, endpoint, p256dh, auth, user_agent=user_agent)


def do_subscribe(
    user: User, session: AuthSession | None, endpoint: str, p256dh: str, auth: str, **extra: Any
) -> tuple[PushSubscription, bool]:
    # One endpoint is one browser profile: whoever subscribes it last is the one it notifies
    # (another account signed in on that browser takes it over).
    return PushSubscription.objects.update_or_create(
        endpoint=endpoint,
        defaults={
            "user": user,
            "auth_session": session,
            "p256dh": p256dh,
            "auth": auth,
            # "Firefox on Linux", as sessions keep it: the raw string is a fingerprint.
            "user_agent": describe(str(extra.get("user_agent", "")))[:200],
        },
    )


def access_subscription(user: User, subscription_id: Any) -> PushSubscription:
    row = PushSubscription.objects.filter(id=subscription_id, user=user).first()
    if row is None:
        raise NotFound("Unknown push subscription")
    return row


def do_unsubscribe(subscription: PushSubscription) -> None:
    subscription.delete()


def forget_session(session: AuthSession) -> None:
    PushSubscription.objects.filter(auth_session=session).delete()


def forget_user(user: User) -> None:
    PushSubscription.objects.filter(user=user).delete()


def serialize_subscription(row: PushSubscription) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "endpoint": row.endpoint,  # the owner's own; their browser matches it to its own
        "endpoint_host": urlsplit(row.endpoint).hostname,
        "user_agent": row.user_agent,
        "created_at": row.created_at.isoformat(),
    }


# --- from events to pushes -------------------------------------------------------------------


def _user_of(group: str) -> int | None:
    return int(group[5:]) if group.startswith("user.") else None


def on_event(event: Published) -> None:
    if event.t == "MESSAGE_CREATE":
        d = event.d
        if d.get("guild_id"):
            subscribers = PushSubscription.objects.filter(
                user__memberships__guild_id=int(d["guild_id"])
            )
            if event.group.startswith("guild.") and subscribers.exists():
                enqueue("push.message", {"message_id": d["id"]})
            return
        uid = _user_of(event.group)
        author = (d.get("author") or {}).get("id")
        if uid is not None and str(uid) != str(author):
            _prepare_later(uid, int(d["channel_id"]))
    elif event.t == "E2E_ENVELOPE_CREATE":
        uid = _user_of(event.group)
        sender = (event.d.get("sender") or {}).get("user_id")
        if uid is not None and str(uid) != str(sender):
            _prepare_later(uid, int(event.d["channel_id"]))


def _prepare_later(user_id: int, channel_id: int) -> None:
    if not PushSubscription.objects.filter(user_id=user_id).exists():
        return
    enqueue(
        "push.prepare",
        {"user_id": user_id, "channel_id": channel_id},
        run_at=timezone.now() + COALESCE,
        dedupe_key=f"push:{user_id}:{channel_id}",
    )


def _role_ids(user_id: int, guild_id: int) -> list[int]:
    return list(
        Member.roles.through.objects.filter(
            member__user_id=user_id, member__guild_id=guild_id
        ).values_list("role_id", flat=True)
    )


@job("push.message", max_attempts=5)
def fan_out(message_id: int | str) -> None:
    message = Message.objects.select_related("channel").filter(id=int(message_id)).first()
    if message is None or message.deleted_at is not None or not message.channel.guild_id:
        return
    channel = message.channel
    guild_id: int = message.channel.guild_id
    candidates = (
        PushSubscription.objects.filter(user__memberships__guild_id=guild_id)
        .exclude(user_id=message.author_id or 0)
        .values_list("user_id", flat=True)
        .distinct()
    )
    for user in User.objects.filter(id__in=list(candidates)):
        try:
            access_text_channel(user, channel.id)
        except NotFound:
            continue  # cannot see the channel
        setting = effective(user.id, channel)
        if setting.silent:
            continue
        one = Message.objects.filter(id=message.id)
        if not notifiable(user.id, setting.level, one, _role_ids(user.id, guild_id)):
            continue
        _prepare_later(user.id, channel.id)


def unread_count(user: User, channel: Channel, level: str) -> int:
    """How many messages since the member's read marker notify them at `level`."""
    last_read = (
        ReadState.objects.filter(user=user, channel=channel)
        .values_list("last_message_id", flat=True)
        .first()
        or 0
    )
    if channel.type in DM_TYPES:
        from e2e.models import Envelope

        envelopes = (
            Envelope.objects.filter(channel=channel, id__gt=last_read).exclude(sender=user).count()
        )
        if envelopes:
            return envelopes
    newer = Message.objects.live().filter(channel=channel, id__gt=last_read).exclude(author=user)
    roles = _role_ids(user.id, channel.guild_id) if channel.guild_id else []
    if channel.type in DM_TYPES:
        level = NotifyLevel.ALL  # silenced DMs never get here; a DM is all or nothing
    return notifiable(user.id, level, newer, roles).count()


def has_open_tab(user_id: int) -> bool:
    return bool(presence_store().online([user_id]))


@job("push.prepare", max_attempts=5)
def prepare(user_id: int, channel_id: int) -> None:
    user = User.objects.filter(id=user_id, is_active=True).first()
    channel = Channel.objects.filter(id=channel_id).first()
    if user is None or channel is None:
        return
    if has_open_tab(user.id):
        return  # a page is open: its sidebar and badge already say it
    try:
        access_text_channel(user, channel.id)
    except NotFound:
        return
    setting = effective(user.id, channel)
    if setting.silent:
        return
    count = unread_count(user, channel, setting.level)
    if count <= 0:
        return  # read on another device meanwhile
    payload = {
        "channel_id": str(channel.id),
        "guild_id": str(channel.guild_id) if channel.guild_id else None,
        "count": min(count, COUNT_CAP),
    }
    for sub_id in PushSubscription.objects.filter(user=user).values_list("id", flat=True):
        enqueue("push.send", {"subscription_id": sub_id, "payload": payload})


class PushFailed(Exception):
    """A send worth retrying (the push service is busy or out of reach)."""


@job("push.send", max_attempts=6, backoff_base=3.0, backoff_cap=1800.0)
def send(subscription_id: int, payload: dict[str, Any]) -> None:
    row = PushSubscription.objects.filter(id=subscription_id).first()
    if row is None:
        return  # unsubscribed meanwhile
    body = webpush.encrypt(row, json.dumps(payload, separators=(",", ":")).encode())
    headers = {
        "Authorization": webpush.authorization(row.endpoint),
        "Content-Encoding": "aes128gcm",
        "Content-Type": "application/octet-stream",
        "TTL": str(webpush.TTL_SECONDS),
        "Urgency": "high",
        "Topic": webpush.topic(int(payload["channel_id"])),
    }
    try:
        answer = ports.safe_post(
            row.endpoint, headers=headers, content=body, allow_private=settings.PUSH_ALLOW_PRIVATE
        )
    except ports.TransportError as exc:
        if exc.reason in {"private_address", "bad_url"}:
            # Never reachable under the node's rules: keeping it would only retry forever.
            logger.warning("push endpoint of subscription %s refused: %s", row.id, exc)
            row.delete()
            return
        raise PushFailed(str(exc)) from None
    if answer.status in (404, 410):
        row.delete()  # RFC 8030: the subscription has expired or was unsubscribed
        return
    if answer.status == 429 or answer.status >= 500:
        raise PushFailed(f"push service answered {answer.status}")
    if answer.status >= 400:
        logger.warning("push service refused a message to %s: %s", row.id, answer.status)
        return  # a bad request is not fixed by sending it again
    PushSubscription.objects.filter(id=row.id).update(last_sent_at=timezone.now())


# --- what the service worker fetches ---------------------------------------------------------


_USER_MENTION = re.compile(r"<@!?([0-9]{1,20})>")


def _readable(message: Message) -> str:
    """The text with `<@id>` shown as `@name`, as the client draws it."""
    names = {str(u.id): u.display_name or u.username for u in message.mentions.all()}
    text = message.content.strip()
    return _USER_MENTION.sub(lambda m: "@" + names.get(m.group(1), "unknown user"), text)


def preview(user: User, channel_id: int) -> dict[str, Any]:
    """What the service worker shows for a push about `channel_id`, fetched with the member's
    session: the channel's name and, where the node can read it, the newest message. For an
    end-to-end encrypted conversation only that there is one (the node has no text)."""
    from messaging.search.indexing import is_encrypted
    from messaging.services.dms import access_dm

    channel = Channel.objects.filter(id=channel_id).first()
    if channel is None:
        raise NotFound("Unknown channel")
    if channel.type in DM_TYPES:
        access_dm(user, channel)
        others = channel.recipients.exclude(id=user.id).order_by("id")
        names = [u.display_name or u.username for u in others[:3]]
        return {
            "channel_id": str(channel.id),
            "guild_id": None,
            "title": channel.name or ", ".join(names) or "Direct message",
            "body": ENCRYPTED_TEXT,
            "encrypted": True,
            "url": f"/app/dms/{channel.id}/",
        }
    access = access_text_channel(user, channel.id)
    guild = access.channel.guild
    out: dict[str, Any] = {
        "channel_id": str(channel.id),
        "guild_id": str(channel.guild_id),
        "title": f"#{channel.name} · {guild.name}" if guild else f"#{channel.name}",
        "body": "New messages",
        "encrypted": is_encrypted(channel),
        "url": f"/app/guilds/{channel.guild_id}/channels/{channel.id}/",
    }
    if out["encrypted"]:
        out["body"] = ENCRYPTED_TEXT
    elif can_read_history(access):
        newest = (
            Message.objects.live()
            .filter(channel=channel)
            .exclude(author=user)
            .select_related("author")
            .order_by("-id")
            .first()
        )
        if newest is not None:
            author = newest.author
            name = (author.display_name or author.username) if author else "Someone"
            text = _readable(newest) or "Sent an attachment"
            if len(text) > PREVIEW_MAX:
                text = text[: PREVIEW_MAX - 1] + "…"
            out["body"] = f"{name}: {text}"
    return out
