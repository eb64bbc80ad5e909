"""Application commands: what a bot registers so members can invoke it (docs/bots.md).

Discord's model, kept as Discord validates it, because bot libraries build their command
trees against those rules and expect the same refusals: CHAT_INPUT (slash) commands with
typed options, subcommands and subcommand groups, and USER and MESSAGE context-menu
commands. A command is global (every guild the bot is in) or belongs to one guild. The
payload a bot sends is cleaned into the stored shape here; a refusal is Discord's 50035
"Invalid Form Body" with its nested `errors` (`{"options": {"0": {"name": {"_errors":
[{"code", "message"}]}}}}`), which discord.py flattens into a readable line.

Bulk overwrite (PUT, what `CommandTree.sync` calls) matches existing commands by type and
name and keeps their ids, so a member's open picker stays valid across a bot restart.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Q

from accounts.models import User
from bots.models import Application, ApplicationCommand
from guilds.models import Member
from united.errors import APIError, Forbidden, Invalid, NotFound
from united.ids import new_id

CHAT_INPUT, USER, MESSAGE = 1, 2, 3
COMMAND_TYPES = {CHAT_INPUT, USER, MESSAGE}
SUB_COMMAND, SUB_COMMAND_GROUP = 1, 2
STRING, INTEGER, BOOLEAN, USER_OPT, CHANNEL, ROLE, MENTIONABLE, NUMBER, ATTACHMENT = range(3, 12)
OPTION_TYPES = {SUB_COMMAND, SUB_COMMAND_GROUP, *range(3, 12)}
CHOICE_TYPES = {STRING, INTEGER, NUMBER}

# Discord's limits (docs/security.md repeats them).
NAME_MAX = 32
DESCRIPTION_MAX = 100
MAX_OPTIONS = 25
MAX_CHOICES = 25
CHOICE_NAME_MAX = 100
CHOICE_STRING_MAX = 100
STRING_LENGTH_MAX = 6000
COMBINED_TEXT_MAX = 8000
# Per application and scope (global, or one guild): CHAT_INPUT, USER, MESSAGE.
MAX_COMMANDS = {CHAT_INPUT: 100, USER: 15, MESSAGE: 15}
# Discord's integers are doubles on the wire: anything past 2**53 is refused.
NUMBER_LIMIT = 2**53
# Contexts: GUILD, BOT_DM, PRIVATE_CHANNEL; integration types: GUILD_INSTALL, USER_INSTALL.
CONTEXTS = {0, 1, 2}
INTEGRATION_TYPES = {0, 1}
# Devanagari and Thai, which Discord's name regex admits besides letters and numbers.
_SCRIPTS = ((0x0900, 0x097F), (0x0E00, 0x0E7F))

_LOCALE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z]{2,4})?")
UNKNOWN_COMMAND = 10063
MAX_COMMANDS_REACHED = 30032


def unknown_command() -> NotFound:
    return NotFound("Unknown application command", code=UNKNOWN_COMMAND)


def missing_access() -> Forbidden:
    return Forbidden("Missing Access", code=50001)


@dataclass
class Errors:
    """Discord's nested error tree, collected while cleaning one payload."""

    tree: dict[str, Any] = field(default_factory=dict)

    def add(self, path: tuple[str | int, ...], code: str, message: str) -> None:
        node = self.tree
        for part in path:
            node = node.setdefault(str(part), {})
        node.setdefault("_errors", []).append({"code": code, "message": message})

    def raise_if_any(self) -> None:
        if self.tree:
            raise Invalid("Invalid Form Body", errors=self.tree)


def _name_char_ok(ch: str) -> bool:
    if ch in "-_'":
        return True
    if unicodedata.category(ch)[0] in "LN":
        return True
    return any(lo <= ord(ch) <= hi for lo, hi in _SCRIPTS)


