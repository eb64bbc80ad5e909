"""Every model the admin shows, and what an operator (a superuser) may do with it there.

Records of something that happened (logs, outbox and inbox rows, audit entries, job rows)
are read-only: no Add, no edit, no delete. The table below names every registered admin, so
a new one cannot slip in without somebody deciding what it allows.
"""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import RequestFactory

pytestmark = pytest.mark.django_db

READ_ONLY = (False, False, False)
# (add, change, delete) for a superuser. "change" on a read-only record would show a Save
# button; admin actions that go through services need "change" where they declare it.
EXPECTED: dict[str, tuple[bool, bool, bool]] = {
    # append-only records
    "accounts.AuthEvent": READ_ONLY,
    "accounts.AuthSession": READ_ONLY,  # ended with the "Sign out" action
    "federation.Activity": READ_ONLY,
    "federation.Delivery": READ_ONLY,  # "Retry now" is an action
    "federation.InboxItem": READ_ONLY,
    "federation.InboxRejection": READ_ONLY,
    "federation.RemoteActor": READ_ONLY,  # cached from the peer; "Block" is an action
    "federation.RemoteNode": READ_ONLY,  # block / unblock / retry: actions and the page
    "jobs.Job": READ_ONLY,  # "Retry" is an action and a button on the Jobs page
    "jobs.PeriodicRun": READ_ONLY,
    "media.Attachment": READ_ONLY,
    "media.Blob": READ_ONLY,
    "media.BlobDeletion": READ_ONLY,
    "moderation.AuditLogEntry": READ_ONLY,
    "moderation.GuildSuspension": READ_ONLY,
    "moderation.MemberTimeout": READ_ONLY,
    "moderation.NodeAuditEntry": READ_ONLY,
    # state an operator changes, through the services the admin actions call
    "accounts.Device": (False, True, True),
    "accounts.Passkey": (False, True, True),
    "accounts.RegistrationInvite": (True, True, True),
    "accounts.User": (True, True, True),
    "auth.Group": (True, True, True),
    "bots.Application": (False, True, False),  # reset token, withdraw an intent: actions
    "federation.FederationPolicy": (True, True, True),  # one row; Add only while none exists
    "guilds.Guild": (False, True, False),
    "guilds.Invite": (False, True, False),
    "guilds.Member": (False, True, False),
    "moderation.GuildBan": (False, True, False),
    "moderation.ModeratedMember": (False, True, False),
    "moderation.NodeAccount": (False, True, False),
    "moderation.OperatedGuild": (False, True, False),
    "moderation.ReportCase": (False, True, False),
    "otp_static.StaticDevice": (True, True, True),  # an operator resets a lost second factor
    "otp_totp.TOTPDevice": (True, True, True),
    "voice.VoiceState": (False, True, True),
}


@pytest.fixture
def operator(make_user):
    return make_user("root", is_staff=True, is_superuser=True)


def test_every_registered_admin_is_decided(operator):
    request = RequestFactory().get("/admin/")
    request.user = operator
    seen = {
        model._meta.label: (
            model_admin.has_add_permission(request),
            model_admin.has_change_permission(request),
            model_admin.has_delete_permission(request),
        )
        for model, model_admin in admin.site._registry.items()
    }
    assert seen == EXPECTED


@pytest.mark.parametrize(
    "label", sorted(label for label, perms in EXPECTED.items() if perms == READ_ONLY)
)
def test_records_offer_no_add_and_no_delete(label, admin_client):
    app, model = label.lower().split(".")
    changelist = admin_client.get(f"/admin/{app}/{model}/")
    assert changelist.status_code == 200
    page = changelist.content.decode()
    assert f'href="/admin/{app}/{model}/add/"' not in page
    assert 'value="delete_selected"' not in page
    assert admin_client.get(f"/admin/{app}/{model}/add/").status_code == 403


def test_the_index_names_second_factors_and_links_the_operator_pages(admin_client):
    page = admin_client.get("/admin/").content.decode()
    assert "Authenticator apps" in page and "Backup codes" in page
    assert "Otp_" not in page and "OTP_" not in page
    assert 'href="/admin/federation/remotenode/overview/"' in page
    assert 'href="/admin/jobs/job/overview/"' in page


def test_an_operator_cannot_read_a_members_second_factor(make_user, admin_client):
    """With the secret or a backup code an operator could pass the member's second factor."""
    from django_otp.plugins.otp_static.models import StaticDevice
    from django_otp.plugins.otp_totp.models import TOTPDevice

    member = make_user("carol")
    device = TOTPDevice.objects.create(user=member, name="authenticator", confirmed=True)
    codes = StaticDevice.objects.create(user=member, name="backup codes", confirmed=True)
    codes.token_set.create(token="k3y5ecret")
    base = "/admin/otp_totp/totpdevice"
    page = admin_client.get(f"{base}/{device.pk}/change/").content.decode()
    assert device.key not in page and "qrcode" not in page
    assert admin_client.get(f"{base}/{device.pk}/config/").status_code == 403
    assert admin_client.get(f"{base}/{device.pk}/qrcode/").status_code == 403
    page = admin_client.get(f"/admin/otp_static/staticdevice/{codes.pk}/change/").content
    assert b"k3y5ecret" not in page
