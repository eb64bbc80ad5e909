"""`manage.py backup`: one encrypted archive of the node (docs/operations.md, "Backups")."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from backup import crypto, services
from backup.database import Refused
from backup.management.commands._common import (
    EXIT_REFUSED,
    ask_passphrase,
    finish,
    progress_on,
    read_secret_file,
)
from backup.targets import TargetError


class Command(BaseCommand):
    help = (
        "Write an encrypted backup (database, media blobs, node keys, settings without secrets) "
        "to a directory or s3://bucket/prefix."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--to", help="directory or s3://bucket/prefix (default: UNITED_BACKUP_TARGET)"
        )
        parser.add_argument("--passphrase-file", help="file whose first line is the passphrase")
        parser.add_argument(
            "--recipient",
            help="public key (base64) to seal the archive to, instead of a passphrase",
        )
        parser.add_argument(
            "--keep", type=int, help="then delete all but the newest KEEP archives in the target"
        )
        parser.add_argument(
            "--new-keypair",
            metavar="FILE",
            help="only make a key pair: write the private key to FILE (mode 0600; keep it off "
            "this machine) and print the public key for --recipient / UNITED_BACKUP_RECIPIENT",
        )
        parser.add_argument("--quiet", action="store_true", help="no progress on stderr")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["new_keypair"]:
            self._keypair(Path(options["new_keypair"]))
            return
        spec = options["to"] or settings.CONFIG.backup_target
        if not spec:
            raise CommandError(
                "no target: give --to DIR|s3://bucket/prefix or set UNITED_BACKUP_TARGET"
            )
        if options["keep"] is not None and options["keep"] < 1:
            raise CommandError("--keep must be at least 1")
        sealer = self._sealer(options)
        quiet = options["quiet"]
        progress = progress_on(self.stderr, quiet)
        try:
            target = services.target_from(spec)
            result = services.do_backup(target, sealer, keep=options["keep"], progress=progress)
        except (Refused, TargetError) as exc:
            raise CommandError(str(exc), returncode=EXIT_REFUSED) from None
        except (OSError, BotoCoreError, ClientError) as exc:
            raise CommandError(
                f"cannot write the backup to {spec}: {exc}", returncode=EXIT_REFUSED
            ) from None
        finish(self.stderr, progress, quiet)
        for sha256 in result.blobs_missing:
            self.stderr.write(f"warning: blob {sha256} is in the database but not in storage")
        self.stdout.write(
            f"wrote {result.archive} to {target.describe()}: {result.rows} rows, "
            f"{result.blobs} blobs ({result.blobs_written} new)"
            + (f"; removed {len(result.removed)} old archive(s)" if result.removed else "")
        )

    def _sealer(self, options: dict[str, Any]) -> crypto.Sealer:
        if options["recipient"]:
            return crypto.Sealer(recipient=_public_key(options["recipient"]))
        if options["passphrase_file"]:
            return crypto.Sealer(
                passphrase=read_secret_file(options["passphrase_file"], "passphrase")
            )
        cfg = settings.CONFIG
        if cfg.backup_recipient:
            return crypto.Sealer(recipient=_public_key(cfg.backup_recipient))
        if cfg.backup_passphrase:
            return crypto.Sealer(passphrase=cfg.backup_passphrase)
        return crypto.Sealer(passphrase=ask_passphrase(confirm=True))

    def _keypair(self, path: Path) -> None:
        private, public = crypto.new_keypair()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise CommandError(f"{path} exists; pick a new file name") from None
        with os.fdopen(fd, "w") as fh:
            fh.write(crypto.b64(private) + "\n")
        self.stdout.write(crypto.b64(public))


def _public_key(text: str) -> bytes:
    try:
        key = crypto.unb64(text.strip())
    except ValueError:
        key = b""
    if len(key) != 32:
        raise CommandError("the recipient is not a public key (base64 of 32 bytes)")
    return key
