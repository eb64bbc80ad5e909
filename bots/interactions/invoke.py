"""A member invokes: a command (slash or context menu), an autocomplete request, a click on a
component, a modal submitted. Each is checked (who may, what values), stored with its token
and handed to the application (bots/interactions/__init__.py)."""

from __future__ import annotations

import secrets
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from bots import commands, components, shapes
from bots.interactions.common import (
    APPLICATION_COMMAND,
    ATTACHMENT_SIZE_LIMIT,
    AUTOCOMPLETE,
    DEFERRED_UPDATE_MESSAGE,
    MAX_OPTION_TEXT,
    MESSAGE_COMPONENT,
    MODAL,
    MODAL_SUBMIT,
    TOKEN_PREFIX,
    TOKEN_TTL,
    _bot_message,
    _digest,
    _plain,
    _snowflake,
    unknown_interaction,
)
from bots.models import Application, ApplicationCommand, Interaction
from guilds import permissions as perms
from guilds.models import Channel, Member, Role
from guilds.permissions import Permissions as P
from guilds.serialize import serialize_member
from guilds.services.access import ChannelAccess
from guilds.services.channels import get_channel
from messaging.models import Message
from messaging.services.access import access_text_channel, can_read_history
from moderation.services.timeouts import check_not_timed_out
from united import events
from united.errors import APIError, Forbidden, Invalid, NotFound


def _access(user: User, channel_id: Any) -> ChannelAccess:
    try:
        channel_id = int(channel_id)
    except (TypeError, ValueError, OverflowError):
        raise Invalid(errors={"channel_id": ["Must be a channel id."]}) from None
    channel = Channel.objects.filter(id=channel_id).first()
    if channel is None or channel.guild_id is None:
        # A DM is end-to-end encrypted: no application may read what is invoked there.
        raise Invalid(errors={"channel_id": ["Applications work in guild channels only."]})
    access = access_text_channel(user, channel_id, channel=channel)
    access.require(P.USE_APPLICATION_COMMANDS)
    check_not_timed_out(user, access.channel)
    return access


def _installed(app_id: int, guild_id: int) -> Application:
    app = Application.objects.select_related("bot").filter(id=app_id).first()
    if (
        app is None
        or not app.bot.is_active
        or not Member.objects.filter(guild_id=guild_id, user_id=app.bot_id).exists()
    ):
        raise NotFound("Unknown application", code=10002)
    return app


def _user_in(guild_id: int, value: Any, field: str) -> Member:
    member = (
        Member.objects.filter(guild_id=guild_id, user_id=_snowflake(value, field))
        .select_related("user")
        .first()
    )
    if member is None:
        raise Invalid(errors={field: ["Not a member of this guild."]})
    return member


