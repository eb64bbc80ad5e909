"""Shared bits of the guild API views: body parsing, the audit reason header, schemas."""

from __future__ import annotations

from typing import Any, overload
from urllib.parse import unquote

from drf_spectacular.utils import OpenApiParameter, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request

from united.errors import Invalid
from united.ids import MAX_SNOWFLAKE

REASON_HEADER = OpenApiParameter(
    "X-Audit-Log-Reason",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="Reason recorded in the guild audit log (URL-encoded).",
)


def body(request: Request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise Invalid("The request body must be a JSON object")
    return request.data


def body_list(request: Request) -> list[Any]:
    if not isinstance(request.data, list):
        raise Invalid("The request body must be a JSON array")
    return request.data


def reason(request: Request) -> str:
    return unquote(request.headers.get("X-Audit-Log-Reason", ""))[:512]


@overload
def query_int(request: Request, name: str, default: int) -> int: ...
@overload
def query_int(request: Request, name: str, default: None = None) -> int | None: ...
def query_int(request: Request, name: str, default: int | None = None) -> int | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    # Past 2**63-1 the database cannot compare the number (OverflowError).
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19 or int(raw) > MAX_SNOWFLAKE:
        raise Invalid(errors={name: ["Must be a non-negative integer below 2**63."]})
    return int(raw)


def many(schema: serializers.Serializer, **kwargs: Any) -> serializers.ListSerializer:
    # Serializer.__new__ hands back a ListSerializer when many=True; the stubs don't say so.
    return schema.__class__(many=True, **kwargs)  # type: ignore[return-value]


Snowflake = serializers.CharField
Bitfield = serializers.CharField

OverwriteSchema = inline_serializer(
    "Overwrite",
    {
        "id": Snowflake(),
        "type": serializers.IntegerField(help_text="0 role, 1 member"),
        "allow": Bitfield(),
        "deny": Bitfield(),
    },
)

RoleSchema = inline_serializer(
    "Role",
    {
        "id": Snowflake(),
        "name": serializers.CharField(),
        "color": serializers.IntegerField(),
        "hoist": serializers.BooleanField(),
        "position": serializers.IntegerField(),
        "permissions": Bitfield(help_text="Discord permission bits, decimal string"),
        "managed": serializers.BooleanField(),
        "mentionable": serializers.BooleanField(),
    },
)

ChannelSchema = inline_serializer(
    "Channel",
    {
        "id": Snowflake(),
        "type": serializers.IntegerField(help_text="0 text, 2 voice, 4 category, 5 announcement"),
        "guild_id": Snowflake(),
        "name": serializers.CharField(),
        "topic": serializers.CharField(allow_null=True),
        "position": serializers.IntegerField(),
        "parent_id": Snowflake(allow_null=True),
        "nsfw": serializers.BooleanField(),
        "rate_limit_per_user": serializers.IntegerField(),
        "user_limit": serializers.IntegerField(),
        "bitrate": serializers.IntegerField(),
        "permission_synced": serializers.BooleanField(),
        "permission_overwrites": many(OverwriteSchema),
    },
)

GuildSchema = inline_serializer(
    "Guild",
    {
        "id": Snowflake(),
        "name": serializers.CharField(),
        "icon": serializers.CharField(allow_null=True),
        "description": serializers.CharField(allow_null=True),
        "owner_id": Snowflake(),
        "default_channel_id": Snowflake(allow_null=True),
        "system_channel_id": Snowflake(allow_null=True),
        "verification_level": serializers.IntegerField(),
        "settings": serializers.DictField(),
        "features": serializers.ListField(child=serializers.CharField()),
        "search_hides_banned": serializers.BooleanField(),
        "show_ban_reasons": serializers.BooleanField(),
        "tags": serializers.ListField(child=serializers.CharField()),
        "roles": many(RoleSchema),
    },
)

PartialGuildSchema = inline_serializer(
    "PartialGuild",
    {
        "id": Snowflake(),
        "name": serializers.CharField(),
        "icon": serializers.CharField(allow_null=True),
        "owner": serializers.BooleanField(),
        "permissions": Bitfield(),
        "features": serializers.ListField(child=serializers.CharField()),
        "approximate_member_count": serializers.IntegerField(),
    },
)

MemberSchema = inline_serializer(
    "GuildMember",
    {
        "user": serializers.DictField(),
        "nick": serializers.CharField(allow_null=True),
        "roles": serializers.ListField(child=Snowflake()),
        "joined_at": serializers.DateTimeField(),
        "temporary": serializers.BooleanField(),
    },
)

InviteSchema = inline_serializer(
    "Invite",
    {
        "type": serializers.IntegerField(),
        "code": serializers.CharField(),
        "guild": serializers.DictField(),
        "channel": serializers.DictField(),
        "inviter": serializers.DictField(allow_null=True),
        "expires_at": serializers.DateTimeField(allow_null=True),
        "url": serializers.CharField(),
        "uri": serializers.CharField(),
        "approximate_member_count": serializers.IntegerField(required=False),
        "uses": serializers.IntegerField(required=False),
        "max_uses": serializers.IntegerField(required=False),
        "max_age": serializers.IntegerField(required=False),
        "temporary": serializers.BooleanField(required=False),
    },
)


class GuildCreate(serializers.Serializer):
    name = serializers.CharField(min_length=2, max_length=100)
    icon = serializers.CharField(required=False, allow_null=True)
    description = serializers.CharField(required=False, allow_blank=True)


class GuildPatch(serializers.Serializer):
    name = serializers.CharField(required=False)
    icon = serializers.CharField(required=False, allow_null=True)
    description = serializers.CharField(required=False, allow_blank=True)
    verification_level = serializers.IntegerField(required=False, min_value=0, max_value=4)
    system_channel_id = Snowflake(required=False, allow_null=True)
    default_channel_id = Snowflake(required=False, allow_null=True)
    owner_id = Snowflake(required=False, help_text="Transfer ownership (owner only)")
    settings = serializers.DictField(required=False)
    discoverable = serializers.BooleanField(required=False, help_text="List in the directory")
    tags = serializers.ListField(child=serializers.CharField(), required=False, max_length=5)
    search_hides_banned = serializers.BooleanField(
        required=False, help_text="Leave messages of banned members out of message search"
    )
    show_ban_reasons = serializers.BooleanField(
        required=False, help_text="Tell a banned member the reason the moderator gave"
    )


class GuildDelete(serializers.Serializer):
    confirm_name = serializers.CharField(help_text="The guild's name, as confirmation")


class ChannelWrite(serializers.Serializer):
    name = serializers.CharField(required=False)
    type = serializers.IntegerField(required=False)
    topic = serializers.CharField(required=False, allow_blank=True)
    position = serializers.IntegerField(required=False)
    parent_id = Snowflake(required=False, allow_null=True)
    nsfw = serializers.BooleanField(required=False)
    rate_limit_per_user = serializers.IntegerField(required=False, min_value=0, max_value=21600)
    user_limit = serializers.IntegerField(required=False, min_value=0, max_value=99)
    bitrate = serializers.IntegerField(required=False)
    lock_permissions = serializers.BooleanField(required=False)
    permission_overwrites = many(OverwriteSchema, required=False)


class PositionItem(serializers.Serializer):
    id = Snowflake()
    position = serializers.IntegerField(required=False, allow_null=True)
    parent_id = Snowflake(required=False, allow_null=True)
    lock_permissions = serializers.BooleanField(required=False)


class OverwritePut(serializers.Serializer):
    type = serializers.IntegerField(help_text="0 role, 1 member")
    allow = Bitfield(required=False)
    deny = Bitfield(required=False)


class RoleWrite(serializers.Serializer):
    name = serializers.CharField(required=False)
    permissions = Bitfield(required=False)
    color = serializers.IntegerField(required=False)
    hoist = serializers.BooleanField(required=False)
    mentionable = serializers.BooleanField(required=False)


class MemberPatch(serializers.Serializer):
    nick = serializers.CharField(required=False, allow_null=True)
    roles = serializers.ListField(child=Snowflake(), required=False)
    communication_disabled_until = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Timeout until (MODERATE_MEMBERS); null lifts"
    )


class InviteCreate(serializers.Serializer):
    max_age = serializers.IntegerField(required=False, min_value=0, max_value=604800)
    max_uses = serializers.IntegerField(required=False, min_value=0, max_value=100)
    temporary = serializers.BooleanField(required=False)
