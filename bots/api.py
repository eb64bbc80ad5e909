"""The Discord-compatible HTTP API for bots: /api/v10 and /api/v9 (docs/bots.md).

Thin doors over the same services as /api/v1, authenticated with `Authorization: Bot
<token>`, answering with Discord's shapes (bots/shapes.py). Errors keep the node's error body,
which is Discord's (`code`, `message`, plus `errors`); a 429 carries `retry_after` and `global`
and, like Discord's behind its proxy, a `Via` header (discord.py treats a 429 without one as a
block by a proxy and gives up). Rate-limited routes send Discord's X-RateLimit-* headers.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from accounts.requests import AuthedRequest
from accounts.services import serialize_user
from bots import embeds as embed_rules
from bots import interactions, services, shapes, uploads
from bots.components import clean_components
from bots.models import Application
from guilds.models import Member
from guilds.permissions import Permissions as P
from guilds.serialize import serialize_member
from guilds.services import channels as channel_services
from guilds.services import guilds as guild_services
from guilds.services import members as member_services
from guilds.services import roles as role_services
from guilds.services.access import guild_context
from guilds.services.guilds import guild_payload
from media import services as media_services
from messaging.services import messages, reactions
from messaging.services.access import access_text_channel
from messaging.services.serialize import serialize_message
from united import ratelimit
from united.errors import APIError, Invalid, NotFound
from united.parsers import JSONParser

GATEWAY_PATH = "/bot-gateway"
# What GET /gateway/bot promises: one shard, and Discord's default daily IDENTIFY budget (the
# gateway's own limits, docs/gateway.md, are what is enforced).
SESSION_START_LIMIT = {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}


class Unauthorized(APIError):
    status = 401
    code = 0
    message = "401: Unauthorized"


class BotTokenAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        parts = get_authorization_header(request).split()
        if len(parts) != 2 or parts[0].lower() != b"bot":
            raise Unauthorized()
        try:
            raw = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise Unauthorized() from None
        app = services.authenticate_token(raw)
        if app is None:
            raise Unauthorized()
        return app.bot, app

    def authenticate_header(self, request: Request) -> str:
        return 'Bot realm="api"'


class BotView(APIView):
    authentication_classes = [BotTokenAuthentication]
    # (action, path keyword naming the channel) whose bucket the response reports
    rate_action: dict[str, str] = {}

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        if response.status_code == 429:
            response["Via"] = "1.1 united"
        action = self.rate_action.get(request.method or "")
        # `_user` is set only once authentication succeeded; `.user` would authenticate again.
        user = getattr(request, "_user", None)
        if action and user is not None and user.is_authenticated:
            try:
                standing = ratelimit.standing(
                    action, user.id, channel_id=int(kwargs.get("channel_id") or 0) or None
                )
            except Exception:  # the cache is out of reach: the answer stands without headers
                standing = None
            if standing is not None and response.status_code != 429:
                for name, value in standing.headers().items():
                    response[name] = value
        return response


def _body(request: Request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise Invalid(errors={"_errors": ["Expected a JSON object."]})
    return request.data


def _members_of(guild_id: int | None, user_ids: set[int]) -> dict[int, dict[str, Any]]:
    if guild_id is None or not user_ids:
        return {}
    rows = (
        Member.objects.filter(guild_id=guild_id, user_id__in=user_ids)
        .select_related("user")
        .prefetch_related("roles")
    )
    return {m.user_id: serialize_member(m) for m in rows}


def _message(data: dict[str, Any], request: Request | None = None) -> dict[str, Any]:
    author = data.get("author") or {}
    guild_id = int(data["guild_id"]) if data.get("guild_id") else None
    ids = {int(author["id"])} if author.get("id") and not data.get("webhook_id") else set()
    base = request.build_absolute_uri("/") if request is not None else None
    out = shapes.message(data, _members_of(guild_id, ids), base)
    app = getattr(request, "auth", None) if request is not None else None
    if isinstance(app, Application) and not app.message_content:
        # Discord applies the MESSAGE_CONTENT rule to what the HTTP API answers too.
        out = shapes.blank_content(out, app.bot_id)
    return out


def _embeds(data: dict[str, Any]) -> list[dict[str, Any]] | None:
    if data.get("sticker_ids"):
        raise Invalid(errors={"sticker_ids": ["Stickers are not supported yet."]})
    if "embeds" in data:
        return embed_rules.clean_embeds(data["embeds"])
    if "embed" in data:
        return embed_rules.clean_embeds([data["embed"]] if data["embed"] is not None else [])
    return None


def _components(data: dict[str, Any], request: Any) -> dict[str, Any] | None:
    """A bot's buttons and selects (discord.py's `view=`, discord.js's `components`), in
    Discord's shapes (bots/components.py). The message carries the application's id, so a
    member's click reaches this application as a MESSAGE_COMPONENT interaction."""
    if "components" not in data:
        return None
    app = getattr(request, "auth", None)
    cleaned = clean_components(data["components"])
    if not isinstance(app, Application):
        if cleaned:
            raise Invalid(errors={"components": ["Only an application's bot sends components."]})
        return None
    return {"components": cleaned, "application_id": app.id}


