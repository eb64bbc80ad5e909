"""Every endpoint, three kinds of unauthorised caller:

- anonymous: 401 (only the public invite resolve and the directory answer);
- signed in but not a member of the guild: 404 Unknown Guild/Channel (no existence leak);
- a member without the permission: 403 Missing Permissions (50013).
"""

from __future__ import annotations

import pytest

from guilds.models import Channel
from guilds.services import invites as invite_services
from tests.worlds import local_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(make_user):
    """An owner, a plain member (no role), a role and an invite in "Test Guild"."""
    w = local_world(
        make_user,
        guild="Test Guild",
        owner="owner",
        members=("member",),
        channels=(),
        roles={"Role": None},
    )
    general = Channel.objects.get(guild=w.guild, name="general")
    code = invite_services.check_create_invite(w.owner, general.id, {}).code
    return {
        "g": w.guild.id,
        "c": general.id,
        "r": w.roles["Role"].id,
        "u": w.member.id,
        "o": w.owner.id,
        "code": code,
        "member": w.member,
    }


ENDPOINTS = [
    # method, path, body, status for a member without permission (None: allowed)
    ("get", "/api/v1/guilds/{g}", None, None),
    ("patch", "/api/v1/guilds/{g}", {"name": "x y"}, 403),
    ("delete", "/api/v1/guilds/{g}", {"confirm_name": "Test Guild"}, 403),
    ("get", "/api/v1/guilds/{g}/channels", None, None),
    ("post", "/api/v1/guilds/{g}/channels", {"name": "x"}, 403),
    ("patch", "/api/v1/guilds/{g}/channels", [{"id": "{c}", "position": 0}], 403),
    ("get", "/api/v1/channels/{c}", None, None),
    ("patch", "/api/v1/channels/{c}", {"name": "x"}, 403),
    ("delete", "/api/v1/channels/{c}", None, 403),
    ("put", "/api/v1/channels/{c}/permissions/{r}", {"type": 0, "allow": "0"}, 403),
    ("delete", "/api/v1/channels/{c}/permissions/{r}", None, 403),
    ("get", "/api/v1/guilds/{g}/roles", None, None),
    ("post", "/api/v1/guilds/{g}/roles", {"name": "x"}, 403),
    ("patch", "/api/v1/guilds/{g}/roles", [{"id": "{r}", "position": 1}], 403),
    ("patch", "/api/v1/guilds/{g}/roles/{r}", {"name": "x"}, 403),
    ("delete", "/api/v1/guilds/{g}/roles/{r}", None, 403),
    ("get", "/api/v1/guilds/{g}/members", None, None),
    ("get", "/api/v1/guilds/{g}/members/{o}", None, None),
    ("patch", "/api/v1/guilds/{g}/members/{o}", {"nick": "x"}, 403),
    ("put", "/api/v1/guilds/{g}/members/{u}/roles/{r}", None, 403),
    ("delete", "/api/v1/guilds/{g}/members/{u}/roles/{r}", None, 403),
    ("post", "/api/v1/channels/{c}/invites", {}, None),
    ("get", "/api/v1/channels/{c}/invites", None, 403),
    ("get", "/api/v1/guilds/{g}/invites", None, 403),
    ("delete", "/api/v1/invites/{code}", None, 403),
    ("get", "/api/v1/guilds/{g}/audit-logs", None, 403),
    ("delete", "/api/v1/users/@me/guilds/{g}", None, None),
]
PUBLIC = {("get", "/api/v1/invites/{code}"), ("get", "/api/v1/directory")}


def fill(value, world):
    if isinstance(value, str):
        return value.format(**world)
    if isinstance(value, list):
        return [fill(v, world) for v in value]
    if isinstance(value, dict):
        return {k: fill(v, world) for k, v in value.items()}
    return value


def call(client, method, path, body, world):
    return getattr(client, method)(fill(path, world), fill(body, world), format="json")


@pytest.mark.parametrize(("method", "path", "body", "member_status"), ENDPOINTS)
def test_anonymous_gets_401(api, world, method, path, body, member_status):
    response = call(api(), method, path, body, world)
    assert response.status_code == 401
    assert response.json()["code"] == 40001


@pytest.mark.parametrize(("method", "path", "body", "member_status"), ENDPOINTS)
def test_outsider_gets_404(api, world, make_user, method, path, body, member_status):
    response = call(api(make_user("outsider")), method, path, body, world)
    assert response.status_code == 404, response.json()
    assert response.json()["code"] in {10003, 10004}


@pytest.mark.parametrize(
    ("method", "path", "body", "member_status"), [e for e in ENDPOINTS if e[3]]
)
def test_member_without_permission_gets_403(api, world, method, path, body, member_status):
    response = call(api(world["member"]), method, path, body, world)
    assert response.status_code == member_status, response.json()
    assert response.json()["code"] == 50013


@pytest.mark.parametrize(("method", "path"), sorted(PUBLIC))
def test_public_endpoints(api, world, method, path):
    assert call(api(), method, path, None, world).status_code == 200


def test_openapi_schema_documents_the_endpoints(admin_client):
    response = admin_client.get("/api/schema/?format=json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for documented in [
        "/api/v1/guilds",
        "/api/v1/guilds/{guild_id}/channels",
        "/api/v1/channels/{channel_id}/permissions/{overwrite_id}",
        "/api/v1/guilds/{guild_id}/members/{user_id}/roles/{role_id}",
        "/api/v1/invites/{code}",
        "/api/v1/guilds/{guild_id}/audit-logs",
        "/api/v1/directory",
        "/api/v1/users/@me/guilds",
    ]:
        assert documented in paths, documented
