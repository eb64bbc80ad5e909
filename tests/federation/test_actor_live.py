"""Who acted reaches the other node through every door, not only an API request: on two real
nodes (A hosts the guild, B is its members' node), a ban and a role given in A's Django admin
(signed in as a staff user, through the admin's own CSRF form posts) and a message posted on B
by a management command (outside any HTTP request) each reach the other node, made by the
right person. Before, federation guessed the actor from the HTTP request being served, so
B's command-posted message never left B."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator

import httpx
import pytest

from tests.federation.conftest import FedNode
from tests.worlds import PASSWORD, join_guild, live_nodes
from tests.worlds import signed_in as client

pytestmark = [pytest.mark.live, pytest.mark.xdist_group("actor_live"), pytest.mark.timeout(900)]
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@pytest.fixture(scope="module")
def nodes(tmp_path_factory) -> Iterator[dict[str, FedNode]]:
    with live_nodes(tmp_path_factory.mktemp("actor"), ["a", "b"]) as (a, b):
        # alice owns the guild and operates node A (a staff superuser of its admin).
        a.python(
            "from accounts.models import User\n"
            "from guilds.services.guilds import do_create_guild\n"
            "from guilds.services.invites import check_create_invite\n"
            "from guilds.services.roles import check_create_role\n"
            "from guilds.models import Channel\n"
            f"alice = User.objects.create_user('alice', password={PASSWORD!r})\n"
            "alice.is_staff = alice.is_superuser = True; alice.save()\n"
            "g = do_create_guild(alice, name='Harbour', icon=None, description='')\n"
            "ch = Channel.objects.get(guild=g, type=0, name='general')\n"
            "check_create_invite(alice, ch.id, {'max_age': 0})\n"
            "check_create_role(alice, g.id, {'name': 'Crew'})\n"
        )
        b.python(
            "from accounts.models import User\n"
            f"User.objects.create_user('bob', password={PASSWORD!r})\n"
            f"User.objects.create_user('dave', password={PASSWORD!r})\n"
        )
        gid, _, code = ids(a)
        for name in ("bob", "dave"):
            join_guild(b, name, f"{a.url}/invite/{code}")
            b.wait_for(
                lambda name=name: b.sql(
                    "SELECT 1 FROM guilds_member m JOIN accounts_user u ON u.id = m.user_id "
                    "WHERE m.guild_id = ? AND u.username = ?",
                    (gid, name),
                ),
                message=f"{name} in B's replica",
            )
        yield {"a": a, "b": b}


def ids(a: FedNode) -> tuple[int, int, str]:
    gid, cid = a.sql(
        "SELECT g.id, c.id FROM guilds_guild g JOIN guilds_channel c ON c.guild_id = g.id "
        "WHERE g.name = 'Harbour' AND c.name = 'general'"
    )[0]
    code = a.sql("SELECT code FROM guilds_invite WHERE guild_id = ?", (gid,))[0][0]
    return int(gid), int(cid), code


@contextlib.contextmanager
def admin(fed: FedNode, username: str) -> Iterator[httpx.Client]:
    """A staff user signed in through the admin's own login form."""
    with httpx.Client(base_url=fed.url, timeout=60) as c:
        page = c.get("/admin/login/?next=/admin/")
        assert page.status_code == 200, page.text
        signed_in = c.post(
            "/admin/login/?next=/admin/",
            data={
                "username": username,
                "password": PASSWORD,
                "next": "/admin/",
                "csrfmiddlewaretoken": token(page),
            },
        )
        assert signed_in.status_code == 302 and signed_in.headers["location"] == "/admin/", (
            signed_in.text
        )
        yield c


