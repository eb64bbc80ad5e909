"""The application answers: the callback (types 4-9), follow-ups and the original answer
through the interaction token, ephemeral answers kept for the invoker alone, and what the
invoker's page does next (`outcome`)."""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.services import serialize_user
from bots import commands, components, shapes
from bots import embeds as embed_rules
from bots.interactions.common import (
    ALLOWED_CALLBACKS,
    ALREADY_ACKNOWLEDGED,
    APPLICATION_COMMAND,
    AUTOCOMPLETE_RESULT,
    CHANNEL_MESSAGE,
    DEFERRED_CHANNEL_MESSAGE,
    DEFERRED_UPDATE_MESSAGE,
    EPHEMERAL,
    LOADING,
    MAX_FOLLOWUPS,
    MODAL,
    RESPOND_WITHIN,
    SENDABLE_FLAGS,
    TOKEN_PREFIX,
    TOKEN_TTL,
    UPDATE_MESSAGE,
    _bot_message,
    _digest,
    _plain,
    unknown_interaction,
)
from bots.models import Interaction
from messaging.models import Message
from messaging.services import messages
from messaging.services.access import access_text_channel
from united import events
from united.errors import APIError, Invalid, NotFound


def access_interaction(
    interaction_id: int, token: Any, *, within: timedelta = TOKEN_TTL
) -> Interaction:
    """The interaction this token is for, still valid; else Discord's 10062."""
    if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        raise unknown_interaction()
    found = (
        Interaction.objects.select_related("application", "application__bot", "user")
        .filter(token_digest=_digest(token))
        .first()
    )
    if (
        found is None
        or not hmac.compare_digest(str(found.id), str(interaction_id))
        or timezone.now() - found.created_at > within
        or not found.application.bot.is_active
    ):
        raise unknown_interaction()
    return found


def access_by_application(application_id: int, token: Any) -> Interaction:
    """For the follow-up routes, named by application rather than by interaction."""
    if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        raise unknown_interaction()
    found = (
        Interaction.objects.select_related("application", "application__bot", "user")
        .filter(token_digest=_digest(token), application_id=application_id)
        .first()
    )
    if found is None or timezone.now() - found.created_at > TOKEN_TTL:
        raise unknown_interaction()
    return found


def _message_fields(data: Any, *, partial: bool = False) -> dict[str, Any]:
    """What a bot may put in an answer: content, embeds (bots/embeds.py's rules), components,
    flags (files and stickers are refused, saying so)."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise Invalid(errors={"data": ["Must be an object."]})
    if data.get("attachments") or data.get("sticker_ids"):
        raise Invalid(
            errors={"attachments": ["Files and stickers are not supported in interaction answers."]}
        )
    out: dict[str, Any] = {}
    if "embeds" in data:
        out["embeds"] = embed_rules.clean_embeds(data["embeds"])
    elif "embed" in data:  # the singular form older libraries send
        out["embeds"] = embed_rules.clean_embeds([data["embed"]] if data["embed"] else [])
    elif not partial:
        out["embeds"] = []
    if "content" in data or not partial:
        content = data.get("content")
        if content is None:
            content = ""
        if not isinstance(content, str) or len(content) > 2000 or "\x00" in content:
            raise Invalid(errors={"content": ["Must be text of up to 2000 characters."]})
        if any(0xD800 <= ord(ch) <= 0xDFFF for ch in content):
            raise Invalid(errors={"content": ["Must be valid text."]})
        out["content"] = content
    if "components" in data or not partial:
        out["components"] = components.clean_components(data.get("components"))
    flags = data.get("flags")
    if flags is not None:
        if isinstance(flags, bool) or not isinstance(flags, int) or flags & ~SENDABLE_FLAGS:
            raise Invalid(
                errors={
                    "flags": ["Only EPHEMERAL (64), SUPPRESS_EMBEDS and SUPPRESS_NOTIFICATIONS."]
                }
            )
        out["flags"] = flags
    if not partial and not out["content"] and not out["components"] and not out["embeds"]:
        raise Invalid(errors={"content": ["Cannot send an empty message."]}, code=50006)
    return out


def _metadata(interaction: Interaction) -> dict[str, Any]:
    """Discord's interaction_metadata on the answer: who invoked what."""
    meta: dict[str, Any] = {
        "id": str(interaction.id),
        "type": interaction.type,
        "user": shapes.user(serialize_user(interaction.user)),
        "authorizing_integration_owners": {"0": str(interaction.guild_id)},
    }
    if interaction.type == APPLICATION_COMMAND:
        meta["name"] = interaction.data.get("name")
        meta["command_type"] = interaction.data.get("type")
    if interaction.message_id and interaction.type != APPLICATION_COMMAND:
        meta["interacted_message_id"] = str(interaction.message_id)
    return meta