def _me(bot: User) -> dict[str, Any]:
    return {
        **shapes.user(serialize_user(bot)),
        "verified": True,
        "mfa_enabled": False,
        "locale": "en-US",
        "email": None,
    }


def _gateway_url(request: Request) -> str:
    scheme = "wss" if request.is_secure() else "ws"
    return f"{scheme}://{request.get_host()}{GATEWAY_PATH}"


class Me(BotView):
    @extend_schema(summary="The bot's own user", responses={200: dict})
    def get(self, request: AuthedRequest) -> Response:
        return Response(_me(request.user))


class UserView(BotView):
    @extend_schema(summary="A user", responses={200: dict})
    def get(self, request: AuthedRequest, user_id: int) -> Response:
        found = User.objects.filter(id=user_id, is_active=True).first()
        if found is None:
            raise NotFound("Unknown User", code=10013)
        return Response(shapes.user(serialize_user(found)))


class ApplicationMe(BotView):
    @extend_schema(summary="The bot's application", responses={200: dict})
    def get(self, request: AuthedRequest) -> Response:
        app: Application = request.auth  # type: ignore[assignment]  # BotTokenAuthentication
        return Response(
            {
                "id": str(app.id),
                "name": app.name,
                "description": app.description,
                "icon": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": shapes.user(serialize_user(app.owner)),
                "verify_key": interactions.ensure_keys(app).public_key,
                "flags": shapes.APPLICATION_FLAGS,
                "bot": shapes.user(serialize_user(app.bot)),
                "team": None,
            }
        )


class MyGuilds(BotView):
    @extend_schema(summary="The guilds the bot is in", responses={200: dict})
    def get(self, request: AuthedRequest) -> Response:
        # Discord pages these by id (`before`, `after`, `limit` up to 200); discord.js's
        # `client.guilds.fetch()` asks for the first 200.
        q = request.query_params
        try:
            limit = min(max(int(q.get("limit", 200)), 1), 200)
            after, before = int(q.get("after", 0)), int(q.get("before", 0))
        except ValueError:
            raise Invalid(errors={"limit": ["Must be a number."]}) from None
        rows = [
            g
            for g in guild_services.list_user_guilds(request.user)
            if int(g["id"]) > after and (not before or int(g["id"]) < before)
        ]
        return Response(rows[-limit:] if before else rows[:limit])


class Typing(BotView):
    @extend_schema(summary="Show the bot typing", request=None, responses={204: None})
    def post(self, request: AuthedRequest, channel_id: int) -> Response:
        messages.check_typing(request.user, channel_id)
        return Response(status=204)


class Gateway(APIView):
    authentication_classes: list[Any] = []
    permission_classes: list[Any] = []

    # Left out of the schema: with no parameter and no credentials there is no invalid request
    # to make of it, and the schema fuzz (tests/united/test_fuzz.py) needs one per operation.
    @extend_schema(exclude=True)
    def get(self, request: Request) -> Response:
        return Response({"url": _gateway_url(request)})


class GatewayBot(BotView):
    @extend_schema(
        summary="Where the bot gateway is, with shards and limits", responses={200: dict}
    )
    def get(self, request: AuthedRequest) -> Response:
        return Response(
            {"url": _gateway_url(request), "shards": 1, "session_start_limit": SESSION_START_LIMIT}
        )


class ChannelView(BotView):
    @extend_schema(summary="A channel", responses={200: dict})
    def get(self, request: AuthedRequest, channel_id: int) -> Response:
        return Response(shapes.channel(channel_services.get_channel(request.user, channel_id)))