def token(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found, page.text
    return found.group(1)


def member_id(fed: FedNode, gid: int, username: str) -> int:
    return int(
        fed.sql(
            "SELECT m.id FROM guilds_member m JOIN accounts_user u ON u.id = m.user_id "
            "WHERE m.guild_id = ? AND u.username = ?",
            (gid, username),
        )[0][0]
    )


def user_id(fed: FedNode, username: str) -> int:
    return int(fed.sql("SELECT id FROM accounts_user WHERE username = ?", (username,))[0][0])


def group_states(fed: FedNode) -> list[dict]:
    """The guild states B received, oldest first, as stored in its inbox."""
    rows = fed.sql(
        "SELECT actor_uri, payload FROM federation_inboxitem WHERE type = 'Update' "
        "ORDER BY received_at"
    )
    states = []
    for actor, payload in rows:
        doc = payload if isinstance(payload, dict) else json.loads(payload)
        if (doc.get("object") or {}).get("type") == "GuildState":
            states.append({"actor": actor, "state": doc["object"]})
    return states


def test_a_ban_in_the_admin_reaches_the_members_node(nodes):
    a, b = nodes["a"], nodes["b"]
    gid, cid, _ = ids(a)
    dave = f"dave@{b.domain}"
    with admin(a, "alice") as http:
        page = http.get("/admin/moderation/moderatedmember/", params={"q": "dave"})
        assert page.status_code == 200 and dave in page.text
        done = http.post(
            "/admin/moderation/moderatedmember/",
            data={
                "action": "ban",
                "_selected_action": [str(member_id(a, gid, dave))],
                "index": "0",
                "csrfmiddlewaretoken": token(page),
            },
            follow_redirects=True,
        )
        assert done.status_code == 200
        assert "1 member(s) banned" in done.text, done.text
    # On A, the ban is alice's: who the admin's signed-in user is.
    alice = user_id(a, "alice")
    dave_on_a = user_id(a, dave)
    assert a.sql(
        "SELECT moderator_id FROM moderation_guildban WHERE guild_id = ? AND user_id = ?",
        (gid, dave_on_a),
    ) == [(alice,)]
    assert a.sql(
        "SELECT actor_id FROM moderation_auditlogentry WHERE guild_id = ? AND target_id = ? "
        "AND action_type = 22",
        (gid, dave_on_a),
    ) == [(alice,)]
    # On B, dave is out of the replica, told so by the guild's Group (the host's voice for
    # its moderators: no member is named on the wire), and can no longer post there.
    b.wait_for(
        lambda: (
            not b.sql(
                "SELECT 1 FROM guilds_member m JOIN accounts_user u ON u.id = m.user_id "
                "WHERE m.guild_id = ? AND u.username = 'dave'",
                (gid,),
            )
        ),
        message="dave removed from B's replica",
    )
    last = group_states(b)[-1]
    assert last["actor"] == f"http://{a.domain}/groups/{gid}"
    assert not any(m["actor"].endswith("/users/dave") for m in last["state"]["members"])
    with client(b, "dave") as http:
        refused = http.post(f"/api/v1/channels/{cid}/messages", json={"content": "still here?"})
        assert refused.status_code in {403, 404}


def test_a_role_given_in_the_admin_reaches_the_members_node(nodes):
    a, b = nodes["a"], nodes["b"]
    gid, _, _ = ids(a)
    bob = f"bob@{b.domain}"
    crew = int(
        a.sql("SELECT id FROM guilds_role WHERE guild_id = ? AND name = 'Crew'", (gid,))[0][0]
    )
    mid = member_id(a, gid, bob)
    with admin(a, "alice") as http:
        page = http.get(f"/admin/guilds/member/{mid}/change/")
        assert page.status_code == 200 and "Crew" in page.text
        saved = http.post(
            f"/admin/guilds/member/{mid}/change/",
            data={"roles": [str(crew)], "_save": "Save", "csrfmiddlewaretoken": token(page)},
        )
        assert saved.status_code == 302, saved.text
    bob_on_a = user_id(a, bob)
    assert a.sql("SELECT role_id FROM guilds_member_roles WHERE member_id = ?", (mid,)) == [(crew,)]
    # The change is alice's (MEMBER_ROLE_UPDATE, 25), checked and audited like one in the app.
    assert a.sql(
        "SELECT actor_id FROM moderation_auditlogentry WHERE guild_id = ? AND target_id = ? "
        "AND action_type = 25",
        (gid, bob_on_a),
    ) == [(user_id(a, "alice"),)]
    # On B, bob holds the role in the replica, as the guild's Group announced it.
    b.wait_for(
        lambda: (
            b.sql(
                "SELECT r.role_id FROM guilds_member_roles r JOIN guilds_member m "
                "ON m.id = r.member_id JOIN accounts_user u ON u.id = m.user_id "
                "WHERE m.guild_id = ? AND u.username = 'bob'",
                (gid,),
            )
            == [(crew,)]
        ),
        message="bob holding Crew in B's replica",
    )
    last = group_states(b)[-1]
    assert last["actor"] == f"http://{a.domain}/groups/{gid}"
    mine = [m for m in last["state"]["members"] if m["actor"].endswith("/users/bob")]
    assert [str(r) for r in mine[0]["roles"]] == [str(crew)]


def test_a_message_posted_by_a_command_on_b_reaches_the_host_as_bobs(nodes):
    a, b = nodes["a"], nodes["b"]
    gid, cid, _ = ids(a)
    # A management command runs in its own process: no HTTP request names the actor.
    done = b.node.manage("post_message", "bob", str(cid), "the ferry leaves at noon")
    message_id = int(done.stdout.strip())
    a.wait_for(
        lambda: (
            a.sql(
                "SELECT u.username, m.content FROM messaging_message m JOIN accounts_user u "
                "ON u.id = m.author_id WHERE m.id = ?",
                (message_id,),
            )
            == [(f"bob@{b.domain}", "the ferry leaves at noon")]
        ),
        message="bob's message on the host",
    )
    creates = [
        actor
        for actor, payload in a.sql(
            "SELECT actor_uri, payload FROM federation_inboxitem WHERE type = 'Create'"
        )
        if str(message_id) in (payload if isinstance(payload, str) else json.dumps(payload))
    ]
    assert creates == [f"http://{b.domain}/users/bob"]
    # B hears the host's Announce back: its member sees the message delivered.
    b.wait_for(
        lambda: (
            b.sql(
                "SELECT state FROM federation_messagedelivery WHERE message_id = ?", (message_id,)
            )
            == [("delivered",)]
        ),
        message="the message delivered on B",
    )
    # A bad channel is a clear refusal, not a traceback.
    refused = b.node.manage("post_message", "bob", "1", "nowhere", check=False)
    assert refused.returncode == 1 and "refused: Unknown Channel" in refused.stderr