def _send(interaction: Interaction, fields: dict[str, Any], *, loading: bool = False) -> Message:
    app = interaction.application
    access = access_text_channel(interaction.user, interaction.channel_id)
    flags = fields.get("flags", 0) & ~EPHEMERAL
    return messages.do_send_message(
        access,
        app.bot,
        fields.get("content", ""),
        embeds=fields.get("embeds") or None,
        rich={
            "components": fields.get("components", []),
            "flags": flags | (LOADING if loading else 0),
            "application_id": app.id,
            "interaction": _metadata(interaction),
        },
    )


def _edit(interaction: Interaction, message: Message, fields: dict[str, Any]) -> Message:
    if message.author_id != interaction.application.bot_id:
        raise Invalid(errors={"message_id": ["Not a message of this application."]})
    access = access_text_channel(interaction.user, interaction.channel_id)
    rich: dict[str, Any] = {
        "flags": (message.flags & ~LOADING) | (fields.get("flags", 0) & ~EPHEMERAL)
    }
    if "components" in fields:
        rich["components"] = fields["components"]
    content = fields.get("content", message.content)
    embeds = fields.get("embeds")
    if message.flags & LOADING and not content and not rich.get("components") and not embeds:
        raise Invalid(errors={"content": ["Cannot send an empty message."]}, code=50006)
    return messages.do_edit_message(access, message, content, embeds=embeds, rich=rich)


def _ephemeral(
    interaction: Interaction, fields: dict[str, Any], *, loading: bool = False
) -> dict[str, Any]:
    """An answer only the invoker sees: never a channel message, kept on the interaction."""
    app = interaction.application
    return {
        "id": str(secrets.randbits(62) | 1 << 62),
        "channel_id": str(interaction.channel_id),
        "author": shapes.user(serialize_user(app.bot)),
        "content": fields.get("content", ""),
        "components": fields.get("components", []),
        "embeds": fields.get("embeds", []),
        "attachments": [],
        "flags": EPHEMERAL | (LOADING if loading else 0),
        "application_id": str(app.id),
        "interaction_metadata": _metadata(interaction),
        "timestamp": timezone.now().isoformat(),
        "edited_timestamp": None,
        "type": 0,
    }


def _tell_invoker(interaction: Interaction) -> None:
    """The invoker's open pages hear that an ephemeral answer came or changed (they fetch it:
    the event carries no content, it is not stored for anyone else)."""
    events.broadcast_ephemeral(
        events.user_group(interaction.user_id),
        "INTERACTION_EPHEMERAL",
        {"interaction_id": str(interaction.id), "channel_id": str(interaction.channel_id)},
    )


def check_callback(interaction_id: int, token: Any, body: Any) -> dict[str, Any]:
    """POST /interactions/{id}/{token}/callback: the application's one answer, within
    RESPOND_WITHIN seconds. Returns Discord's InteractionCallbackResponse."""
    if not isinstance(body, dict):
        raise Invalid(errors={"_errors": ["Expected a JSON object."]})
    kind = body.get("type")
    with transaction.atomic():
        interaction = access_interaction(
            interaction_id, token, within=timedelta(seconds=RESPOND_WITHIN)
        )
        interaction = (
            Interaction.objects.select_for_update()
            .select_related("application", "application__bot", "user")
            .get(id=interaction.id)
        )
        if interaction.responded_at is not None:
            raise APIError("Interaction has already been acknowledged.", code=ALREADY_ACKNOWLEDGED)
        allowed = ALLOWED_CALLBACKS.get(interaction.type, set())
        if not isinstance(kind, int) or isinstance(kind, bool) or kind not in allowed:
            raise Invalid(
                errors={"type": [f"Callback type {kind!r} does not answer this interaction."]}
            )
        return do_callback(interaction, kind, body.get("data"))


