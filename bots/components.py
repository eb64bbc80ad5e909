"""Message components and modals as Discord shapes them, validated where a bot sends them
(an interaction's reply or update, a follow-up) and read back when a member clicks.

Supported: action rows (1) holding buttons (2: styles 1-5, `custom_id`, link buttons with
`url`, `disabled`, `label`, `emoji`) or one string select (3: `custom_id`, `options`,
`placeholder`, `min_values`, `max_values`, `disabled`); modals hold action rows with one text
input (4) each. Other component types are refused with Discord's error shape.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from united.errors import Invalid

ACTION_ROW, BUTTON, STRING_SELECT, TEXT_INPUT = 1, 2, 3, 4
LINK = 5
MAX_ROWS = 5
MAX_BUTTONS_PER_ROW = 5
MAX_SELECT_OPTIONS = 25
CUSTOM_ID_MAX = 100
LABEL_MAX = 80
MODAL_TITLE_MAX = 45
TEXT_INPUT_MAX = 4000


def _fail(path: str, message: str) -> Invalid:
    return Invalid(
        "Invalid Form Body",
        errors={path: {"_errors": [{"code": "COMPONENT_INVALID", "message": message}]}},
    )


def _string(value: Any, path: str, *, high: int, low: int = 1, required: bool = True) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not low <= len(value) <= high or "\x00" in value:
        raise _fail(path, f"Must be text of {low} to {high} characters.")
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in value):
        raise _fail(path, "Must be valid text.")
    return value


def _emoji(value: Any, path: str) -> dict[str, Any] | None:
    # Only Unicode emoji exist on a node; a custom one (with an id) is shown by name only.
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _fail(path, "Must be an emoji object.")
    name = _string(value.get("name"), f"{path}.name", high=32, required=False)
    return {"name": name} if name else None


def _bool(value: Any, path: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _fail(path, "Must be true or false.")
    return value


def _count(value: Any, path: str, *, low: int, high: int, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _fail(path, f"Must be a whole number from {low} to {high}.")
    return value


def _button(raw: dict[str, Any], path: str, seen: set[str]) -> dict[str, Any]:
    style = raw.get("style")
    if isinstance(style, bool) or style not in (1, 2, 3, 4, 5):
        raise _fail(f"{path}.style", "Button styles are 1 to 5.")
    out: dict[str, Any] = {"type": BUTTON, "style": style}
    label = _string(raw.get("label"), f"{path}.label", high=LABEL_MAX, required=False)
    emoji = _emoji(raw.get("emoji"), f"{path}.emoji")
    if label is None and emoji is None:
        raise _fail(path, "A button needs a label or an emoji.")
    if label is not None:
        out["label"] = label
    if emoji is not None:
        out["emoji"] = emoji
    out["disabled"] = _bool(raw.get("disabled"), f"{path}.disabled")
    if style == LINK:
        url = _string(raw.get("url"), f"{path}.url", high=512)
        parts = urlsplit(url or "")
        if parts.scheme not in ("https", "http") or not parts.netloc:
            raise _fail(f"{path}.url", "A link button needs an http(s) URL.")
        if raw.get("custom_id") is not None:
            raise _fail(f"{path}.custom_id", "A link button has no custom_id.")
        out["url"] = url
    else:
        out["custom_id"] = _custom_id(raw.get("custom_id"), f"{path}.custom_id", seen)
    return out


def _custom_id(value: Any, path: str, seen: set[str]) -> str:
    custom_id = _string(value, path, high=CUSTOM_ID_MAX)
    assert custom_id is not None
    if custom_id in seen:
        raise _fail(path, "custom_id must be unique within the message.")
    seen.add(custom_id)
    return custom_id


def _select(raw: dict[str, Any], path: str, seen: set[str]) -> dict[str, Any]:
    options = raw.get("options")
    if not isinstance(options, list) or not 1 <= len(options) <= MAX_SELECT_OPTIONS:
        raise _fail(f"{path}.options", f"A select has 1 to {MAX_SELECT_OPTIONS} options.")
    values: set[str] = set()
    clean = []
    for i, option in enumerate(options):
        where = f"{path}.options.{i}"
        if not isinstance(option, dict):
            raise _fail(where, "Must be an object.")
        value = _string(option.get("value"), f"{where}.value", high=100)
        if value in values:
            raise _fail(f"{where}.value", "Option values must be unique.")
        values.add(value)  # type: ignore[arg-type]
        item: dict[str, Any] = {
            "label": _string(option.get("label"), f"{where}.label", high=100),
            "value": value,
            "default": _bool(option.get("default"), f"{where}.default"),
        }
        description = _string(
            option.get("description"), f"{where}.description", high=100, required=False
        )
        if description:
            item["description"] = description
        emoji = _emoji(option.get("emoji"), f"{where}.emoji")
        if emoji:
            item["emoji"] = emoji
        clean.append(item)
    low = _count(raw.get("min_values"), f"{path}.min_values", low=0, high=25, default=1)
    high = _count(raw.get("max_values"), f"{path}.max_values", low=1, high=25, default=1)
    if low > high or low > len(clean):
        raise _fail(f"{path}.min_values", "min_values must fit the options and max_values.")
    out: dict[str, Any] = {
        "type": STRING_SELECT,
        "custom_id": _custom_id(raw.get("custom_id"), f"{path}.custom_id", seen),
        "options": clean,
        "min_values": low,
        "max_values": min(high, len(clean)),
        "disabled": _bool(raw.get("disabled"), f"{path}.disabled"),
    }
    placeholder = _string(raw.get("placeholder"), f"{path}.placeholder", high=150, required=False)
    if placeholder:
        out["placeholder"] = placeholder
    return out


def clean_components(value: Any, path: str = "components") -> list[dict[str, Any]]:
    """A message's components: up to 5 action rows of up to 5 buttons or one select."""
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_ROWS:
        raise _fail(path, f"Up to {MAX_ROWS} action rows.")
    seen: set[str] = set()
    rows = []
    for r, row in enumerate(value):
        where = f"{path}.{r}"
        if not isinstance(row, dict) or row.get("type") != ACTION_ROW:
            raise _fail(where, "Top-level components must be action rows (type 1).")
        children = row.get("components")
        if not isinstance(children, list) or not children:
            raise _fail(f"{where}.components", "An action row holds components.")
        kinds = [c.get("type") if isinstance(c, dict) else None for c in children]
        if all(k == BUTTON and not isinstance(k, bool) for k in kinds):
            if len(children) > MAX_BUTTONS_PER_ROW:
                raise _fail(f"{where}.components", "Up to 5 buttons in a row.")
            clean = [_button(c, f"{where}.components.{i}", seen) for i, c in enumerate(children)]
        elif kinds == [STRING_SELECT] and not isinstance(kinds[0], bool):
            clean = [_select(children[0], f"{where}.components.0", seen)]
        else:
            raise _fail(
                f"{where}.components", "A row holds buttons (type 2) or one string select (3)."
            )
        rows.append({"type": ACTION_ROW, "components": clean})
    return rows


