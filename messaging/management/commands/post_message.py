"""Post a message as a member from a script or cron (a scheduled announcement): the same
`check_send_message` as the app, with that member as the actor, so permissions, slow mode,
the gateway and federation (a replica's message goes to its host as theirs) all apply."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import User
from messaging.services.messages import check_send_message
from united.errors import APIError


class Command(BaseCommand):
    help = "Post a message in a channel as the given member."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", help="the member who posts (a local account)")
        parser.add_argument("channel_id", type=int)
        parser.add_argument("content")

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(username=options["username"], is_active=True).first()
        if user is None or "@" in user.username:
            raise CommandError(f"no local account named {options['username']!r}")
        try:
            message, _ = check_send_message(user, options["channel_id"], content=options["content"])
        except APIError as exc:
            raise CommandError(f"refused: {exc.message}") from None
        self.stdout.write(str(message.id))