def do_callback(interaction: Interaction, kind: int, data: Any) -> dict[str, Any]:
    message: Message | None = None
    ephemeral = False
    if kind == CHANNEL_MESSAGE:
        fields = _message_fields(data)
        if fields.get("flags", 0) & EPHEMERAL:
            ephemeral = True
            interaction.response = _ephemeral(interaction, fields)
        else:
            message = _send(interaction, fields)
            interaction.original_message_id = message.id
    elif kind == DEFERRED_CHANNEL_MESSAGE:
        flags = data.get("flags", 0) if isinstance(data, dict) else 0
        if isinstance(flags, int) and not isinstance(flags, bool) and flags & EPHEMERAL:
            ephemeral = True
            interaction.response = _ephemeral(interaction, {}, loading=True)
        else:
            message = _send(interaction, {}, loading=True)
            interaction.original_message_id = message.id
    elif kind == DEFERRED_UPDATE_MESSAGE:
        interaction.original_message_id = interaction.message_id
    elif kind == UPDATE_MESSAGE:
        fields = _message_fields(data, partial=True)
        target = Message.objects.filter(
            id=int(interaction.message_id or 0), deleted_at__isnull=True
        ).first()
        if target is None or target.author_id != interaction.application.bot_id:
            raise Invalid(errors={"type": ["There is no message of this application to update."]})
        message = _edit(interaction, target, fields)
        interaction.original_message_id = message.id
    elif kind == AUTOCOMPLETE_RESULT:
        interaction.response = {"choices": _choices(data)}
    elif kind == MODAL:
        interaction.response = components.clean_modal(data)
    interaction.response_type = kind
    interaction.responded_at = timezone.now()
    interaction.save(
        update_fields=["response_type", "responded_at", "response", "original_message_id"]
    )
    if ephemeral:
        _tell_invoker(interaction)
    answer: dict[str, Any] = {
        "interaction": {
            "id": str(interaction.id),
            "type": interaction.type,
            "response_message_loading": kind == DEFERRED_CHANNEL_MESSAGE,
            "response_message_ephemeral": ephemeral,
        }
    }
    if message is not None:
        answer["interaction"]["response_message_id"] = str(message.id)
        answer["resource"] = {"type": kind, "message": _bot_message(message)}
    elif ephemeral and interaction.response:
        answer["interaction"]["response_message_id"] = interaction.response["id"]
        answer["resource"] = {"type": kind, "message": interaction.response}
    else:
        answer["resource"] = {"type": kind}
    return answer


def _choices(data: Any) -> list[dict[str, Any]]:
    raw = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(raw, list) or len(raw) > commands.MAX_CHOICES:
        raise Invalid(errors={"choices": ["Up to 25 choices."]})
    out = []
    for i, choice in enumerate(raw):
        if (
            not isinstance(choice, dict)
            or not isinstance(choice.get("name"), str)
            or not 1 <= len(choice["name"]) <= 100
            or isinstance(choice.get("value"), bool)
            or not isinstance(choice.get("value"), str | int | float)
            or len(str(choice["value"])) > 100
        ):
            raise Invalid(errors={f"choices.{i}": ["A choice has a name and a value."]})
        value = choice["value"]
        out.append(
            {
                "name": _plain(choice["name"], f"choices.{i}.name"),
                "value": _plain(value, f"choices.{i}.value") if isinstance(value, str) else value,
            }
        )
    return out


# --- follow-ups and the original answer (/webhooks/{application}/{token}) ---------------------


def _acknowledged(interaction: Interaction) -> None:
    if interaction.responded_at is None:
        raise APIError("The interaction has not been answered yet.", code=40060)


