"""`manage.py restore`: bring a node back from a backup on a fresh machine."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from backup import crypto, services
from backup.database import NotEmpty, Refused
from backup.management.commands._common import (
    EXIT_NOT_EMPTY,
    EXIT_REFUSED,
    EXIT_TAMPERED,
    EXIT_WRONG_KEY,
    ask_passphrase,
    finish,
    progress_on,
    read_secret_file,
)
from backup.targets import TargetError


class Command(BaseCommand):
    help = (
        "Restore a backup into an empty data directory (SQLite) or an empty PostgreSQL "
        "database: database, media blobs and node keys."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--from",
            dest="source",
            help="directory or s3://bucket/prefix (default: UNITED_BACKUP_TARGET)",
        )
        parser.add_argument(
            "--archive", default="latest", help="archive name in the target (default: latest)"
        )
        parser.add_argument("--passphrase-file", help="file whose first line is the passphrase")
        parser.add_argument("--key-file", help="private key file, for archives sealed to a key")
        parser.add_argument(
            "--force", action="store_true", help="replace what the target database holds"
        )
        parser.add_argument("--quiet", action="store_true", help="no progress on stderr")

    def handle(self, *args: Any, **options: Any) -> None:
        spec = options["source"] or settings.CONFIG.backup_target
        if not spec:
            raise CommandError("no source: give --from DIR|s3://bucket/prefix")
        if options["key_file"]:
            opener = crypto.Opener(
                private_key=_private_key(read_secret_file(options["key_file"], "key"))
            )
        elif options["passphrase_file"]:
            opener = crypto.Opener(
                passphrase=read_secret_file(options["passphrase_file"], "passphrase")
            )
        elif settings.CONFIG.backup_passphrase:
            opener = crypto.Opener(passphrase=settings.CONFIG.backup_passphrase)
        else:
            opener = crypto.Opener(passphrase=ask_passphrase(confirm=False))
        quiet = options["quiet"]
        err = self.stderr
        progress = progress_on(err, quiet)
        try:
            target = services.target_from(spec)
            name = services.resolve_archive(target, options["archive"])
            result = services.do_restore(
                target, name, opener, force=options["force"], progress=progress
            )
        except crypto.WrongKey as exc:
            raise CommandError(f"refused: {exc}", returncode=EXIT_WRONG_KEY) from None
        except crypto.Tampered as exc:
            raise CommandError(
                f"refused: the archive is damaged or was tampered with: {exc}",
                returncode=EXIT_TAMPERED,
            ) from None
        except NotEmpty as exc:
            raise CommandError(f"refused: {exc}", returncode=EXIT_NOT_EMPTY) from None
        except Refused as exc:
            raise CommandError(f"refused: {exc}", returncode=EXIT_REFUSED) from None
        except TargetError as exc:
            raise CommandError(str(exc), returncode=EXIT_REFUSED) from None
        except (OSError, BotoCoreError, ClientError) as exc:
            raise CommandError(
                f"cannot read the backup from {spec}: {exc}", returncode=EXIT_REFUSED
            ) from None
        finish(err, progress, quiet)
        self.stdout.write(
            f"restored {result.archive} (made {result.created_at} on {result.domain}): "
            f"{result.rows} rows, {result.blobs} blobs ({result.blobs_written} written), "
            f"{result.keys} node keys"
        )
        for sha256 in result.blobs_missing:
            self.stderr.write(
                self.style.WARNING(
                    f"warning: blob {sha256} is not in the backup (it was missing from "
                    "storage when the backup ran)"
                )
            )
        if result.search_error:
            self.stderr.write(
                self.style.WARNING(
                    f"warning: the search index was not rebuilt ({result.search_error}): "
                    "run `manage.py reindex_search` once the search engine is reachable"
                )
            )
        if result.domain and result.domain != settings.FEDERATION_DOMAIN:
            self.stderr.write(
                self.style.WARNING(
                    f"warning: the archive's node was {result.domain} but FEDERATION_DOMAIN is "
                    f"{settings.FEDERATION_DOMAIN}: peers know this node by its old domain; "
                    f"set FEDERATION_DOMAIN={result.domain} before starting it"
                )
            )


def _private_key(text: str) -> bytes:
    try:
        key = crypto.unb64(text)
    except ValueError:
        key = b""
    if len(key) != 32:
        raise CommandError("the key file does not hold a private key (base64 of 32 bytes)")
    return key
