"""What `backup` and `restore` share: progress on stderr, and reading secrets from files."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from django.core.management.base import CommandError, OutputWrapper

from backup.services import Progress

# Exit codes a script can tell apart (docs/operations.md, "Backups and restore").
EXIT_REFUSED = 1
EXIT_WRONG_KEY = 3
EXIT_TAMPERED = 4
EXIT_NOT_EMPTY = 5


def progress_on(stream: OutputWrapper, quiet: bool) -> Progress:
    """Rows and blobs done / total, redrawn in place on a terminal, a line every few seconds
    into a log, and always once at the end (`finish`)."""
    tty = stream.isatty()
    last = [0.0]

    def report(p: Progress) -> None:
        now = time.monotonic()
        if quiet or now - last[0] < (0.2 if tty else 5.0):
            return
        last[0] = now
        line = f"rows {p.rows_done}/{p.rows_total} · blobs {p.blobs_done}/{p.blobs_total}"
        stream.write(f"\r{line}" if tty else line, ending="" if tty else "\n")
        stream.flush()

    return Progress(report=report)


def finish(stream: OutputWrapper, p: Progress, quiet: bool) -> None:
    if not quiet:
        line = f"rows {p.rows_done}/{p.rows_total} · blobs {p.blobs_done}/{p.blobs_total}"
        stream.write(("\r" if stream.isatty() else "") + line)


def read_secret_file(path: str, what: str) -> str:
    try:
        text = Path(path).read_text().strip()
    except OSError as exc:
        raise CommandError(f"cannot read the {what} file {path}: {exc.strerror}") from None
    if not text:
        raise CommandError(f"the {what} file {path} is empty")
    return text


def ask_passphrase(confirm: bool) -> str:
    if not sys.stdin.isatty():
        raise CommandError(
            "no passphrase: give --passphrase-file (or --recipient / --key-file), or set "
            "UNITED_BACKUP_PASSPHRASE"
        )
    import getpass

    first = getpass.getpass("Backup passphrase: ")
    if confirm and getpass.getpass("Again: ") != first:
        raise CommandError("the passphrases differ")
    if not first:
        raise CommandError("an empty passphrase protects nothing")
    return first
