"""Applications, bot tokens and installing a bot into a guild (docs/bots.md).

A bot is a member like any other once installed: the messaging and guild services decide what
it may do from its roles, rate-limit it under its own user id, and moderation can time it out,
kick or ban it. What this module adds is how a bot comes to exist (an application owned by a
member), how it proves who it is (its token, stored as a digest), and how a member with
MANAGE_GUILD adds it to a guild with a role holding the permissions it asked for.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from bots.models import Application, Installation
from guilds import permission_labels
from guilds import permissions as perms
from guilds.models import Guild, Member
from guilds.services import roles as role_services
from guilds.services.access import guild_context, node_context
from guilds.services.members import do_add_member, do_change_member_roles
from united import events, names
from united.errors import Forbidden, Invalid, NotFound

MAX_APPLICATIONS_PER_OWNER = 25
NAME_MAX = 32
# Discord's privileged intent bits; only MESSAGE_CONTENT is granted per application here.
INTENT_GUILD_MEMBERS = 1 << 1
INTENT_GUILD_PRESENCES = 1 << 8
INTENT_MESSAGE_CONTENT = 1 << 15
# What an install link may ask for: every permission but ADMINISTRATOR, which would put the
# bot above every channel overwrite a member set.
INSTALLABLE = perms.ALL & ~int(perms.P.ADMINISTRATOR)


def unknown_application() -> NotFound:
    return NotFound("Unknown application", code=10002)


def digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _new_token(bot_id: int) -> str:
    # Discord's layout (the bot's id in base64, then a secret), so libraries that read the id
    # out of a token find it; only the digest is kept.
    head = base64.urlsafe_b64encode(str(bot_id).encode()).decode().rstrip("=")
    return f"{head}.{secrets.token_urlsafe(32)}"


def _bot_username(name: str) -> str:
    base = re.sub(r"[^A-Za-z0-9_.-]+", "", name.replace(" ", "_"))[:24].strip(".") or "bot"
    if len(base) < 2:
        base = f"{base}bot"
    candidate = base
    while User.objects.filter(username__iexact=candidate).exists():
        candidate = f"{base}{secrets.randbelow(10_000):04d}"
    return candidate


def check_application_name(value: Any) -> str:
    return names.clean_name(value, "name", max_length=NAME_MAX, min_length=2)


def access_application(owner: User, application_id: Any) -> Application:
    try:
        return Application.objects.select_related("bot").get(
            id=int(application_id), owner_id=owner.id
        )
    except (Application.DoesNotExist, ValueError, TypeError, OverflowError):
        raise unknown_application() from None


def list_applications(owner: User) -> list[Application]:
    return list(Application.objects.filter(owner=owner).select_related("bot").order_by("id"))


def check_create_application(owner: User, name: Any) -> tuple[Application, str]:
    if owner.is_bot:
        raise Forbidden("A bot cannot own applications")
    clean = check_application_name(name)
    if Application.objects.filter(owner=owner).count() >= MAX_APPLICATIONS_PER_OWNER:
        raise Invalid(
            errors={"name": [f"You have {MAX_APPLICATIONS_PER_OWNER} applications already."]}
        )
    return do_create_application(owner, clean)


@transaction.atomic
def do_create_application(owner: User, name: str) -> tuple[Application, str]:
    """The application, and its token: the only time it is known in the clear."""
    bot = User(username=_bot_username(name), display_name=name, is_bot=True)
    bot.set_unusable_password()
    bot.save()
    token = _new_token(bot.id)
    app = Application.objects.create(owner=owner, bot=bot, name=name, token_digest=digest(token))
    return app, token


def check_reset_token(owner: User, application_id: Any) -> tuple[Application, str]:
    return do_reset_token(access_application(owner, application_id))


@transaction.atomic
def do_reset_token(app: Application) -> tuple[Application, str]:
    """A new token; the old one stops working at once, and the bot's open gateway sockets
    close (they were opened with the old one)."""
    token = _new_token(app.bot_id)
    app.token_digest = digest(token)
    app.token_reset_at = timezone.now()
    app.save(update_fields=["token_digest", "token_reset_at"])
    events.disconnect_user(app.bot_id)
    return app, token


def check_set_message_content(owner: User, application_id: Any, enabled: Any) -> Application:
    app = access_application(owner, application_id)
    if not isinstance(enabled, bool):
        raise Invalid(errors={"message_content": ["Must be true or false."]})
    return do_set_message_content(app, enabled)


def do_set_message_content(app: Application, enabled: bool) -> Application:
    withdrawn = app.message_content and not enabled
    app.message_content = enabled
    app.save(update_fields=["message_content"])
    if withdrawn:
        # Intents are fixed at IDENTIFY, and a session that had the intent cannot be resumed
        # (bots/consumers.py): the bot's sockets close and it must identify without it. A
        # grant needs nothing: no connection can hold an intent it was refused.
        events.disconnect_user(app.bot_id)
    return app


def authenticate_token(raw: Any) -> Application | None:
    """The application whose bot this token is, or None (unknown, reset, or the bot's
    account deactivated by the operator)."""
    if not isinstance(raw, str) or not raw or len(raw) > 200:
        return None
    app = (
        Application.objects.select_related("bot")
        .filter(token_digest=digest(raw.removeprefix("Bot ").strip()))
        .first()
    )
    if app is None or not app.bot.is_active:
        return None
    return app


def application_of(bot: User) -> Application | None:
    return Application.objects.filter(bot=bot).first()


# --- installing a bot into a guild ----------------------------------------------------------


def parse_permissions(value: Any) -> int:
    try:
        bits = int(value or 0)
    except (TypeError, ValueError):
        raise Invalid(errors={"permissions": ["Must be a permission bit set."]}) from None
    if bits < 0 or bits & ~INSTALLABLE:
        raise Invalid(errors={"permissions": ["Unknown or not installable permissions."]})
    return bits


def permission_words(bits: int) -> list[permission_labels.Label]:
    """The requested permissions as the role editor names and explains them."""
    return [label for label in permission_labels.LABELS if bits & label.bit]


def access_public_application(application_id: Any) -> Application:
    """Anyone signed in may look at an install link; what it can do is decided on install."""
    try:
        return Application.objects.select_related("bot", "owner").get(id=int(application_id))
    except (Application.DoesNotExist, ValueError, TypeError, OverflowError):
        raise unknown_application() from None


def install_targets(user: User, app: Application) -> list[Guild]:
    """Guilds where `user` has MANAGE_GUILD and the bot is not a member yet."""
    found = []
    present = set(Member.objects.filter(user=app.bot).values_list("guild_id", flat=True))
    for guild_id in Member.objects.filter(user=user).values_list("guild_id", flat=True):
        if guild_id in present:
            continue
        try:
            ctx = guild_context(user, guild_id)
        except NotFound:
            continue
        if perms.has(ctx.base, perms.P.MANAGE_GUILD):
            found.append(ctx.guild)
    return sorted(found, key=lambda g: g.name.lower())


def check_install(user: User, application_id: Any, guild_id: Any, permissions: Any) -> Installation:
    app = access_public_application(application_id)
    bits = parse_permissions(permissions)
    try:
        guild_id = int(guild_id)
    except (TypeError, ValueError):
        raise Invalid(errors={"guild_id": ["Choose a guild."]}) from None
    with transaction.atomic():
        ctx = guild_context(user, guild_id, lock=True)
        ctx.require(perms.P.MANAGE_GUILD)
        if bits & ~ctx.base and not ctx.is_admin:
            missing = perms.Permissions(bits & ~ctx.base)
            raise Forbidden(f"You cannot give a bot permissions you lack ({missing.name})")
        from guilds import ports

        if ports.is_banned(guild_id, app.bot_id):
            raise Forbidden("This bot is banned from that guild")
        if Member.objects.filter(guild_id=guild_id, user=app.bot).exists():
            raise Invalid(errors={"guild_id": ["The bot is in that guild already."]})
        return do_install(ctx.guild, app, bits, installed_by=user)


@transaction.atomic
def do_install(
    guild: Guild, app: Application, bits: int, *, installed_by: User | None
) -> Installation:
    member, _ = do_add_member(guild, app.bot)
    role = None
    if bits:
        actor_ctx = (
            guild_context(installed_by, guild.id) if installed_by is not None else None
        ) or node_context(guild)
        role = role_services.do_create_role(
            actor_ctx,
            {"name": app.name[:100], "permissions": bits},
            reason=f"bot {app.name} installed",
        )
        # The managed role is the node's to hand out, not the installer's: they may lack
        # MANAGE_ROLES, and Discord gives a bot its role with MANAGE_GUILD alone.
        do_change_member_roles(
            node_context(guild), member, add={role.id}, remove=set(), reason="bot installed"
        )
    installation, _ = Installation.objects.update_or_create(
        application=app,
        guild=guild,
        defaults={"role": role, "installed_by": installed_by, "permissions": bits},
    )
    return installation


def managed_roles(guild_id: int) -> dict[str, str]:
    """The guild's managed roles, role id → the bot user id it was made for (Discord's role
    `tags.bot_id`, by which discord.js finds a bot's own role)."""
    rows = Installation.objects.filter(guild_id=guild_id, role__isnull=False).values_list(
        "role_id", "application__bot_id"
    )
    return {str(role_id): str(bot_id) for role_id, bot_id in rows}


def on_event(event: events.Published) -> None:
    """A bot that leaves a guild (kicked, banned, its account closed) takes its managed role
    with it, as on Discord: nobody else holds it, and it would otherwise linger with the
    permissions it was made for."""
    if event.t != "GUILD_MEMBER_REMOVE" or event.origin is not None:
        return
    user = event.d.get("user") or {}
    if not user.get("bot"):
        return
    do_uninstall(int(event.d["guild_id"]), int(user["id"]))


def do_uninstall(guild_id: int, bot_id: int) -> None:
    installation = (
        Installation.objects.filter(guild_id=guild_id, application__bot_id=bot_id)
        .select_related("role", "guild")
        .first()
    )
    if installation is None:
        return
    role = installation.role
    installation.delete()
    if role is not None:
        role_services.do_delete_role(node_context(installation.guild), role, reason="bot removed")
