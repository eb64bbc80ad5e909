"""A member moves their account to another node, on three real nodes (issue 28, item 6).

alice@A holds a role and a nickname in "Harbour", a guild A hosts, and a role in
"Lighthouse", hosted on C. On B she registers alice@B, names alice@A as her old account
(Settings → Account → Moving from another account), then on A moves (Settings → Account →
Move to another node, with her password). Afterwards both guilds list the B account with the
same roles, the A account is gone from them, alice@B posts in both and the other members see
it, A's actor, WebFinger and profile page say where she went, and A refuses the old account's
posts. Then C's inbox is shown refusing what a Move must not do: a forged signature, a Move of
someone else, a target that does not name the mover as an alias, and a second move within
the cool-down, while a replay changes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from email.utils import formatdate

import httpx
import pytest

from tests.federation.conftest import FedNode
from tests.worlds import PASSWORD, join_guild, live_nodes, signed_in

pytestmark = [pytest.mark.live, pytest.mark.xdist_group("move_live"), pytest.mark.timeout(900)]


def _json(fed: FedNode, code: str) -> object:
    return json.loads(fed.python(code).splitlines()[-1])


@pytest.fixture(scope="module")
def nodes(tmp_path_factory) -> Iterator[dict[str, FedNode]]:
    with live_nodes(tmp_path_factory.mktemp("move"), ["a", "b", "c"]) as (a, b, c):
        a.python(
            "from accounts.models import User\n"
            "from guilds.models import Channel\n"
            "from guilds.services.guilds import do_create_guild\n"
            "from guilds.services.members import do_add_member, check_member_role\n"
            "from guilds.services.roles import check_create_role\n"
            "from guilds.services.members import check_update_member\n"
            f"alice = User.objects.create_user('alice', password={PASSWORD!r})\n"
            f"carol = User.objects.create_user('carol', password={PASSWORD!r})\n"
            f"User.objects.create_user('mallory', password={PASSWORD!r})\n"
            "g = do_create_guild(carol, name='Harbour', icon=None, description='')\n"
            "do_add_member(g, alice)\n"
            "crew = check_create_role(carol, g.id, {'name': 'Crew'})\n"
            "check_member_role(carol, g.id, alice.id, crew.id, add=True)\n"
            "check_update_member(carol, g.id, alice.id, {'nick': 'Al'})\n"
        )
        c.python(
            "from accounts.models import User\n"
            "from guilds.models import Channel\n"
            "from guilds.services.guilds import do_create_guild\n"
            "from guilds.services.invites import check_create_invite\n"
            "from guilds.services.roles import check_create_role\n"
            f"cora = User.objects.create_user('cora', password={PASSWORD!r})\n"
            "g = do_create_guild(cora, name='Lighthouse', icon=None, description='')\n"
            "ch = Channel.objects.get(guild=g, type=0, name='general')\n"
            "check_create_invite(cora, ch.id, {'max_age': 0})\n"
            "check_create_role(cora, g.id, {'name': 'Keeper'})\n"
        )
        b.python(
            "from accounts.models import User\n"
            f"User.objects.create_user('alice', password={PASSWORD!r})\n"
            f"User.objects.create_user('alice2', password={PASSWORD!r})\n"
            f"User.objects.create_user('bob', password={PASSWORD!r})\n"
        )
        lighthouse, _, code = guild(c, "Lighthouse")
        join_guild(a, "alice", f"{c.url}/invite/{code}")
        alice_on_c = f"alice@{a.domain}"
        c.wait_for(lambda: bool(member(c, lighthouse, alice_on_c)), message="alice@A on C")
        c.python(
            "from accounts.models import User\n"
            "from guilds.models import Role\n"
            "from guilds.services.members import check_member_role\n"
            f"g = {lighthouse}\n"
            "cora = User.objects.get(username='cora')\n"
            f"alice = User.objects.get(username={alice_on_c!r})\n"
            "keeper = Role.objects.get(guild_id=g, name='Keeper')\n"
            "check_member_role(cora, g, alice.id, keeper.id, add=True)\n"
        )
        a.wait_for(
            lambda: member(a, lighthouse, "alice") == {"roles": ["Keeper"], "nick": None},
            message="alice's Keeper role in A's replica of Lighthouse",
        )
        yield {"a": a, "b": b, "c": c}


def guild(fed: FedNode, name: str) -> tuple[int, int, str]:
    """(guild id, its #general, an invite code if the node has one) by the guild's name."""
    gid, cid = fed.sql(
        "SELECT g.id, c.id FROM guilds_guild g JOIN guilds_channel c ON c.guild_id = g.id "
        "WHERE g.name = ? AND c.name = 'general'",
        (name,),
    )[0]
    codes = fed.sql("SELECT code FROM guilds_invite WHERE guild_id = ?", (gid,))
    return int(gid), int(cid), codes[0][0] if codes else ""


def member(fed: FedNode, gid: int, username: str) -> dict | None:
    """What `fed` stores of `username`'s membership of the guild: role names and nickname."""
    return _json(  # type: ignore[return-value]
        fed,
        "import json\n"
        "from guilds.models import Member\n"
        f"m = Member.objects.filter(guild_id={gid}, user__username={username!r}).first()\n"
        "print(json.dumps(None if m is None else {'roles': sorted(r.name for r in m.roles.all()),"
        " 'nick': m.nick}))",
    )


def joined_at(fed: FedNode, gid: int, username: str) -> str:
    rows = fed.sql(
        "SELECT m.joined_at FROM guilds_member m JOIN accounts_user u ON u.id = m.user_id "
        "WHERE m.guild_id = ? AND u.username = ?",
        (gid, username),
    )
    return str(rows[0][0]) if rows else ""


def actor_doc(fed: FedNode, name: str) -> dict:
    response = httpx.get(
        f"{fed.url}/users/{name}", headers={"Accept": "application/activity+json"}, timeout=30
    )
    assert response.status_code == 200, response.text
    return response.json()


def post_signed(fed: FedNode, inbox: str, activity: dict, actor: str) -> tuple[int, dict]:
    """`fed` signs `activity` as `actor` (one of its own) and posts it to `inbox`: what a
    node sends, or a hostile one."""
    out = _json(
        fed,
        "import json\n"
        "from federation import http, outgoing\n"
        f"body = json.dumps({activity!r}).encode()\n"
        "headers = {'Content-Type': 'application/activity+json'}\n"
        f"headers.update(outgoing.signed_headers('POST', {inbox!r}, body, {actor!r}))\n"
        f"r = http.request('POST', {inbox!r}, headers=headers, content=body,"
        " follow_redirects=False)\n"
        "print(json.dumps({'status': r.status, 'body': r.content.decode()}))",
    )
    assert isinstance(out, dict)
    body = json.loads(out["body"]) if out["body"].strip().startswith("{") else {}
    return int(out["status"]), body


def move_of(fed: FedNode, old: str, target: str) -> dict:
    return {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"http://{fed.domain}/activities/{abs(hash((old, target, fed.domain))) % 10**12}",
        "type": "Move",
        "actor": old,
        "object": old,
        "target": target,
    }


def test_moving_needs_an_alias_on_the_new_account_and_the_password(nodes):
    a, b = nodes["a"], nodes["b"]
    with signed_in(a, "alice") as http:
        refused = http.post(
            "/api/v1/users/@me/move",
            json={"handle": f"alice@{b.domain}", "password": PASSWORD},
        )
        assert refused.status_code == 400, refused.text
        assert "alias" in refused.json()["message"]
        wrong = http.post(
            "/api/v1/users/@me/move",
            json={"handle": f"alice@{b.domain}", "password": "not the password"},
        )
        assert wrong.status_code == 400 and "password" in wrong.json()["errors"]
        page = http.get("/settings/account/move/")
        assert page.status_code == 200 and "Move my account" in page.text
    assert "movedTo" not in actor_doc(a, "alice")
    assert a.sql("SELECT moved_to FROM accounts_user WHERE username = 'alice'") == [("",)]


def test_a_moved_account_keeps_its_guild_memberships(nodes):
    a, b, c = nodes["a"], nodes["b"], nodes["c"]
    harbour, harbour_general, _ = guild(a, "Harbour")
    lighthouse, lighthouse_general, _ = guild(c, "Lighthouse")
    old, new = f"http://{a.domain}/users/alice", f"http://{b.domain}/users/alice"
    alice_a_on_c, alice_b = f"alice@{a.domain}", f"alice@{b.domain}"
    joined_harbour = joined_at(a, harbour, "alice")
    joined_lighthouse = joined_at(c, lighthouse, alice_a_on_c)

    # (1) On B, alice names her old account; B's actor now says so.
    with signed_in(b, "alice") as http:
        added = http.post("/settings/account/aliases/", data={"handle": f"alice@{a.domain}"})
        assert added.status_code == 302, added.text
        page = http.get("/settings/account/aliases/")
        assert f"alice@{a.domain}" in page.text
    assert actor_doc(b, "alice")["alsoKnownAs"] == [old]

    # (2) On A, alice moves, confirming with her password.
    with signed_in(a, "alice") as http:
        moved = http.post("/settings/account/move/", data={"handle": alice_b, "password": PASSWORD})
        assert moved.status_code == 302, moved.text
        page = http.get("/settings/account/move/")
        assert "This account moved to" in page.text and alice_b in page.text

    # A's actor, WebFinger and profile page name the new account.
    assert actor_doc(a, "alice")["movedTo"] == new
    finger = httpx.get(
        f"{a.url}/.well-known/webfinger", params={"resource": f"acct:alice@{a.domain}"}
    ).json()
    assert any(link["rel"].endswith("#movedTo") and link["href"] == new for link in finger["links"])
    profile = httpx.get(f"{a.url}/users/alice", headers={"Accept": "text/html"})
    assert profile.status_code == 200
    assert "has moved to" in profile.text and f'href="{new}"' in profile.text

    # The guild A hosts: the B account is the member, with the role, nickname and join date.
    assert member(a, harbour, alice_b) == {"roles": ["Crew"], "nick": "Al"}
    assert member(a, harbour, "alice") is None
    assert joined_at(a, harbour, alice_b) == joined_harbour
    # The guild C hosts: C applied A's Move.
    c.wait_for(
        lambda: member(c, lighthouse, alice_b) == {"roles": ["Keeper"], "nick": None},
        message="alice@B in Lighthouse with the Keeper role",
    )
    assert member(c, lighthouse, alice_a_on_c) is None
    assert joined_at(c, lighthouse, alice_b) == joined_lighthouse
    # B hears both guilds' states and holds replicas with alice in them, roles and all.
    b.wait_for(
        lambda: member(b, harbour, "alice") == {"roles": ["Crew"], "nick": "Al"},
        message="B's replica of Harbour with alice",
    )
    b.wait_for(
        lambda: member(b, lighthouse, "alice") == {"roles": ["Keeper"], "nick": None},
        message="B's replica of Lighthouse with alice",
    )
    # A's replica of Lighthouse lets the old account go.
    a.wait_for(lambda: member(a, lighthouse, "alice") is None, message="alice@A out of A's copy")

    # The new account posts in both guilds and the other members see it.
    with signed_in(b, "alice") as http:
        for cid, text in ((harbour_general, "hello harbour"), (lighthouse_general, "hi light")):
            sent = http.post(f"/api/v1/channels/{cid}/messages", json={"content": text})
            assert sent.status_code == 200, sent.text
    with signed_in(a, "carol") as http:

        def carol_sees() -> bool:
            got = http.get(f"/api/v1/channels/{harbour_general}/messages")
            return any(
                m["content"] == "hello harbour" and m["author"]["username"] == alice_b
                for m in got.json()
            )

        a.wait_for(carol_sees, message="carol sees alice@B's message in Harbour")
    with signed_in(c, "cora") as http:

        def cora_sees() -> bool:
            got = http.get(f"/api/v1/channels/{lighthouse_general}/messages")
            return any(
                m["content"] == "hi light" and m["author"]["username"] == alice_b
                for m in got.json()
            )

        c.wait_for(cora_sees, message="cora sees alice@B's message in Lighthouse")

    # The old account can sign in and export, but A refuses its posts, and says why.
    with signed_in(a, "alice") as http:
        refused = http.post(
            f"/api/v1/channels/{harbour_general}/messages", json={"content": "still me"}
        )
        assert refused.status_code == 403 and "moved" in refused.json()["message"], refused.text
        dm_refused = http.post("/api/v1/users/@me/channels", json={"recipient_id": "1"})
        assert dm_refused.status_code == 403 and "moved" in dm_refused.json()["message"]
        export = http.get("/api/v1/users/@me/export")
        assert export.status_code == 200
        assert export.json()["move"]["moved_to"] == new
        again = http.post("/api/v1/users/@me/move", json={"handle": alice_b, "password": PASSWORD})
        assert again.status_code == 409, again.text


def test_a_node_refuses_moves_it_must_not_apply(nodes):
    a, b, c = nodes["a"], nodes["b"], nodes["c"]
    inbox = f"{c.url}/inbox"
    alice_a, mallory_a = f"http://{a.domain}/users/alice", f"http://{a.domain}/users/mallory"
    lighthouse, _, _ = guild(c, "Lighthouse")
    before = c.sql("SELECT old_uri, new_uri, activity_uri FROM federation_accountmove")
    assert [(r[0], r[1]) for r in before] == [(alice_a, f"http://{b.domain}/users/alice")]

    # A Move of someone else: mallory cannot move alice.
    status, body = post_signed(
        a,
        inbox,
        {**move_of(a, alice_a, f"http://{b.domain}/users/bob"), "actor": mallory_a},
        mallory_a,
    )
    assert status == 403 and body["error"] == "move_object", body
    # A target that does not list the mover as an alias.
    status, body = post_signed(
        a, inbox, move_of(a, mallory_a, f"http://{b.domain}/users/bob"), mallory_a
    )
    assert status == 422 and body["error"] == "move_alias", body
    assert "alsoKnownAs" in body["message"]
    # A forged signature: alice's keyId, a signature that is not the node's.
    activity = move_of(a, alice_a, f"http://{b.domain}/users/bob")
    raw = json.dumps(activity).encode()
    forged = httpx.post(
        inbox,
        content=raw,
        headers={
            "Content-Type": "application/activity+json",
            "Date": formatdate(usegmt=True),
            "Signature": (
                f'keyId="{alice_a}#main-key",algorithm="rsa-sha256",'
                'headers="(request-target) host date",signature="' + "A" * 344 + '"'
            ),
        },
    )
    assert forged.status_code == 401, forged.text
    # A replay of the Move C applied: acknowledged, and nothing changes.
    sent = _json(
        a,
        "import json\nfrom federation.models import Activity\n"
        "print(json.dumps(Activity.objects.get(type='Move').payload))",
    )
    assert isinstance(sent, dict)
    status, _ = post_signed(a, inbox, sent, alice_a)
    assert status == 202
    assert c.sql("SELECT old_uri, new_uri, activity_uri FROM federation_accountmove") == before
    assert member(c, lighthouse, f"alice@{b.domain}") == {"roles": ["Keeper"], "nick": None}
    # A second move of alice within the cool-down, to an account that does list her.
    with signed_in(b, "alice2") as http:
        assert (
            http.post("/api/v1/users/@me/aliases", json={"handle": f"alice@{a.domain}"}).status_code
            == 200
        )
    status, body = post_signed(
        a, inbox, move_of(a, alice_a, f"http://{b.domain}/users/alice2"), alice_a
    )
    assert status == 409 and body["error"] == "move_cooldown", body
    assert c.sql("SELECT old_uri, new_uri, activity_uri FROM federation_accountmove") == before
    # Every refusal is on the operator's record.
    reasons = {r[0] for r in c.sql("SELECT reason FROM federation_inboxrejection")}
    assert {"move_object", "move_alias", "move_cooldown"} <= reasons