def check_followup(application_id: int, token: Any, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise Invalid(errors={"_errors": ["Expected a JSON object."]})
    with transaction.atomic():
        interaction = access_by_application(application_id, token)
        interaction = (
            Interaction.objects.select_for_update()
            .select_related("application", "application__bot", "user")
            .get(id=interaction.id)
        )
        _acknowledged(interaction)
        if interaction.followups >= MAX_FOLLOWUPS:
            raise APIError(f"At most {MAX_FOLLOWUPS} follow-ups per interaction.", code=30001)
        fields = _message_fields(body)
        interaction.followups += 1
        if fields.get("flags", 0) & EPHEMERAL:
            answer = _ephemeral(interaction, fields)
            interaction.ephemeral = [*interaction.ephemeral, answer]
            interaction.save(update_fields=["followups", "ephemeral"])
            _tell_invoker(interaction)
            return answer
        interaction.save(update_fields=["followups"])
        return _bot_message(_send(interaction, fields))


def _target(
    interaction: Interaction, message_id: str
) -> tuple[Message | None, dict[str, Any] | None]:
    """The original answer or a follow-up: a channel message, or an ephemeral one."""
    if message_id == "@original":
        if interaction.original_message_id:
            found = Message.objects.filter(
                id=interaction.original_message_id, deleted_at__isnull=True
            ).first()
            if found is not None:
                return found, None
        if interaction.response and interaction.response_type in (
            CHANNEL_MESSAGE,
            DEFERRED_CHANNEL_MESSAGE,
        ):
            return None, interaction.response
        raise NotFound("Unknown Message", code=10008)
    for item in interaction.ephemeral:
        if item["id"] == message_id:
            return None, item
    try:
        wanted = int(message_id)
    except ValueError:
        raise NotFound("Unknown Message", code=10008) from None
    found = Message.objects.filter(
        id=wanted,
        channel_id=interaction.channel_id,
        application_id=interaction.application_id,
        deleted_at__isnull=True,
    ).first()
    if found is None or (found.interaction or {}).get("id") != str(interaction.id):
        raise NotFound("Unknown Message", code=10008)
    return found, None


def get_answer(application_id: int, token: Any, message_id: str) -> dict[str, Any]:
    interaction = access_by_application(application_id, token)
    message, ephemeral = _target(interaction, message_id)
    return _bot_message(message) if message is not None else ephemeral  # type: ignore[return-value]


def check_edit_answer(
    application_id: int, token: Any, message_id: str, body: Any
) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise Invalid(errors={"_errors": ["Expected a JSON object."]})
    fields = _message_fields(body, partial=True)
    with transaction.atomic():
        interaction = access_by_application(application_id, token)
        interaction = (
            Interaction.objects.select_for_update()
            .select_related("application", "application__bot", "user")
            .get(id=interaction.id)
        )
        message, ephemeral = _target(interaction, message_id)
        if message is not None:
            return _bot_message(_edit(interaction, message, fields))
        assert ephemeral is not None
        changed = {
            **ephemeral,
            **{k: v for k, v in fields.items() if k != "flags"},
            "flags": EPHEMERAL,
            "edited_timestamp": timezone.now().isoformat(),
        }
        if message_id == "@original":
            interaction.response = changed
        else:
            interaction.ephemeral = [
                changed if e["id"] == ephemeral["id"] else e for e in interaction.ephemeral
            ]
        interaction.save(update_fields=["response", "ephemeral"])
        _tell_invoker(interaction)
        return changed


def check_delete_answer(application_id: int, token: Any, message_id: str) -> None:
    with transaction.atomic():
        interaction = access_by_application(application_id, token)
        interaction = (
            Interaction.objects.select_for_update()
            .select_related("application", "application__bot", "user")
            .get(id=interaction.id)
        )
        message, ephemeral = _target(interaction, message_id)
        if message is not None:
            messages.do_delete_message(message, actor=interaction.application.bot)
            return
        assert ephemeral is not None
        if message_id == "@original":
            interaction.response = None
        else:
            interaction.ephemeral = [e for e in interaction.ephemeral if e["id"] != ephemeral["id"]]
        interaction.save(update_fields=["response", "ephemeral"])
        _tell_invoker(interaction)


def ephemeral_for(user: User, interaction_id: Any) -> list[dict[str, Any]]:
    """The ephemeral answers of one of the member's own interactions, for their page."""
    try:
        found = Interaction.objects.select_related("application").get(
            id=int(interaction_id), user=user
        )
    except (Interaction.DoesNotExist, TypeError, ValueError, OverflowError):
        raise unknown_interaction() from None
    shown = (
        [found.response]
        if found.response
        and found.response_type
        in (
            CHANNEL_MESSAGE,
            DEFERRED_CHANNEL_MESSAGE,
        )
        else []
    )
    return [*shown, *found.ephemeral]


def responded(interaction_id: int) -> bool:
    return Interaction.objects.filter(id=interaction_id, responded_at__isnull=False).exists()


def outcome(user: User, interaction_id: int) -> dict[str, Any]:
    """What the invoker's page does next: nothing (a channel message arrives by the gateway),
    show an ephemeral answer, open a modal, offer autocomplete choices, or say the
    application did not respond."""
    found = Interaction.objects.get(id=interaction_id, user=user)
    out: dict[str, Any] = {"id": str(found.id), "type": found.type}
    if found.responded_at is None:
        out["outcome"] = "timeout"
        out["message"] = "The application did not respond"
    elif found.response_type == MODAL:
        out["outcome"] = "modal"
        out["modal"] = found.response
    elif found.response_type == AUTOCOMPLETE_RESULT:
        out["outcome"] = "choices"
        out["choices"] = (found.response or {}).get("choices", [])
    elif found.response is not None:
        out["outcome"] = "ephemeral"
    else:
        out["outcome"] = "message"
        if found.original_message_id:
            out["message_id"] = str(found.original_message_id)
    return out