def _option_value(
    access: ChannelAccess,
    spec: dict[str, Any],
    raw: Any,
    resolved: dict[str, dict[str, Any]],
    *,
    focused: bool,
) -> Any:
    kind, name = spec["type"], spec["name"]
    guild_id = int(access.channel.guild_id or 0)
    user = access.ctx.user
    assert user is not None  # a member's access, never the node's
    if focused:
        # What the member has typed so far: text, whatever the option's type.
        if not isinstance(raw, str | int | float) or isinstance(raw, bool) or len(str(raw)) > 100:
            raise Invalid(errors={name: ["Type at most 100 characters."]})
        return _plain(str(raw), name)
    if kind == commands.STRING:
        if not isinstance(raw, str) or len(raw) > spec.get("max_length", MAX_OPTION_TEXT):
            raise Invalid(errors={name: ["Must be text of the allowed length."]})
        if len(raw) < spec.get("min_length", 0):
            raise Invalid(errors={name: ["Too short."]})
        value: Any = _plain(raw, name)
    elif kind in (commands.INTEGER, commands.NUMBER):
        if isinstance(raw, float) and kind == commands.INTEGER and not raw.is_integer():
            raise Invalid(errors={name: ["Must be a whole number."]})
        try:
            value = int(raw) if kind == commands.INTEGER else float(raw)
        except (TypeError, ValueError, OverflowError):
            raise Invalid(errors={name: ["Must be a number."]}) from None
        if isinstance(raw, bool) or value != value or abs(value) > commands.NUMBER_LIMIT:
            raise Invalid(errors={name: ["Must be a number."]})
        if "min_value" in spec and value < spec["min_value"]:
            raise Invalid(errors={name: [f"Must be at least {spec['min_value']}."]})
        if "max_value" in spec and value > spec["max_value"]:
            raise Invalid(errors={name: [f"Must be at most {spec['max_value']}."]})
    elif kind == commands.BOOLEAN:
        if raw in (True, "true", "on", "1"):
            value = True
        elif raw in (False, "false", "off", "0"):
            value = False
        else:
            raise Invalid(errors={name: ["Must be true or false."]})
    elif kind in (commands.USER_OPT, commands.MENTIONABLE):
        member = (
            Member.objects.filter(guild_id=guild_id, user_id=_snowflake(raw, name))
            .select_related("user")
            .first()
        )
        role = None
        if member is None and kind == commands.MENTIONABLE:
            role = Role.objects.filter(guild_id=guild_id, id=_snowflake(raw, name)).first()
        if member is None and role is None:
            raise Invalid(errors={name: ["Not a member of this guild."]})
        if member is not None:
            _resolve_member(resolved, member)
            value = str(member.user_id)
        else:
            assert role is not None
            resolved.setdefault("roles", {})[str(role.id)] = _role_shape(role)
            value = str(role.id)
    elif kind == commands.ROLE:
        role = Role.objects.filter(guild_id=guild_id, id=_snowflake(raw, name)).first()
        if role is None:
            raise Invalid(errors={name: ["Not a role of this guild."]})
        resolved.setdefault("roles", {})[str(role.id)] = _role_shape(role)
        value = str(role.id)
    elif kind == commands.CHANNEL:
        target = access_text_channel(user, _snowflake(raw, name))
        if target.channel.guild_id != guild_id:
            raise Invalid(errors={name: ["Not a channel of this guild."]})
        if spec.get("channel_types") and target.channel.type not in spec["channel_types"]:
            raise Invalid(errors={name: ["Not a channel of the kind asked for."]})
        data = shapes.channel(get_channel(user, target.channel.id))
        resolved.setdefault("channels", {})[str(target.channel.id)] = {
            **{k: data[k] for k in ("id", "name", "type", "parent_id") if k in data},
            "permissions": str(target.permissions),
        }
        value = str(target.channel.id)
    else:
        raise Invalid(errors={name: ["This kind of option cannot be filled in here."]})
    if spec.get("choices") and value not in [c["value"] for c in spec["choices"]]:
        raise Invalid(errors={name: ["Pick one of the choices."]})
    return value


def _role_shape(role: Role) -> dict[str, Any]:
    return shapes.role(
        {
            "id": str(role.id),
            "name": role.name,
            "permissions": str(role.permissions),
            "position": role.position,
            "color": getattr(role, "color", 0),
            "hoist": getattr(role, "hoist", False),
            "mentionable": getattr(role, "mentionable", False),
        }
    )


def _resolve_member(resolved: dict[str, dict[str, Any]], member: Member) -> None:
    data = shapes.member(serialize_member(member))
    resolved.setdefault("users", {})[str(member.user_id)] = data.pop("user")
    resolved.setdefault("members", {})[str(member.user_id)] = data


def _options(
    access: ChannelAccess,
    specs: list[dict[str, Any]],
    raw: Any,
    resolved: dict[str, dict[str, Any]],
    *,
    autocomplete: bool,
) -> list[dict[str, Any]]:
    """The member's values for one level of options, checked against the command, in
    Discord's shape: subcommand (group) levels nest, leaves are {name, type, value}."""
    if raw is None:
        raw = []
    if not isinstance(raw, list) or len(raw) > commands.MAX_OPTIONS:
        raise Invalid(errors={"options": ["Must be a list of options."]})
    by_name = {s["name"]: s for s in specs}
    subs = [s for s in specs if s["type"] in (commands.SUB_COMMAND, commands.SUB_COMMAND_GROUP)]
    if subs:
        if (
            len(raw) != 1
            or not isinstance(raw[0], dict)
            or not isinstance(raw[0].get("name"), str)
            or raw[0]["name"] not in by_name
        ):
            raise Invalid(errors={"options": ["Pick one subcommand."]})
        spec = by_name[raw[0]["name"]]
        inner = _options(
            access,
            spec.get("options", []),
            raw[0].get("options"),
            resolved,
            autocomplete=autocomplete,
        )
        return [{"name": spec["name"], "type": spec["type"], "options": inner}]
    out = []
    given: set[str] = set()
    focused_seen = False
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise Invalid(errors={"options": ["Unknown option."]})
        if item["name"] not in by_name:
            raise Invalid(errors={"options": ["Unknown option."]})
        spec = by_name[item["name"]]
        if spec["name"] in given:
            raise Invalid(errors={spec["name"]: ["Given twice."]})
        given.add(spec["name"])
        focused = autocomplete and item.get("focused") is True and spec.get("autocomplete")
        if focused:
            if focused_seen:
                raise Invalid(errors={"options": ["One option has the focus."]})
            focused_seen = True
        if item.get("value") in (None, "") and not focused:
            continue
        value = _option_value(access, spec, item.get("value"), resolved, focused=bool(focused))
        option = {"name": spec["name"], "type": spec["type"], "value": value}
        if focused:
            option["focused"] = True
        out.append(option)
    if autocomplete and not focused_seen:
        raise Invalid(errors={"options": ["Say which option is being typed."]})
    if not autocomplete:
        missing = [
            s["name"]
            for s in specs
            if s.get("required") and s["name"] not in {o["name"] for o in out}
        ]
        if missing:
            raise Invalid(errors={name: ["This option is required."] for name in missing})
    return out


