"""HTTP doors of federated guilds, announcement channels and key bundles (HTTP only; each
view calls one module). Guild state and history go only to a signed request from a node that
has a member in the guild; a member's key bundles only to a signed request from a member of
another node (their node signs under their actor id)."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from federation import devices, guildwire, hosting, inbox, publicchannel, remote
from federation.models import ChannelFollower
from federation.views import _check_signed_get, _collection, _error, _json, inbox_view
from guilds.models import Channel
from messaging.models import Message
from united.errors import APIError


def _group(guild_id: int):
    guild = guildwire.hosted_guild(guild_id)
    if guild is None:
        raise Http404("no such guild")
    return guild


def _signer(request: HttpRequest) -> str | None:
    if "signature" not in request.headers and "signature-input" not in request.headers:
        return None
    return inbox.signer({k.lower(): v for k, v in request.headers.items()})


@require_GET
def group_actor(request: HttpRequest, guild_id: int) -> HttpResponse:
    refused = _check_signed_get(request)
    return refused or _json(guildwire.render_group(_group(guild_id)))


@require_GET
def group_collection(request: HttpRequest, guild_id: int, which: str) -> HttpResponse:
    refused = _check_signed_get(request)
    if refused:
        return refused
    guild = _group(guild_id)
    total = guild.members.count() if which == "followers" else 0
    return _json(_collection(f"{guildwire.group_uri(guild.id)}/{which}", total))


def _member_node(request: HttpRequest, guild_id: int):
    guild = _group(guild_id)
    key_id = _signer(request)
    if key_id is None:
        return guild, _error(401, "unsigned", "guild state is served to member nodes only")
    refused = _check_signed_get(request)
    if refused:
        return guild, refused
    if not hosting.member_node_of(guild, remote.domain_of(key_id)):
        return guild, _error(403, "not_a_member", "your node has no member in this guild")
    return guild, None


@require_GET
def group_state(request: HttpRequest, guild_id: int) -> HttpResponse:
    guild, refused = _member_node(request, guild_id)
    return refused or _json(guildwire.state(guild))


@require_GET
def group_history(request: HttpRequest, guild_id: int, channel_id: int) -> HttpResponse:
    guild, refused = _member_node(request, guild_id)
    if refused:
        return refused
    if not Channel.objects.filter(id=channel_id, guild=guild).exists():
        raise Http404("no such channel")
    before = request.GET.get("before")
    page = hosting.history_page(
        guild, channel_id, int(before) if before and before.isdigit() else None
    )
    page["id"] = request.build_absolute_uri().replace(
        request.build_absolute_uri("/"), guildwire.group_uri(0).rsplit("/groups/", 1)[0] + "/"
    )
    return _json(page)


def _announcements(channel_id: int) -> Channel:
    channel = Channel.objects.select_related("guild").filter(id=channel_id).first()
    if not publicchannel.followable(channel):
        raise Http404("no such channel")
    return channel


@require_GET
def announcement_actor(request: HttpRequest, channel_id: int) -> HttpResponse:
    refused = _check_signed_get(request)
    return refused or _json(publicchannel.render(_announcements(channel_id)))


@require_GET
def announcement_collection(request: HttpRequest, channel_id: int, which: str) -> HttpResponse:
    refused = _check_signed_get(request)
    if refused:
        return refused
    channel = _announcements(channel_id)
    total = ChannelFollower.objects.filter(channel=channel).count() if which == "followers" else 0
    uri = f"{publicchannel.channel_actor_uri(channel.id)}/{which}"
    return _json(_collection(uri, total))


@require_GET
def announcement_note(request: HttpRequest, message_id: int) -> HttpResponse:
    refused = _check_signed_get(request)
    if refused:
        return refused
    message = Message.objects.select_related("channel__guild").filter(id=message_id).first()
    if message is None or message.deleted or not publicchannel.followable(message.channel):
        raise Http404("no such note")
    doc = publicchannel.public_note(message)
    return _json({"@context": "https://www.w3.org/ns/activitystreams", **doc})


@require_GET
def announcement_media(request: HttpRequest, attachment_id: int) -> HttpResponseBase:
    from media.models import Attachment
    from media.responses import serve_blob

    attachment = Attachment.objects.select_related("blob").filter(id=attachment_id).first()
    message = attachment.messages.select_related("channel__guild").first() if attachment else None
    if (
        attachment is None
        or message is None
        or message.deleted
        or not publicchannel.followable(message.channel)
    ):
        raise Http404("no such file")
    return serve_blob(
        request,
        key=attachment.blob.key,
        sha256=attachment.blob_id,
        size=attachment.size,
        content_type=attachment.content_type,
        filename=attachment.filename,
        public=True,
    )


@require_GET
def user_keys(request: HttpRequest, name: str) -> HttpResponse:
    key_id = _signer(request)
    if key_id is None:
        return _error(401, "unsigned", "key bundles are served to signed requests only")
    refused = _check_signed_get(request)
    if refused:
        return refused
    requester = key_id.split("#", 1)[0]
    if "/users/" not in requester:
        return _error(403, "not_a_person", "ask with the requesting member's actor key")
    try:
        bundle = devices.serve_keys(requester, name)
    except APIError as exc:
        return _error(exc.status, "not_found", exc.message)
    return _json(bundle, content_type="application/json")


@require_GET
def user_device_list(request: HttpRequest, name: str) -> HttpResponse:
    """A member's signed device list, for a signed request from another node (e2e_relay)."""
    if _signer(request) is None:
        return _error(401, "unsigned", "device lists are served to signed requests only")
    refused = _check_signed_get(request)
    if refused:
        return refused
    from federation import e2e_relay

    try:
        wire = e2e_relay.serve_device_list(name)
    except APIError as exc:
        return _error(exc.status, "not_found", exc.message)
    return _json(wire, content_type="application/json")


@csrf_exempt
@require_POST
def group_inbox(request: HttpRequest, guild_id: int) -> HttpResponse:
    return inbox_view(request)


@csrf_exempt
@require_POST
def announcement_inbox(request: HttpRequest, channel_id: int) -> HttpResponse:
    return inbox_view(request)
