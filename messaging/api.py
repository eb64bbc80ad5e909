"""REST doors to the messaging services (Discord's HTTP API paths and shapes)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.requests import AuthedRequest
from accounts.services import ratelimit
from messaging.search import service as search_service
from messaging.services import dms, messages, reactions, readstates, threads
from messaging.services.serialize import serialize_message


class MessageCreate(serializers.Serializer):
    content = serializers.CharField(allow_blank=True, trim_whitespace=False)
    nonce = serializers.CharField(required=False, max_length=64)
    message_reference = serializers.DictField(required=False)
    ttl = serializers.IntegerField(required=False, help_text="Seconds until hard deletion")
    attachments = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="Ids of your uploads (POST /upload) to attach; content may then be empty",
    )


class MessageEdit(serializers.Serializer):
    content = serializers.CharField(allow_blank=True, trim_whitespace=False)


class ThreadCreate(serializers.Serializer):
    name = serializers.CharField(max_length=100)


def _body(request: Request) -> dict[str, Any]:
    data = request.data
    if not isinstance(data, dict):
        from united.errors import Invalid

        raise Invalid(errors={"_errors": ["Expected a JSON object."]})
    return data


class ChannelMessages(APIView):
    @extend_schema(
        summary="Channel history, newest first (ordered by HLC)",
        parameters=[
            OpenApiParameter(n, str, required=False) for n in ("before", "after", "around", "limit")
        ],
        responses={200: dict},
    )
    def get(self, request: Request, channel_id: int) -> Response:
        q = request.query_params
        return Response(
            messages.history(
                request.user,
                channel_id,
                before=q.get("before"),
                after=q.get("after"),
                around=q.get("around"),
                limit=q.get("limit", 50),
            )
        )

    @extend_schema(
        summary="Send a message (idempotent by nonce)", request=MessageCreate, responses={200: dict}
    )
    def post(self, request: Request, channel_id: int) -> Response:
        data = _body(request)
        reference = data.get("message_reference") or {}
        message, created = messages.check_send_message(
            request.user,
            channel_id,
            content=data.get("content"),
            nonce=data.get("nonce"),
            reply_to=reference.get("message_id") if isinstance(reference, dict) else None,
            ttl_seconds=data.get("ttl"),
            attachments=data.get("attachments"),
        )
        return Response(
            serialize_message(message, viewer_id=request.user.id),
            status=200 if not created else 200,
        )


class ChannelMessage(APIView):
    @extend_schema(summary="One message", responses={200: dict})
    def get(self, request: Request, channel_id: int, message_id: int) -> Response:
        return Response(messages.get_message(request.user, channel_id, message_id))

    @extend_schema(
        summary="Edit your message (history kept)", request=MessageEdit, responses={200: dict}
    )
    def patch(self, request: Request, channel_id: int, message_id: int) -> Response:
        message = messages.check_edit_message(
            request.user, channel_id, message_id, content=_body(request).get("content")
        )
        return Response(serialize_message(message, viewer_id=request.user.id))

    @extend_schema(summary="Delete a message (leaves a tombstone)", responses={204: None})
    def delete(self, request: Request, channel_id: int, message_id: int) -> Response:
        messages.check_delete_message(request.user, channel_id, message_id)
        return Response(status=204)


class OwnReaction(APIView):
    @extend_schema(summary="React with a Unicode emoji", request=None, responses={204: None})
    def put(self, request: Request, channel_id: int, message_id: int, emoji: str) -> Response:
        reactions.check_add_reaction(request.user, channel_id, message_id, emoji)
        return Response(status=204)

    @extend_schema(summary="Remove your reaction", responses={204: None})
    def delete(self, request: Request, channel_id: int, message_id: int, emoji: str) -> Response:
        reactions.check_remove_reaction(request.user, channel_id, message_id, emoji)
        return Response(status=204)


class UserReaction(APIView):
    @extend_schema(summary="Remove someone's reaction (MANAGE_MESSAGES)", responses={204: None})
    def delete(
        self, request: Request, channel_id: int, message_id: int, emoji: str, user_id: int
    ) -> Response:
        reactions.check_remove_reaction(request.user, channel_id, message_id, emoji, user_id)
        return Response(status=204)


class Reactors(APIView):
    @extend_schema(summary="Who reacted with this emoji", responses={200: dict})
    def get(self, request: Request, channel_id: int, message_id: int, emoji: str) -> Response:
        return Response(
            reactions.reactors(
                request.user, channel_id, message_id, emoji, request.query_params.get("limit", 25)
            )
        )


class Pins(APIView):
    @extend_schema(summary="Pinned messages", responses={200: dict})
    def get(self, request: Request, channel_id: int) -> Response:
        return Response(messages.pins(request.user, channel_id))


class Pin(APIView):
    @extend_schema(summary="Pin a message (MANAGE_MESSAGES)", request=None, responses={204: None})
    def put(self, request: Request, channel_id: int, message_id: int) -> Response:
        messages.check_pin(request.user, channel_id, message_id, pinned=True)
        return Response(status=204)

    @extend_schema(summary="Unpin a message (MANAGE_MESSAGES)", responses={204: None})
    def delete(self, request: Request, channel_id: int, message_id: int) -> Response:
        messages.check_pin(request.user, channel_id, message_id, pinned=False)
        return Response(status=204)


class Typing(APIView):
    @extend_schema(
        summary="Show that you are typing (ephemeral)", request=None, responses={204: None}
    )
    def post(self, request: Request, channel_id: int) -> Response:
        messages.check_typing(request.user, channel_id)
        return Response(status=204)


class Ack(APIView):
    @extend_schema(
        summary="Mark the channel read up to this message", request=None, responses={204: None}
    )
    def post(self, request: Request, channel_id: int, message_id: int) -> Response:
        readstates.check_mark_read(request.user, channel_id, message_id)
        return Response(status=204)


class StartThread(APIView):
    @extend_schema(
        summary="Start a thread from a message", request=ThreadCreate, responses={201: dict}
    )
    def post(self, request: Request, channel_id: int, message_id: int) -> Response:
        from guilds.serialize import serialize_channel

        thread = messages.check_start_thread(
            request.user, channel_id, message_id, name=_body(request).get("name")
        )
        return Response(serialize_channel(thread), status=201)


class ChannelThreads(APIView):
    @extend_schema(
        summary="The threads started in a channel, active first, with your follow and unread state",
        responses={200: dict},
    )
    def get(self, request: Request, channel_id: int) -> Response:
        rows = threads.channel_threads(request.user, channel_id)
        return Response({"threads": [row.serialize() for row in rows]})


class OwnThreadMember(APIView):
    @extend_schema(summary="Follow a thread", request=None, responses={204: None})
    def put(self, request: Request, channel_id: int) -> Response:
        threads.check_follow_thread(request.user, channel_id, following=True)
        return Response(status=204)

    @extend_schema(summary="Stop following a thread", responses={204: None})
    def delete(self, request: Request, channel_id: int) -> Response:
        threads.check_follow_thread(request.user, channel_id, following=False)
        return Response(status=204)


class DMCreate(serializers.Serializer):
    recipient_id = serializers.CharField(required=False)
    recipients = serializers.ListField(child=serializers.CharField(), required=False)
    name = serializers.CharField(required=False, max_length=100)


class PrivateChannels(APIView):
    @extend_schema(summary="Your DM and group DM channels", responses={200: dict})
    def get(self, request: Request) -> Response:
        return Response(dms.list_dms(request.user))

    @extend_schema(
        summary="Open a DM ({recipient_id}) or create a group DM ({recipients, name})",
        request=DMCreate,
        responses={200: dict},
    )
    def post(self, request: Request) -> Response:
        data = _body(request)
        ratelimit.limit("dm_request", request, request.user.id)
        if "recipients" in data:
            channel = dms.check_create_group_dm(request.user, data["recipients"], data.get("name"))
        else:
            channel, _ = dms.check_open_dm(request.user, data.get("recipient_id"))
        return Response(dms.serialize_dm(channel))


class LeaveGroupDM(APIView):
    @extend_schema(summary="Leave a group DM", responses={204: None})
    def delete(self, request: Request, channel_id: int) -> Response:
        dms.check_leave_group_dm(request.user, channel_id)
        return Response(status=204)


class GroupDMRecipient(APIView):
    @extend_schema(summary="Remove someone from a group DM (its owner)", responses={204: None})
    def delete(self, request: Request, channel_id: int, user_id: int) -> Response:
        dms.check_remove_group_member(request.user, channel_id, user_id)
        return Response(status=204)


class GuildMessageSearch(APIView):
    @extend_schema(
        summary="Search a guild's messages (Discord's shape, plus `q` syntax and highlights)",
        description="`q` takes free text and from:, in:, has:, mentions:, before:, after:, "
        "during:, pinned: (docs/search.md). Only channels the caller can read are searched.",
        parameters=[
            OpenApiParameter(n, str, required=False)
            for n in ("q", "content", "pinned", "sort_by", "sort_order", "offset", "limit")
        ]
        + [
            OpenApiParameter(n, str, required=False, many=True)
            for n in ("author_id", "channel_id", "mentions", "has")
        ],
        responses={200: dict},
    )
    def get(self, request: AuthedRequest, guild_id: int) -> Response:
        q = request.query_params
        return Response(
            search_service.search_guild(
                request.user,
                guild_id,
                q=q.get("q", ""),
                content=q.get("content", ""),
                author_ids=q.getlist("author_id"),
                channel_ids=q.getlist("channel_id"),
                mentions=q.getlist("mentions"),
                has=q.getlist("has"),
                pinned=q.get("pinned"),
                sort_by=q.get("sort_by", "timestamp"),
                sort_order=q.get("sort_order", "desc"),
                offset=q.get("offset", 0),
                limit=q.get("limit", search_service.MAX_LIMIT),
            )
        )
