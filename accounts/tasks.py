"""Periodic account jobs: due key rotations, accounts whose deletion grace period is over,
expired tokens and challenges."""

from __future__ import annotations

from datetime import timedelta

from accounts.services import lifecycle, rotation, tokens
from jobs.services import periodic


@periodic("accounts.apply_key_rotations", every=timedelta(minutes=5))
def apply_key_rotations() -> None:
    rotation.apply_due_rotations()


@periodic("accounts.delete_due_accounts", every=timedelta(hours=1))
def delete_due_accounts() -> None:
    lifecycle.delete_due_accounts()


@periodic("accounts.purge_expired_tokens", every=timedelta(hours=1))
def purge_expired_tokens() -> None:
    tokens.purge_expired()