def _may_use(access: ChannelAccess, command: ApplicationCommand) -> None:
    required = command.default_member_permissions
    if required is None or access.ctx.is_admin:
        return
    # 0 means "administrators only", as on Discord.
    if required == 0 or not perms.has(access.permissions, required):
        raise Forbidden("You lack the permissions this command asks for")


def check_invoke_command(user: User, raw: Any) -> tuple[Interaction, str]:
    """A member invokes a command (type 2) or asks for autocomplete choices (type 4). `raw`:
    {type, channel_id, command_id, options?, target_id?}."""
    if not isinstance(raw, dict):
        raise Invalid(errors={"_errors": ["Expected a JSON object."]})
    kind = raw.get("type", APPLICATION_COMMAND)
    if kind not in (APPLICATION_COMMAND, AUTOCOMPLETE) or isinstance(kind, bool):
        raise Invalid(errors={"type": ["Must be 2 (command) or 4 (autocomplete)."]})
    access = _access(user, raw.get("channel_id"))
    guild_id = access.channel.guild_id
    assert guild_id is not None
    command = (
        ApplicationCommand.objects.filter(id=_snowflake(raw.get("command_id"), "command_id"))
        .select_related("application")
        .first()
    )
    if command is None or command.guild_id not in (None, guild_id):
        raise commands.unknown_command()
    app = _installed(command.application_id, guild_id)
    _may_use(access, command)
    resolved: dict[str, dict[str, Any]] = {}
    data: dict[str, Any] = {
        "id": str(command.id),
        "name": command.name,
        "type": command.type,
        "guild_id": str(guild_id) if command.guild_id else None,
    }
    if data["guild_id"] is None:
        del data["guild_id"]
    message_id = None
    if command.type == commands.CHAT_INPUT:
        data["options"] = _options(
            access, command.options, raw.get("options"), resolved, autocomplete=kind == AUTOCOMPLETE
        )
        if kind == AUTOCOMPLETE and not _has_focus(data["options"]):
            raise Invalid(errors={"options": ["That option does not autocomplete."]})
    elif kind == AUTOCOMPLETE:
        raise Invalid(errors={"type": ["Context-menu commands have nothing to autocomplete."]})
    elif command.type == commands.USER:
        member = _user_in(guild_id, raw.get("target_id"), "target_id")
        _resolve_member(resolved, member)
        data["target_id"] = str(member.user_id)
    else:
        if not can_read_history(access):
            raise Forbidden("You cannot read this channel's messages")
        target = Message.objects.filter(
            id=_snowflake(raw.get("target_id"), "target_id"),
            channel=access.channel,
            deleted_at__isnull=True,
        ).first()
        if target is None:
            raise NotFound("Unknown Message", code=10008)
        message_id = target.id
        data["target_id"] = str(target.id)
        resolved["messages"] = {str(target.id): _bot_message(target)}
    data["resolved"] = resolved
    return do_create_interaction(app, kind, user, access, data, message_id=message_id)


def _has_focus(options: list[dict[str, Any]]) -> bool:
    return any(o.get("focused") or _has_focus(o.get("options", [])) for o in options)


def _component_message(access: ChannelAccess, message_id: Any) -> tuple[Message, Application]:
    message = Message.objects.filter(
        id=_snowflake(message_id, "message_id"),
        channel=access.channel,
        deleted_at__isnull=True,
        application_id__isnull=False,
    ).first()
    if message is None:
        raise NotFound("Unknown Message", code=10008)
    assert access.channel.guild_id is not None
    return message, _installed(int(message.application_id or 0), access.channel.guild_id)


