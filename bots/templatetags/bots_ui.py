"""Template helpers for what applications put under their messages (bots/components.py)."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()

BUTTON_STYLES = {1: "primary", 2: "secondary", 3: "success", 4: "danger", 5: "link"}


@register.filter
def has_flag(flags: Any, bit: int) -> bool:
    try:
        return bool(int(flags) & int(bit))
    except (TypeError, ValueError):
        return False


@register.filter
def button_style(style: Any) -> str:
    return BUTTON_STYLES.get(style, "secondary")
