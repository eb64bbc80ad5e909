"""Account recovery with a BIP39 phrase.

The phrase never leaves the member's device. The client turns it into a BIP39 seed
(PBKDF2-HMAC-SHA512, empty passphrase), uses the seed's first 32 bytes as an Ed25519 private
key and registers only the matching public key here. To recover, the client signs a
`recovery` challenge (see `signin`) with that key; the node then sets the new password, ends
every session, retires every device's keys (they may sit on a lost device), removes second
factors bound to lost hardware, and optionally registers the new device's keys.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import HttpRequest

from accounts.models import Device, User
from accounts.services import audit, crypto, keys, passwords, signin, tokens, twofactor


def check_recovery_public_key(value: Any) -> str:
    return crypto.encode(crypto.decode_key(value, "recovery_public_key"))


def check_set_recovery_key(
    request: HttpRequest | None, user: User, *, public_key: Any, password: Any
) -> User:
    passwords.require_password(request, user, password)
    user.recovery_public_key = check_recovery_public_key(public_key)
    user.save(update_fields=["recovery_public_key"])
    audit.record("recovery_key_set", user=user, request=request)
    return user


def check_recover(
    request: HttpRequest,
    *,
    username: Any,
    nonce: Any,
    signature: Any,
    new_password: Any,
    device: Any = None,
) -> dict[str, Any]:
    user = signin.check_challenge_response(
        request, username=username, nonce=nonce, signature=signature, purpose="recovery"
    )
    passwords.check_password_strength(new_password, user)
    with transaction.atomic():
        tokens.do_revoke_all_sessions(user)
        for old in Device.objects.active().filter(user=user):
            keys.do_revoke_device(user, old)
        twofactor.do_remove_all_factors(user)
        passwords.do_set_password(user, new_password, request=request, kind="recovery")
        result = signin.finish_sign_in(request, user, method="recovery", web=False)
        if device is not None:
            session = tokens.access_session(user, result["session_id"])
            new = keys.check_register_device(user, device, session=session)
            result["device_id"] = str(new.id)
    return result