def _chat_name(value: Any, errors: Errors, path: tuple[str | int, ...]) -> str:
    """Discord's `^[-_'\\p{L}\\p{N}\\p{sc=Deva}\\p{sc=Thai}]{1,32}$`, lowercase where a
    letter has a lowercase form."""
    if not isinstance(value, str) or not value:
        errors.add(path, "BASE_TYPE_REQUIRED", "This field is required")
        return ""
    if len(value) > NAME_MAX:
        errors.add(path, "BASE_TYPE_BAD_LENGTH", f"Must be between 1 and {NAME_MAX} in length.")
    elif not all(_name_char_ok(ch) for ch in value):
        errors.add(path, "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
    elif value != value.lower():
        errors.add(path, "APPLICATION_COMMAND_INVALID_NAME", "Command name must be lowercase")
    return value


def _menu_name(value: Any, errors: Errors, path: tuple[str | int, ...]) -> str:
    # Context-menu names are shown as they are: spaces and capitals allowed, 1-32 printable.
    if not isinstance(value, str) or not value.strip():
        errors.add(path, "BASE_TYPE_REQUIRED", "This field is required")
        return ""
    if len(value) > NAME_MAX:
        errors.add(path, "BASE_TYPE_BAD_LENGTH", f"Must be between 1 and {NAME_MAX} in length.")
    elif any(unicodedata.category(ch)[0] == "C" for ch in value):
        errors.add(path, "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
    return value


def _text(value: Any, errors: Errors, path: tuple[str | int, ...], *, low: int, high: int) -> str:
    if value is None and low == 0:
        return ""
    if not isinstance(value, str):
        errors.add(
            path,
            "BASE_TYPE_REQUIRED" if value is None else "BASE_TYPE_STRING",
            "This field is required" if value is None else "Must be a string.",
        )
        return ""
    if not low <= len(value) <= high or any(unicodedata.category(ch) == "Cs" for ch in value):
        errors.add(path, "BASE_TYPE_BAD_LENGTH", f"Must be between {low} and {high} in length.")
    elif "\x00" in value:
        errors.add(path, "BASE_TYPE_STRING", "Must not contain NUL.")
    return value


def _localizations(value: Any, errors: Errors, path: tuple[str | int, ...]) -> dict[str, str]:
    # Kept as given for libraries that read them back; the web client shows the default name.
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > 40:
        errors.add(path, "DICT_TYPE_CONVERT", "Must be an object of locale to text.")
        return {}
    out = {}
    for locale, text in value.items():
        if not _LOCALE.fullmatch(locale):
            errors.add(path, "LOCALE_INVALID", "Locales are written like en-US.")
        elif (
            not isinstance(text, str)
            or not 1 <= len(text) <= DESCRIPTION_MAX
            or any(unicodedata.category(ch) in ("Cs", "Cc") for ch in text)
        ):
            errors.add((*path, locale), "BASE_TYPE_BAD_LENGTH", "Must be 1 to 100 in length.")
        else:
            out[locale] = text
    return out


def _bool(value: Any, errors: Errors, path: tuple[str | int, ...], default: bool) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        errors.add(path, "BASE_TYPE_BOOLEAN", "Must be either true or false.")
        return default
    return value


def _number(value: Any, kind: int, errors: Errors, path: tuple[str | int, ...]) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        errors.add(path, "NUMBER_TYPE_COERCE", "Must be a number.")
        return 0
    if kind == INTEGER and not (isinstance(value, int) or float(value).is_integer()):
        errors.add(path, "INTEGER_TYPE_COERCE", "Must be an integer.")
        return 0
    if value != value or not -NUMBER_LIMIT <= value <= NUMBER_LIMIT:
        errors.add(path, "NUMBER_TYPE_MAX", "Must be between -2^53 and 2^53.")
        return 0
    return int(value) if kind == INTEGER else value


def _int_list(
    value: Any, allowed: set[int] | None, errors: Errors, path: tuple[str | int, ...]
) -> list[int] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > 25:
        errors.add(path, "LIST_TYPE_CONVERT", "Must be a list of numbers.")
        return None
    out = []
    for i, item in enumerate(value):
        if (
            isinstance(item, bool)
            or not isinstance(item, int)
            or (allowed is not None and item not in allowed)
            or not 0 <= item < 64
        ):
            errors.add((*path, i), "ENUM_TYPE_COERCE", f"Value {item!r} is not a valid choice.")
        else:
            out.append(item)
    return sorted(set(out))


def _choices(
    value: Any, kind: int, errors: Errors, path: tuple[str | int, ...]
) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        errors.add(path, "LIST_TYPE_CONVERT", "Must be a list.")
        return []
    if len(value) > MAX_CHOICES:
        errors.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_CHOICES} or fewer in length.")
        return []
    out = []
    for i, choice in enumerate(value):
        where = (*path, i)
        if not isinstance(choice, dict):
            errors.add(where, "DICT_TYPE_CONVERT", "Must be an object.")
            continue
        name = _text(choice.get("name"), errors, (*where, "name"), low=1, high=CHOICE_NAME_MAX)
        raw = choice.get("value")
        if kind == STRING:
            val: Any = _text(raw, errors, (*where, "value"), low=1, high=CHOICE_STRING_MAX)
        else:
            val = _number(raw, kind, errors, (*where, "value"))
        item: dict[str, Any] = {"name": name, "value": val}
        locs = _localizations(
            choice.get("name_localizations"), errors, (*where, "name_localizations")
        )
        if locs:
            item["name_localizations"] = locs
        out.append(item)
    return out


def _options(
    value: Any, errors: Errors, path: tuple[str | int, ...], *, parent: int | None
) -> list[dict[str, Any]]:
    """Options at one level, inside `parent` (None: the command itself, else the option type
    holding them). Groups sit at the top and hold only subcommands; a subcommand sits at the
    top or in a group; a level with subcommands holds nothing else (Discord's rules)."""
    if value is None:
        return []
    if not isinstance(value, list):
        errors.add(path, "LIST_TYPE_CONVERT", "Must be a list.")
        return []
    if len(value) > MAX_OPTIONS:
        errors.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_OPTIONS} or fewer in length.")
        return []
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    optional_seen = False
    for i, raw in enumerate(value):
        where = (*path, i)
        if not isinstance(raw, dict):
            errors.add(where, "DICT_TYPE_CONVERT", "Must be an object.")
            continue
        kind = raw.get("type")
        if not isinstance(kind, int) or isinstance(kind, bool) or kind not in OPTION_TYPES:
            errors.add(
                (*where, "type"), "ENUM_TYPE_COERCE", f"Value {kind!r} is not a valid enum value."
            )
            continue
        name = _chat_name(raw.get("name"), errors, (*where, "name"))
        if name in seen:
            errors.add(
                (*where, "name"),
                "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS",
                "Option names must be unique",
            )
        seen.add(name)
        option: dict[str, Any] = {
            "type": kind,
            "name": name,
            "description": _text(
                raw.get("description"), errors, (*where, "description"), low=1, high=DESCRIPTION_MAX
            ),
        }
        for key in ("name_localizations", "description_localizations"):
            locs = _localizations(raw.get(key), errors, (*where, key))
            if locs:
                option[key] = locs
        if kind in (SUB_COMMAND, SUB_COMMAND_GROUP):
            allowed = (None,) if kind == SUB_COMMAND_GROUP else (None, SUB_COMMAND_GROUP)
            if parent not in allowed:
                errors.add(
                    (*where, "type"),
                    "APPLICATION_COMMAND_OPTION_TYPE_INVALID",
                    "Subcommands cannot be nested this deep",
                )
            inner = _options(raw.get("options"), errors, (*where, "options"), parent=kind)
            if kind == SUB_COMMAND_GROUP and any(o["type"] != SUB_COMMAND for o in inner):
                errors.add(
                    (*where, "options"),
                    "APPLICATION_COMMAND_OPTION_TYPE_INVALID",
                    "A subcommand group holds only subcommands",
                )
            option["options"] = inner
            out.append(option)
            continue
        required = _bool(raw.get("required"), errors, (*where, "required"), False)
        if required and optional_seen:
            errors.add(
                (*where, "required"),
                "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                "Required options must be placed before non-required options",
            )
        optional_seen = optional_seen or not required
        option["required"] = required
        autocomplete = _bool(raw.get("autocomplete"), errors, (*where, "autocomplete"), False)
        if raw.get("choices") not in (None, []):
            if kind not in CHOICE_TYPES:
                errors.add(
                    (*where, "choices"),
                    "APPLICATION_COMMAND_OPTION_CHOICES_INVALID",
                    "Only string, integer and number options have choices",
                )
            elif autocomplete:
                errors.add(
                    (*where, "autocomplete"),
                    "APPLICATION_COMMAND_AUTOCOMPLETE_CHOICES",
                    "Autocomplete cannot be set with choices",
                )
            else:
                option["choices"] = _choices(raw["choices"], kind, errors, (*where, "choices"))
        if autocomplete:
            if kind not in CHOICE_TYPES:
                errors.add(
                    (*where, "autocomplete"),
                    "APPLICATION_COMMAND_OPTION_TYPE_INVALID",
                    "Only string, integer and number options autocomplete",
                )
            option["autocomplete"] = True
        if kind in (INTEGER, NUMBER):
            for key in ("min_value", "max_value"):
                if raw.get(key) is not None:
                    option[key] = _number(raw[key], kind, errors, (*where, key))
            if option.get("min_value", 0) > option.get("max_value", option.get("min_value", 0)):
                errors.add((*where, "max_value"), "NUMBER_TYPE_MIN", "Must not be below min_value.")
        if kind == STRING:
            for key in ("min_length", "max_length"):
                got = raw.get(key)
                if got is None:
                    continue
                if (
                    isinstance(got, bool)
                    or not isinstance(got, int)
                    or not ((0 if key == "min_length" else 1) <= got <= STRING_LENGTH_MAX)
                ):
                    errors.add(
                        (*where, key),
                        "NUMBER_TYPE_MAX",
                        f"Must be a whole number up to {STRING_LENGTH_MAX}.",
                    )
                else:
                    option[key] = got
            if option.get("min_length", 0) > option.get("max_length", STRING_LENGTH_MAX):
                errors.add(
                    (*where, "max_length"), "NUMBER_TYPE_MIN", "Must not be below min_length."
                )
        if kind == CHANNEL:
            types = _int_list(raw.get("channel_types"), None, errors, (*where, "channel_types"))
            if types:
                option["channel_types"] = types
        out.append(option)
    kinds = {o["type"] for o in out}
    if kinds & {SUB_COMMAND, SUB_COMMAND_GROUP} and kinds - {SUB_COMMAND, SUB_COMMAND_GROUP}:
        errors.add(
            path,
            "APPLICATION_COMMAND_OPTION_TYPE_INVALID",
            "Subcommands and options cannot be mixed on one level",
        )
    return out


