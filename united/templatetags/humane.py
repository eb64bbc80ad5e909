from __future__ import annotations

from datetime import datetime

from django import template
from django.utils.safestring import SafeString

from united import humane

register = template.Library()


@register.filter(name="when")
def when(moment: datetime | str | None) -> SafeString | str:
    """`{{ session.last_used_at|when }}`: "3 hours ago", the exact date in its tooltip."""
    return humane.when(moment)
