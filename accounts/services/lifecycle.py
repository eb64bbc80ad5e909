"""Account export and deletion.

Export is a JSON document of everything this app holds about the member: account fields,
profile, sessions, devices and their public keys, passkeys (names and ids), second-factor
status and the member's audit events. The apps above accounts add their sections through
`accounts.hooks.on_export` (guilds: memberships with roles; messaging: the member's own
messages). End-to-end encrypted direct messages are not in it: the node holds only their
ciphertext, and the document says so (`not_included`).

Deletion has a grace period (`DELETION_GRACE`): the request signs every session out and a
periodic job deletes the account once the period is over. Signing in again during the grace
period shows the pending deletion with a way to cancel it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts import hooks
from accounts.models import AuthEvent, AuthSession, Device, Passkey, User
from accounts.services import audit, moves, passwords, profile, tokens, twofactor
from united.errors import Invalid

DELETION_GRACE = timedelta(days=14)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def export_account(user: User) -> dict[str, Any]:
    return {
        "format": "united.account-export.v1",
        "exported_at": timezone.now().isoformat(),
        "user": {
            **profile.serialize_user(user),
            "date_joined": _iso(user.date_joined),
            "last_login": _iso(user.last_login),
            "is_staff": user.is_staff,
            "bio": user.bio,
            "pronouns": user.pronouns,
            "deletion_requested_at": _iso(user.deletion_requested_at),
        },
        "signed_profile": {
            "payload": user.profile_payload or None,
            "signature": user.profile_signature or None,
        },
        "recovery_public_key": user.recovery_public_key or None,
        "move": moves.serialize_move(user),
        "two_factor": {
            "totp": twofactor.totp_enabled(user),
            "backup_codes_left": twofactor.remaining_backup_codes(user),
        },
        "passkeys": [
            {
                "id": str(p.id),
                "name": p.name,
                "created_at": _iso(p.created_at),
                "last_used_at": _iso(p.last_used_at),
            }
            for p in Passkey.objects.filter(user=user)
        ],
        "devices": [
            {
                "id": str(d.id),
                "name": d.name,
                "identity_key": d.identity_key,
                "signed_prekey": d.signed_prekey,
                "created_at": _iso(d.created_at),
                "revoked_at": _iso(d.revoked_at),
                "one_time_prekeys": list(d.one_time_prekeys.values("key_id", "public_key")),
            }
            for d in Device.objects.filter(user=user).order_by("created_at")
        ],
        "sessions": [
            {
                "id": str(s.id),
                "kind": s.kind,
                "name": s.name,
                "created_at": _iso(s.created_at),
                "last_used_at": _iso(s.last_used_at),
                "revoked_at": _iso(s.revoked_at),
            }
            for s in AuthSession.objects.filter(user=user).order_by("created_at")
        ],
        "auth_events": [
            {
                "kind": e.kind,
                "success": e.success,
                "at": _iso(e.created_at),
                "ip": e.ip,
                "detail": e.detail,
            }
            for e in AuthEvent.objects.filter(user=user).order_by("created_at")
        ],
        **hooks.export_sections(user),
        "not_included": {
            "direct_messages": (
                "End-to-end encrypted direct messages are not exported: this node holds only "
                "their ciphertext, which it cannot read. Your devices hold the plaintext; "
                "export them from a device (or its encrypted key backup)."
            ),
            "other_members": "Messages and data of other members are not exported.",
        },
    }


def check_request_deletion(request: HttpRequest | None, user: User, password: Any) -> User:
    passwords.require_password(request, user, password)
    if user.is_superuser:
        raise Invalid(errors={"_errors": ["An operator account cannot delete itself here."]})
    with transaction.atomic():
        user.deletion_requested_at = timezone.now()
        user.save(update_fields=["deletion_requested_at"])
        tokens.do_revoke_all_sessions(user)
        audit.record("deletion_requested", user=user, request=request)
    return user


def deletion_due_at(user: User) -> datetime | None:
    if user.deletion_requested_at is None:
        return None
    return user.deletion_requested_at + DELETION_GRACE


def do_cancel_deletion(request: HttpRequest | None, user: User) -> User:
    if user.deletion_requested_at is not None:
        user.deletion_requested_at = None
        user.save(update_fields=["deletion_requested_at"])
        audit.record("deletion_cancelled", user=user, request=request)
    return user


def delete_due_accounts(now: datetime | None = None) -> int:
    cutoff = (now or timezone.now()) - DELETION_GRACE
    count = 0
    for user in User.objects.filter(deletion_requested_at__lte=cutoff):
        with transaction.atomic():
            audit.record("account_deleted", username=user.username, detail_user=str(user.id))
            user.delete()
        count += 1
    return count
