"""Interactions: a member invokes an application (a slash or context-menu command, a button,
a select, a modal, an autocomplete request) and the application answers (docs/bots.md).

The round trip is Discord's. Invoking stores an `Interaction` with a fresh token and hands
Discord's interaction object to the application: over the bot gateway as INTERACTION_CREATE
(a stored event, so RESUME replays it), or, when the application set an interactions endpoint
URL, by an HTTP POST signed with the application's Ed25519 key (X-Signature-Ed25519 over
X-Signature-Timestamp + body), whose answer is the callback. The application has
RESPOND_WITHIN seconds to call back (POST /interactions/{id}/{token}/callback); the member's
request waits that long for it (`await_response`) and otherwise hears "The application did
not respond". The token then stays valid TOKEN_TTL for follow-ups and for editing or deleting
the original answer through /webhooks/{application}/{token}.

An ephemeral answer (flag 64) is never a channel message: it stays on the interaction row and
reaches the invoker alone (the invoke request's answer, or an event to their sessions only).
Bots never see E2E content: commands run in guild text channels only, never in DMs.
"""

from __future__ import annotations

from bots.interactions.answer import (
    access_by_application,
    access_interaction,
    check_callback,
    check_delete_answer,
    check_edit_answer,
    check_followup,
    do_callback,
    ephemeral_for,
    get_answer,
    outcome,
    responded,
)
from bots.interactions.common import (
    ALLOWED_CALLBACKS,
    ALREADY_ACKNOWLEDGED,
    APPLICATION_COMMAND,
    ATTACHMENT_SIZE_LIMIT,
    AUTOCOMPLETE,
    AUTOCOMPLETE_RESULT,
    CHANNEL_MESSAGE,
    DEFERRED_CHANNEL_MESSAGE,
    DEFERRED_UPDATE_MESSAGE,
    EPHEMERAL,
    LOADING,
    MAX_ENDPOINT_ANSWER,
    MAX_FOLLOWUPS,
    MAX_OPTION_TEXT,
    MESSAGE_COMPONENT,
    MODAL,
    MODAL_SUBMIT,
    PING,
    PONG,
    RESPOND_WITHIN,
    SENDABLE_FLAGS,
    SUPPRESS_EMBEDS,
    SUPPRESS_NOTIFICATIONS,
    TOKEN_PREFIX,
    TOKEN_TTL,
    UNKNOWN_INTERACTION,
    UPDATE_MESSAGE,
    unknown_interaction,
)
from bots.interactions.invoke import (
    check_click,
    check_invoke_command,
    check_submit_modal,
    do_create_interaction,
    endpoint_payload,
    payload,
)
from bots.interactions.keys import (
    apply_endpoint_answer,
    check_set_endpoint,
    do_set_endpoint,
    endpoint_request,
    ensure_keys,
    post_bytes,
    post_signed,
    sign,
)

__all__ = [
    "ALLOWED_CALLBACKS",
    "ALREADY_ACKNOWLEDGED",
    "APPLICATION_COMMAND",
    "ATTACHMENT_SIZE_LIMIT",
    "AUTOCOMPLETE",
    "AUTOCOMPLETE_RESULT",
    "CHANNEL_MESSAGE",
    "DEFERRED_CHANNEL_MESSAGE",
    "DEFERRED_UPDATE_MESSAGE",
    "EPHEMERAL",
    "LOADING",
    "MAX_ENDPOINT_ANSWER",
    "MAX_FOLLOWUPS",
    "MAX_OPTION_TEXT",
    "MESSAGE_COMPONENT",
    "MODAL",
    "MODAL_SUBMIT",
    "PING",
    "PONG",
    "RESPOND_WITHIN",
    "SENDABLE_FLAGS",
    "SUPPRESS_EMBEDS",
    "SUPPRESS_NOTIFICATIONS",
    "TOKEN_PREFIX",
    "TOKEN_TTL",
    "UNKNOWN_INTERACTION",
    "UPDATE_MESSAGE",
    "access_by_application",
    "access_interaction",
    "apply_endpoint_answer",
    "check_callback",
    "check_click",
    "check_delete_answer",
    "check_edit_answer",
    "check_followup",
    "check_invoke_command",
    "check_set_endpoint",
    "check_submit_modal",
    "do_callback",
    "do_create_interaction",
    "do_set_endpoint",
    "endpoint_payload",
    "endpoint_request",
    "ensure_keys",
    "ephemeral_for",
    "get_answer",
    "outcome",
    "payload",
    "post_bytes",
    "post_signed",
    "responded",
    "sign",
    "unknown_interaction",
]