def clean_modal(value: Any) -> dict[str, Any]:
    """A modal (callback type 9): title, custom_id and 1-5 rows of one text input each."""
    if not isinstance(value, dict):
        raise _fail("data", "A modal is an object.")
    seen: set[str] = set()
    custom_id = _custom_id(value.get("custom_id"), "data.custom_id", seen)
    title = _string(value.get("title"), "data.title", high=MODAL_TITLE_MAX)
    rows = value.get("components")
    if not isinstance(rows, list) or not 1 <= len(rows) <= MAX_ROWS:
        raise _fail("data.components", "A modal has 1 to 5 rows.")
    clean_rows = []
    for r, row in enumerate(rows):
        where = f"data.components.{r}"
        children = row.get("components") if isinstance(row, dict) else None
        if (
            not isinstance(row, dict)
            or row.get("type") != ACTION_ROW
            or not isinstance(children, list)
            or len(children) != 1
            or not isinstance(children[0], dict)
            or children[0].get("type") != TEXT_INPUT
        ):
            raise _fail(where, "Each row of a modal holds one text input (type 4).")
        raw = children[0]
        path = f"{where}.components.0"
        style = raw.get("style", 1)
        if isinstance(style, bool) or style not in (1, 2):
            raise _fail(f"{path}.style", "Text input styles are 1 (short) and 2 (paragraph).")
        low = _count(raw.get("min_length"), f"{path}.min_length", low=0, high=4000, default=0)
        high = _count(
            raw.get("max_length"), f"{path}.max_length", low=1, high=4000, default=TEXT_INPUT_MAX
        )
        if low > high:
            raise _fail(f"{path}.min_length", "min_length must not pass max_length.")
        text: dict[str, Any] = {
            "type": TEXT_INPUT,
            "custom_id": _custom_id(raw.get("custom_id"), f"{path}.custom_id", seen),
            "style": style,
            "label": _string(raw.get("label"), f"{path}.label", high=45),
            "min_length": low,
            "max_length": high,
            "required": True if raw.get("required") is None else _bool(raw["required"], path),
        }
        for key, limit in (("value", 4000), ("placeholder", 100)):
            got = _string(raw.get(key), f"{path}.{key}", high=limit, low=0, required=False)
            if got:
                text[key] = got
        clean_rows.append({"type": ACTION_ROW, "components": [text]})
    return {"custom_id": custom_id, "title": title, "components": clean_rows}


def find(components: list[dict[str, Any]], custom_id: str) -> dict[str, Any] | None:
    for row in components or []:
        for child in row.get("components", []):
            if child.get("custom_id") == custom_id:
                return child
    return None


def check_values(component: dict[str, Any], values: Any) -> list[str]:
    """What a member picked in a select: known values, within min/max."""
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise Invalid(errors={"values": ["Must be a list of option values."]})
    known = {o["value"] for o in component.get("options", [])}
    if len(set(values)) != len(values) or not set(values) <= known:
        raise Invalid(errors={"values": ["Pick among the menu's options."]})
    if not component.get("min_values", 1) <= len(values) <= component.get("max_values", 1):
        raise Invalid(errors={"values": ["Pick as many options as the menu asks."]})
    return values


def check_modal_values(modal: dict[str, Any], submitted: Any) -> list[dict[str, Any]]:
    """A submitted modal as Discord passes it on: rows of {type 4, custom_id, value}, each
    value checked against its input's length and required flag."""
    if not isinstance(submitted, dict):
        raise Invalid(errors={"components": ["Must map each field to its text."]})
    rows = []
    for row in modal["components"]:
        field = row["components"][0]
        value = submitted.get(field["custom_id"], "")
        if (
            not isinstance(value, str)
            or "\x00" in value
            or any(0xD800 <= ord(ch) <= 0xDFFF for ch in value)
        ):
            raise Invalid(errors={field["custom_id"]: ["Must be text."]})
        value = value.strip() if not value.strip() else value
        if not value and field["required"]:
            raise Invalid(errors={field["custom_id"]: [f"{field['label']} is required."]})
        if value and not field["min_length"] <= len(value) <= field["max_length"]:
            raise Invalid(
                errors={
                    field["custom_id"]: [
                        f"{field['min_length']} to {field['max_length']} characters."
                    ]
                }
            )
        rows.append(
            {
                "type": ACTION_ROW,
                "components": [
                    {"type": TEXT_INPUT, "custom_id": field["custom_id"], "value": value}
                ],
            }
        )
    return rows
