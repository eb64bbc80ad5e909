"""Create the node's first operator account if none exists; print its password once."""

from __future__ import annotations

import secrets
from typing import Any

from django.core.management.base import BaseCommand

from accounts.models import User


class Command(BaseCommand):
    help = "Create an operator (superuser) account if the node has none."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--username", default="operator")

    def handle(self, *args: Any, username: str, **options: Any) -> None:
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write("An operator account exists already.")
            return
        password = secrets.token_urlsafe(18)
        User.objects.create_superuser(username=username, password=password)
        line = "=" * 64
        self.stdout.write(
            f"{line}\n  Operator account created. These credentials are shown ONCE:\n"
            f"    username: {username}\n    password: {password}\n"
            f"  Sign in at /admin/ and change the password.\n{line}"
        )