def check_click(user: User, raw: Any) -> tuple[Interaction, str]:
    """A member clicks a button or picks in a select under an application's message (type 3):
    {channel_id, message_id, custom_id, values?}."""
    if not isinstance(raw, dict):
        raise Invalid(errors={"_errors": ["Expected a JSON object."]})
    access = _access(user, raw.get("channel_id"))
    message, app = _component_message(access, raw.get("message_id"))
    custom_id = raw.get("custom_id")
    component = (
        components.find(message.components, custom_id) if isinstance(custom_id, str) else None
    )
    if (
        component is None
        or component.get("disabled")
        or component["type"]
        not in (
            components.BUTTON,
            components.STRING_SELECT,
        )
    ):
        raise Invalid(errors={"custom_id": ["No such component, or it is disabled."]})
    data: dict[str, Any] = {"custom_id": custom_id, "component_type": component["type"]}
    if component["type"] == components.STRING_SELECT:
        data["values"] = components.check_values(component, raw.get("values"))
    return do_create_interaction(app, MESSAGE_COMPONENT, user, access, data, message_id=message.id)


def check_submit_modal(user: User, raw: Any) -> tuple[Interaction, str]:
    """A member submits a modal an interaction of theirs opened (type 5): {interaction_id,
    values: {custom_id: text}}."""
    if not isinstance(raw, dict):
        raise Invalid(errors={"_errors": ["Expected a JSON object."]})
    opener = Interaction.objects.filter(
        id=_snowflake(raw.get("interaction_id"), "interaction_id"),
        user=user,
        response_type=MODAL,
    ).first()
    if opener is None or timezone.now() - opener.created_at > TOKEN_TTL:
        raise unknown_interaction()
    modal = opener.response or {}
    access = _access(user, opener.channel_id)
    app = _installed(opener.application_id, opener.guild_id)
    data = {
        "custom_id": modal["custom_id"],
        "components": components.check_modal_values(modal, raw.get("values")),
    }
    with transaction.atomic():
        # A modal is submitted once: a second submit of the same dialog is refused.
        claimed = Interaction.objects.filter(id=opener.id, response_type=MODAL).update(
            response_type=DEFERRED_UPDATE_MESSAGE
        )
        if not claimed:
            raise unknown_interaction()
        return do_create_interaction(
            app, MODAL_SUBMIT, user, access, data, message_id=opener.message_id
        )


@transaction.atomic
def do_create_interaction(
    app: Application,
    kind: int,
    user: User,
    access: ChannelAccess,
    data: dict[str, Any],
    *,
    message_id: int | None = None,
) -> tuple[Interaction, str]:
    """Store the interaction and, unless the application has an HTTP endpoint (the caller
    posts to it, outside the transaction), hand it to the bot's gateway sessions."""
    token = f"{TOKEN_PREFIX}{secrets.token_urlsafe(48)}"
    interaction = Interaction.objects.create(
        application=app,
        type=kind,
        token_digest=_digest(token),
        user=user,
        guild_id=int(access.channel.guild_id or 0),
        channel_id=access.channel.id,
        message_id=message_id,
        data=data,
    )
    if not app.interactions_endpoint_url:
        events.broadcast(
            events.user_group(app.bot_id),
            "INTERACTION_CREATE",
            payload(interaction, token, access),
            actor=user,
        )
    return interaction, token


def payload(interaction: Interaction, token: str, access: ChannelAccess) -> dict[str, Any]:
    """Discord's interaction object, as discord.py 2.7 reads it."""
    app = interaction.application
    member = Member.objects.select_related("user").get(
        guild_id=interaction.guild_id, user_id=interaction.user_id
    )
    bot_access = None
    try:
        bot_access = access_text_channel(app.bot, interaction.channel_id)
    except APIError:
        pass
    channel = shapes.channel(get_channel(interaction.user, interaction.channel_id))
    out: dict[str, Any] = {
        "id": str(interaction.id),
        "application_id": str(app.id),
        "type": interaction.type,
        "data": interaction.data,
        "guild_id": str(interaction.guild_id),
        "guild": {"id": str(interaction.guild_id), "locale": "en-US", "features": []},
        "channel_id": str(interaction.channel_id),
        "channel": channel,
        "member": {
            **shapes.member(serialize_member(member)),
            "permissions": str(access.permissions),
        },
        "token": token,
        "version": 1,
        "app_permissions": str(bot_access.permissions if bot_access else 0),
        "locale": "en-US",
        "guild_locale": "en-US",
        "entitlements": [],
        "authorizing_integration_owners": {"0": str(interaction.guild_id)},
        "context": 0,
        "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
    }
    if interaction.message_id and interaction.type != APPLICATION_COMMAND:
        found = Message.objects.filter(id=interaction.message_id).first()
        if found is not None:
            out["message"] = _bot_message(found)
    return out


def endpoint_payload(interaction: Interaction, token: str, user: User) -> dict[str, Any]:
    access = access_text_channel(user, interaction.channel_id)
    return payload(interaction, token, access)