class ChannelMessages(BotView):
    rate_action = {"POST": "message"}

    @extend_schema(summary="Channel history, newest first", responses={200: dict})
    def get(self, request: AuthedRequest, channel_id: int) -> Response:
        q = request.query_params
        rows = messages.history(
            request.user,
            channel_id,
            before=q.get("before"),
            after=q.get("after"),
            around=q.get("around"),
            limit=q.get("limit", 50),
        )
        # The node keeps tombstones in history; to Discord a deleted message is gone.
        return Response([_message(m, request) for m in rows if not m.get("deleted")])

    # Discord's multipart form too: `payload_json` beside `files[n]` (discord.py's
    # `send(file=...)`, discord.js's `files: [...]`).
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    @extend_schema(summary="Send a message", request=dict, responses={200: dict})
    def post(self, request: AuthedRequest, channel_id: int) -> Response:
        data = uploads.payload(request)
        embeds = _embeds(data)
        reference = data.get("message_reference") or {}
        nonce = data.get("nonce")
        files = uploads.posted_files(request)
        attachments = None
        if files:
            uploads.check_files(files)
            # Refused before anything is stored: a bot that may not post files here.
            access = access_text_channel(request.user, channel_id)
            access.require(P.SEND_MESSAGES)
            access.require(P.ATTACH_FILES)
            attachments = uploads.store_files(request.user, channel_id, files)
        try:
            message, _ = messages.check_send_message(
                request.user,
                channel_id,
                content=data.get("content", ""),
                nonce=str(nonce) if isinstance(nonce, int | str) and nonce != "" else None,
                reply_to=reference.get("message_id") if isinstance(reference, dict) else None,
                embeds=embeds,
                rich=_components(data, request),
                attachments=[a.id for a in attachments] if attachments else None,
            )
        except APIError:
            # Refused after all (rate limit, automod, a bad reference): the files go too.
            for attachment in attachments or ():
                media_services.do_delete_attachment(attachment)
            raise
        return Response(_message(serialize_message(message, viewer_id=request.user.id), request))


class ChannelMessage(BotView):
    rate_action = {"PATCH": "edit"}

    @extend_schema(summary="One message", responses={200: dict})
    def get(self, request: AuthedRequest, channel_id: int, message_id: int) -> Response:
        data = messages.get_message(request.user, channel_id, message_id)
        if data.get("deleted"):
            raise NotFound("Unknown Message", code=10008)
        return Response(_message(data, request))

    @extend_schema(summary="Edit the bot's message", request=dict, responses={200: dict})
    def patch(self, request: AuthedRequest, channel_id: int, message_id: int) -> Response:
        data = _body(request)
        message = messages.check_edit_message(
            request.user,
            channel_id,
            message_id,
            content=data.get("content"),
            embeds=_embeds(data),
            rich=_components(data, request),
        )
        return Response(_message(serialize_message(message, viewer_id=request.user.id), request))

    @extend_schema(summary="Delete a message", responses={204: None})
    def delete(self, request: AuthedRequest, channel_id: int, message_id: int) -> Response:
        messages.check_delete_message(request.user, channel_id, message_id)
        return Response(status=204)


class OwnReaction(BotView):
    rate_action = {"PUT": "reaction"}

    @extend_schema(summary="React", request=None, responses={204: None})
    def put(self, request: AuthedRequest, channel_id: int, message_id: int, emoji: str) -> Response:
        reactions.check_add_reaction(request.user, channel_id, message_id, emoji)
        return Response(status=204)

    @extend_schema(summary="Remove the bot's reaction", responses={204: None})
    def delete(
        self, request: AuthedRequest, channel_id: int, message_id: int, emoji: str
    ) -> Response:
        reactions.check_remove_reaction(request.user, channel_id, message_id, emoji)
        return Response(status=204)


class GuildView(BotView):
    @extend_schema(summary="A guild", responses={200: dict})
    def get(self, request: AuthedRequest, guild_id: int) -> Response:
        ctx = guild_context(request.user, guild_id)
        managed = services.managed_roles(guild_id)
        data = shapes.guild(guild_payload(ctx), [], managed_roles=managed)
        del data["members"], data["channels"]
        return Response(data)


class GuildChannels(BotView):
    @extend_schema(summary="The guild's channels the bot can see", responses={200: dict})
    def get(self, request: AuthedRequest, guild_id: int) -> Response:
        rows = channel_services.list_channels(request.user, guild_id)
        return Response([shapes.channel(c) for c in rows])


class GuildRoles(BotView):
    @extend_schema(summary="The guild's roles", responses={200: dict})
    def get(self, request: AuthedRequest, guild_id: int) -> Response:
        managed = services.managed_roles(guild_id)
        rows = role_services.list_roles(request.user, guild_id)
        return Response([shapes.role(r, managed.get(r["id"])) for r in rows])


class GuildMembers(BotView):
    @extend_schema(summary="The guild's members, by user id", responses={200: dict})
    def get(self, request: AuthedRequest, guild_id: int) -> Response:
        q = request.query_params
        try:
            limit, after = int(q.get("limit", 1)), int(q.get("after", 0))
        except ValueError:
            raise Invalid(errors={"limit": ["Must be a number."]}) from None
        rows = member_services.list_members(request.user, guild_id, limit=limit, after=after)
        return Response([shapes.member(m) for m in rows])


class GuildMember(BotView):
    @extend_schema(summary="One member", responses={200: dict})
    def get(self, request: AuthedRequest, guild_id: int, user_id: int) -> Response:
        return Response(shapes.member(member_services.get_member(request.user, guild_id, user_id)))