def _combined_length(name: str, description: str, options: list[dict[str, Any]]) -> int:
    total = len(name) + len(description)
    for option in options:
        total += _combined_length(option["name"], option["description"], option.get("options", []))
        total += sum(len(c["name"]) + len(str(c["value"])) for c in option.get("choices", []))
    return total


def clean_command(
    raw: Any,
    errors: Errors,
    path: tuple[str | int, ...] = (),
    *,
    partial_of: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A bot's command payload as stored, or errors added under `path`. With `partial_of`
    (PATCH), fields missing from `raw` keep their stored values."""
    if not isinstance(raw, dict):
        errors.add(path, "DICT_TYPE_CONVERT", "Must be an object.")
        return {}
    if partial_of is not None:
        raw = {**partial_of, **raw, "type": partial_of["type"]}
    kind = raw.get("type", CHAT_INPUT)
    if kind is None:
        kind = CHAT_INPUT
    if not isinstance(kind, int) or isinstance(kind, bool) or kind not in COMMAND_TYPES:
        errors.add(
            (*path, "type"), "ENUM_TYPE_COERCE", f"Value {kind!r} is not a valid enum value."
        )
        return {}
    if kind == CHAT_INPUT:
        name = _chat_name(raw.get("name"), errors, (*path, "name"))
        description = _text(
            raw.get("description"), errors, (*path, "description"), low=1, high=DESCRIPTION_MAX
        )
        options = _options(raw.get("options"), errors, (*path, "options"), parent=None)
    else:
        name = _menu_name(raw.get("name"), errors, (*path, "name"))
        description = raw.get("description") or ""
        if description:
            errors.add(
                (*path, "description"),
                "APPLICATION_COMMAND_INVALID_DESCRIPTION",
                "Context menu commands cannot have a description",
            )
        if raw.get("options"):
            errors.add(
                (*path, "options"),
                "APPLICATION_COMMAND_OPTIONS_INVALID",
                "Context menu commands cannot have options",
            )
        options = []
    if _combined_length(name, description, options) > COMBINED_TEXT_MAX:
        errors.add(
            path,
            "APPLICATION_COMMAND_TOO_LARGE",
            f"Command exceeds maximum size ({COMBINED_TEXT_MAX})",
        )
    perms_raw = raw.get("default_member_permissions")
    permissions: int | None = None
    if perms_raw is not None:
        try:
            permissions = int(perms_raw)
            if isinstance(perms_raw, bool) or not 0 <= permissions < 2**53:
                raise ValueError
        except (TypeError, ValueError):
            errors.add(
                (*path, "default_member_permissions"),
                "NUMBER_TYPE_COERCE",
                "Must be a permission bit set.",
            )
            permissions = None
    return {
        "type": kind,
        "name": name,
        "description": description,
        "options": options,
        "default_member_permissions": permissions,
        "dm_permission": _bool(raw.get("dm_permission"), errors, (*path, "dm_permission"), True),
        "nsfw": _bool(raw.get("nsfw"), errors, (*path, "nsfw"), False),
        "contexts": _int_list(raw.get("contexts"), CONTEXTS, errors, (*path, "contexts")),
        "integration_types": _int_list(
            raw.get("integration_types"), INTEGRATION_TYPES, errors, (*path, "integration_types")
        ),
        "name_localizations": _localizations(
            raw.get("name_localizations"), errors, (*path, "name_localizations")
        ),
        "description_localizations": _localizations(
            raw.get("description_localizations"), errors, (*path, "description_localizations")
        ),
    }


# --- who may manage which commands ------------------------------------------------------------


def check_scope(app: Application, path_application_id: int, guild_id: int | None) -> None:
    """A bot manages its own application's commands, and a guild's only while it is in it."""
    if path_application_id != app.id:
        raise missing_access()
    if (
        guild_id is not None
        and not Member.objects.filter(guild_id=guild_id, user_id=app.bot_id).exists()
    ):
        raise missing_access()


def _scope(app: Application, guild_id: int | None) -> Any:
    rows = ApplicationCommand.objects.filter(application=app)
    return (
        rows.filter(guild_id=guild_id) if guild_id is not None else rows.filter(guild__isnull=True)
    )


def list_commands(app: Application, guild_id: int | None) -> list[ApplicationCommand]:
    return list(_scope(app, guild_id).order_by("id"))


def access_command(app: Application, guild_id: int | None, command_id: int) -> ApplicationCommand:
    found = _scope(app, guild_id).filter(id=command_id).first()
    if found is None:
        raise unknown_command()
    return found


def _apply(row: ApplicationCommand, clean: dict[str, Any]) -> bool:
    changed = False
    for key, value in clean.items():
        if getattr(row, key) != value:
            setattr(row, key, value)
            changed = True
    if changed:
        row.version = new_id()
    return changed


def _count_error(kind: int) -> APIError:
    return APIError(
        f"Maximum number of application commands reached ({MAX_COMMANDS[kind]})",
        code=MAX_COMMANDS_REACHED,
    )


def check_create_command(
    app: Application, guild_id: int | None, raw: Any
) -> tuple[ApplicationCommand, bool]:
    """Discord's POST: an upsert by (type, name). Returns the command and whether it is new."""
    errors = Errors()
    clean = clean_command(raw, errors)
    errors.raise_if_any()
    return do_create_command(app, guild_id, clean)


@transaction.atomic
def do_create_command(
    app: Application, guild_id: int | None, clean: dict[str, Any]
) -> tuple[ApplicationCommand, bool]:
    scope = _scope(app, guild_id)
    existing = scope.filter(type=clean["type"], name=clean["name"]).first()
    if existing is not None:
        if _apply(existing, clean):
            existing.save()
        return existing, False
    if scope.filter(type=clean["type"]).count() >= MAX_COMMANDS[clean["type"]]:
        raise _count_error(clean["type"])
    row = ApplicationCommand(application=app, guild_id=guild_id, version=new_id())
    _apply(row, clean)
    row.save()
    return row, True


def check_edit_command(
    app: Application, guild_id: int | None, command_id: int, raw: Any
) -> ApplicationCommand:
    row = access_command(app, guild_id, command_id)
    errors = Errors()
    clean = clean_command(raw, errors, partial_of=stored_fields(row))
    errors.raise_if_any()
    clash = _scope(app, guild_id).filter(type=row.type, name=clean["name"]).exclude(id=row.id)
    if clash.exists():
        Errors(
            {
                "name": {
                    "_errors": [
                        {
                            "code": "APPLICATION_COMMANDS_DUPLICATE_NAME",
                            "message": "Application command names must be unique",
                        }
                    ]
                }
            }
        ).raise_if_any()
    return do_edit_command(row, clean)


def do_edit_command(row: ApplicationCommand, clean: dict[str, Any]) -> ApplicationCommand:
    if _apply(row, clean):
        row.save()
    return row


def check_delete_command(app: Application, guild_id: int | None, command_id: int) -> None:
    do_delete_command(access_command(app, guild_id, command_id))


def do_delete_command(row: ApplicationCommand) -> None:
    row.delete()


def check_overwrite_commands(
    app: Application, guild_id: int | None, raw: Any
) -> list[ApplicationCommand]:
    """Discord's PUT: the given list becomes the scope's commands, matched to stored ones by
    `id` or by (type, name), which keep their ids; the rest are deleted."""
    errors = Errors()
    if not isinstance(raw, list):
        raise Invalid(
            "Invalid Form Body",
            errors={"_errors": [{"code": "LIST_TYPE_CONVERT", "message": "Must be a list."}]},
        )
    cleaned = [clean_command(item, errors, (i,)) for i, item in enumerate(raw)]
    seen: dict[tuple[int, str], int] = {}
    counts = dict.fromkeys(COMMAND_TYPES, 0)
    for i, clean in enumerate(cleaned):
        if not clean:
            continue
        key = (clean["type"], clean["name"])
        if key in seen:
            errors.add(
                (i, "name"),
                "APPLICATION_COMMANDS_DUPLICATE_NAME",
                "Application command names must be unique",
            )
        seen[key] = i
        counts[clean["type"]] += 1
        if counts[clean["type"]] > MAX_COMMANDS[clean["type"]]:
            errors.add(
                (i,),
                "APPLICATION_COMMANDS_MAX",
                f"Maximum number of application commands reached ({MAX_COMMANDS[clean['type']]})",
            )
    errors.raise_if_any()
    ids = [_snowflake(item.get("id")) if isinstance(item, dict) else None for item in raw]
    return do_overwrite_commands(app, guild_id, list(zip(ids, cleaned, strict=True)))


def _snowflake(value: Any) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if 0 < number < 2**63 else None


@transaction.atomic
def do_overwrite_commands(
    app: Application, guild_id: int | None, items: list[tuple[int | None, dict[str, Any]]]
) -> list[ApplicationCommand]:
    stored = {row.id: row for row in _scope(app, guild_id).select_for_update()}
    by_name = {(row.type, row.name): row for row in stored.values()}
    kept: list[ApplicationCommand] = []
    used: set[int] = set()
    for command_id, clean in items:
        row = stored.get(command_id) if command_id else None
        if row is None or row.type != clean["type"] or row.id in used:
            row = by_name.get((clean["type"], clean["name"]))
        if row is not None and row.id not in used:
            used.add(row.id)
            kept.append(row)
            continue
        kept.append(ApplicationCommand(application=app, guild_id=guild_id))
    # Deleted first: a renamed command must not clash with the one it replaces.
    _scope(app, guild_id).exclude(id__in=used).delete()
    for row, (_, clean) in zip(kept, items, strict=True):
        if row.pk is not None and row.id in used:
            if _apply(row, clean):
                row.save()
        else:
            row.version = new_id()
            _apply(row, clean)
            row.save()
    return kept


def stored_fields(row: ApplicationCommand) -> dict[str, Any]:
    return {
        "type": row.type,
        "name": row.name,
        "description": row.description,
        "options": row.options,
        "default_member_permissions": row.default_member_permissions,
        "dm_permission": row.dm_permission,
        "nsfw": row.nsfw,
        "contexts": row.contexts,
        "integration_types": row.integration_types,
        "name_localizations": row.name_localizations,
        "description_localizations": row.description_localizations,
    }


def shape(row: ApplicationCommand) -> dict[str, Any]:
    """Discord's ApplicationCommand object."""
    out: dict[str, Any] = {
        "id": str(row.id),
        "application_id": str(row.application_id),
        "version": str(row.version),
        **stored_fields(row),
    }
    if row.default_member_permissions is not None:
        out["default_member_permissions"] = str(row.default_member_permissions)
    if row.guild_id is not None:
        out["guild_id"] = str(row.guild_id)
    if row.contexts is None:
        del out["contexts"]
    if row.integration_types is None:
        out["integration_types"] = [0]
    return out


def commands_for(user: User, guild_id: int) -> Any:
    """The commands of the bots in a guild (global and the guild's own), for a member's
    picker; what the member may invoke is decided per invocation."""
    bots = Member.objects.filter(guild_id=guild_id, user__is_bot=True).values_list(
        "user_id", flat=True
    )
    return (
        ApplicationCommand.objects.filter(application__bot_id__in=bots)
        .filter(Q(guild__isnull=True) | Q(guild_id=guild_id))
        .select_related("application")
        .order_by("name", "id")
    )
