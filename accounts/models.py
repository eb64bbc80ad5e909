"""Accounts, sign-in state and the public halves of device keys.

The node holds no private key of any member: devices upload public keys and signatures only.
Secrets the node must check (refresh and access tokens, recovery) are stored as SHA-256 digests
or public keys, so a database dump does not let anyone sign in.
"""

from __future__ import annotations

from typing import ClassVar

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models.functions import Lower

from united.ids import new_id


class CaseInsensitiveUserManager(UserManager["User"]):
    def get_by_natural_key(self, username: str | None) -> User:
        return self.get(username__iexact=username)


class User(AbstractUser):
    """A member of this node. Usernames are unique ignoring case; no email is required."""

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    display_name = models.CharField(max_length=32, blank=True)
    avatar = models.CharField(max_length=200, blank=True)
    bio = models.CharField(max_length=190, blank=True)
    pronouns = models.CharField(max_length=40, blank=True)
    # The signed profile as the client signed it (canonical JSON) and its Ed25519 signature.
    profile_payload = models.TextField(blank=True)
    profile_signature = models.CharField(max_length=100, blank=True)
    profile_device = models.ForeignKey(
        "Device", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Ed25519 public key derived client side from the BIP39 recovery phrase (base64).
    recovery_public_key = models.CharField(max_length=64, blank=True)
    deletion_requested_at = models.DateTimeField(null=True, blank=True)
    # A bot account belongs to an application (bots.Application): it signs in only with its
    # application's token, never with a password, and shows as a bot everywhere.
    is_bot = models.BooleanField(default=False)
    # Moving an account between nodes (accounts.services.moves, docs/accounts.md "Moving"):
    # the actor ids of accounts elsewhere that this one says it was (ActivityPub
    # `alsoKnownAs`), and, once this account has moved away, where to (`movedTo`, its handle
    # for people to read) and when. A moved account is read-only.
    also_known_as = models.JSONField(default=list, blank=True)
    moved_to = models.CharField(max_length=500, blank=True)
    moved_to_handle = models.CharField(max_length=300, blank=True)
    moved_at = models.DateTimeField(null=True, blank=True)

    objects: ClassVar[CaseInsensitiveUserManager] = CaseInsensitiveUserManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("username"), name="user_username_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.username

    @property
    def shown_name(self) -> str:
        return self.display_name or self.username


class RegistrationInvite(models.Model):
    """A code the operator hands out when registration is invite-only."""

    code = models.CharField(max_length=64, unique=True)
    note = models.CharField(max_length=200, blank=True)
    max_uses = models.PositiveIntegerField(default=1)
    uses = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"invite {self.code[:4]}… ({self.uses}/{self.max_uses})"


class AuthEvent(models.Model):
    """One line of the operator's authentication audit log. `ip` stays empty unless
    UNITED_LOG_IPS is on."""

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    user = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL)
    username = models.CharField(max_length=150, blank=True)
    kind = models.CharField(max_length=40)
    success = models.BooleanField(default=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.username} {'ok' if self.success else 'failed'}"


class Device(models.Model):
    """A client install holding private keys. The node keeps the public halves: the Ed25519
    identity key, and the X25519 signed prekey with the identity key's signature over it."""

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="devices")
    name = models.CharField(max_length=64, blank=True)
    identity_key = models.CharField(max_length=64)
    signed_prekey_id = models.PositiveIntegerField()
    signed_prekey = models.CharField(max_length=64)
    signed_prekey_signature = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class QuerySet(models.QuerySet["Device"]):
        def active(self) -> models.QuerySet[Device]:
            return self.filter(revoked_at__isnull=True)

    objects = QuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.user_id}/{self.name or self.id}"


class OneTimePrekey(models.Model):
    """An X25519 public key handed out once, then deleted."""

    id = models.BigAutoField(primary_key=True)
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="one_time_prekeys")
    key_id = models.PositiveIntegerField()
    public_key = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["device", "key_id"], name="otpk_device_key_unique")
        ]

    def __str__(self) -> str:
        return f"prekey {self.key_id} of device {self.device_id}"


class KeyContact(models.Model):
    """`contact` fetched `owner`'s key bundle, so it may hold an E2E session with them and must
    hear when one of `owner`'s identity keys changes."""

    owner = models.ForeignKey(User, on_delete=models.CASCADE, related_name="key_contacts")
    contact = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "contact"], name="keycontact_unique")
        ]

    def __str__(self) -> str:
        return f"{self.contact_id} knows keys of {self.owner_id}"


class AuthSession(models.Model):
    """One signed-in session: a browser (Django session) or an API client (a refresh-token
    family). Revoking it signs that session out everywhere it is used."""

    WEB = "web"
    API = "api"

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="auth_sessions")
    kind = models.CharField(max_length=8, choices=[(WEB, "browser"), (API, "API client")])
    name = models.CharField(max_length=120, blank=True)
    session_key = models.CharField(max_length=64, blank=True, db_index=True)
    device = models.ForeignKey(Device, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.kind} session {self.id}"


class RefreshToken(models.Model):
    """A refresh token, by digest. Using one marks it used and issues the next; presenting a
    used one again means it leaked, and the whole session (family) is revoked."""

    digest = models.CharField(max_length=64, unique=True)
    session = models.ForeignKey(AuthSession, on_delete=models.CASCADE, related_name="refresh")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"refresh token of session {self.session_id}"


class AccessToken(models.Model):
    digest = models.CharField(max_length=64, unique=True)
    session = models.ForeignKey(AuthSession, on_delete=models.CASCADE, related_name="access")
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"access token of session {self.session_id}"


class SignInChallenge(models.Model):
    """A single-use nonce for Ed25519 challenge-response sign-in or recovery."""

    nonce = models.CharField(max_length=64, unique=True)
    purpose = models.CharField(max_length=16)
    user = models.ForeignKey(User, on_delete=models.CASCADE)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.purpose} challenge for {self.user_id}"


class KeyRotation(models.Model):
    """A pending identity-key replacement; applied after a waiting period unless cancelled."""

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="rotations")
    requested_by = models.ForeignKey(
        AuthSession, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    new_identity_key = models.CharField(max_length=64)
    new_signed_prekey_id = models.PositiveIntegerField()
    new_signed_prekey = models.CharField(max_length=64)
    new_signed_prekey_signature = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)
    effective_at = models.DateTimeField(db_index=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"rotation {self.id} of device {self.device_id}"


class Passkey(models.Model):
    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="passkeys")
    name = models.CharField(max_length=64)
    credential_id = models.CharField(max_length=1400, unique=True)
    public_key = models.TextField()
    sign_count = models.PositiveBigIntegerField(default=0)
    transports = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name
