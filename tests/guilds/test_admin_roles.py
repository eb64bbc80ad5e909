"""A member's roles edited on the Django admin's member page go through the roles service as
the signed-in staff user: checked against that user's guild permissions, audited, and
published with that user as the actor (what federation sends as the change's author)."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from guilds.models import Member
from moderation.models import AuditLogEntry
from united import events

pytestmark = pytest.mark.django_db


@pytest.fixture
def heard():
    """Every event observers receive during the test (as federation's observer does)."""
    got: list[events.Published] = []
    events.observe(got.append)
    yield got
    events._observers.remove(got.append)


def save_roles(client: Client, member: Member, role_ids: list[int]):
    url = f"/admin/guilds/member/{member.id}/change/"
    page = client.get(url)
    assert page.status_code == 200
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
    data = {"roles": [str(r) for r in role_ids], "_save": "Save"}
    return client.post(url, {**data, "csrfmiddlewaretoken": token.group(1)}, follow=True)


def staff(user) -> Client:
    user.is_staff = user.is_superuser = True
    user.save()
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def test_the_owner_gives_a_role_in_the_admin_as_themselves(guild, owner, join, make_role, heard):
    crew = make_role("Crew")
    bob = join("bob")
    member = Member.objects.get(guild=guild, user=bob)
    heard.clear()
    response = save_roles(staff(owner), member, [crew.id])
    assert response.status_code == 200
    assert list(member.roles.values_list("id", flat=True)) == [crew.id]
    update = [e for e in heard if e.t == "GUILD_MEMBER_UPDATE"]
    assert [(e.group, e.actor_id) for e in update] == [(f"guild.{guild.id}", owner.id)]
    entry = AuditLogEntry.objects.filter(guild=guild, target_id=bob.id).latest("seq")
    assert (entry.action_type, entry.actor_id, entry.reason) == (25, owner.id, "via the admin")
    # Taking it back is the same door.
    save_roles(staff(owner), member, [])
    assert not member.roles.exists()


def test_staff_without_manage_roles_in_the_guild_is_refused(guild, join, make_role, make_user):
    crew = make_role("Crew")
    bob = join("bob")
    outsider = make_user("operator")  # staff of the node, not a member of the guild
    member = Member.objects.get(guild=guild, user=bob)
    response = save_roles(staff(outsider), member, [crew.id])
    assert "Unknown Guild" in response.content.decode()
    assert not member.roles.exists()
    mallory = join("mallory")  # a member without MANAGE_ROLES
    response = save_roles(staff(mallory), member, [crew.id])
    assert "Missing Permissions" in response.content.decode()
    assert not member.roles.exists()
