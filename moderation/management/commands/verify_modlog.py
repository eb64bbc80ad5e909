"""`manage.py verify_modlog GUILD_ID`: replay a guild's moderation log and report the first
broken or missing entry (exit status 1), using the same verifier an offline check uses."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError, CommandParser

from guilds.models import Guild
from moderation.services.audit import verify_guild_modlog


class Command(BaseCommand):
    help = "Verify a guild's hash-chained, signed moderation log."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("guild_id", type=int)

    def handle(self, *args, guild_id: int, **options) -> None:
        if not Guild.objects.filter(id=guild_id).exists():
            raise CommandError(f"no guild {guild_id}")
        result = verify_guild_modlog(guild_id)
        if result.ok:
            self.stdout.write(str(result))
            return
        self.stderr.write(str(result))
        sys.exit(1)
