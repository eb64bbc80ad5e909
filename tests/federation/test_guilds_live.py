"""Federation II on three real nodes (A hosts the guild, B and C are members' nodes), started
once for the module: joining by invite link, messages/edits/deletes/reactions converging on
the same history everywhere, the host refusing what a member may not do, B offline and back
(back-fill), bans across nodes, and B's web UI on A's guild in Chromium."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.federation.conftest import FedNode
from tests.worlds import PASSWORD, live_nodes
from tests.worlds import signed_in as client

# Three nodes migrate and start in the first test's setup: on a busy machine that alone can
# take minutes, so this module gets more than the suite's default timeout.
pytestmark = [pytest.mark.live, pytest.mark.xdist_group("guilds_live"), pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def nodes(tmp_path_factory) -> Iterator[dict[str, FedNode]]:
    with live_nodes(tmp_path_factory.mktemp("fed2"), ["a", "b", "c"]) as (a, b, c):
        a.python(
            "from accounts.models import User\n"
            "from guilds.services.guilds import do_create_guild\n"
            "from guilds.services.invites import check_create_invite\n"
            "from guilds.models import Channel\n"
            f"alice = User.objects.create_user('alice', password={PASSWORD!r})\n"
            "g = do_create_guild(alice, name='Harbour', icon=None, description='by the sea')\n"
            "ch = Channel.objects.get(guild=g, type=0, name='general')\n"
            "inv = check_create_invite(alice, ch.id, {'max_age': 0})\n"
            "print(g.id, ch.id, inv.code)\n"
        )
        b.node.create_user("bob", PASSWORD)
        c.node.create_user("carol", PASSWORD)
        yield {"a": a, "b": b, "c": c}


def ids(a: FedNode) -> tuple[int, int, str]:
    row = a.sql(
        "SELECT g.id, c.id FROM guilds_guild g JOIN guilds_channel c ON c.guild_id = g.id "
        "WHERE g.name = 'Harbour' AND c.name = 'general'"
    )[0]
    code = a.sql("SELECT code FROM guilds_invite WHERE guild_id = ?", (row[0],))[0][0]
    return int(row[0]), int(row[1]), code


def history(fed: FedNode, channel_id: int) -> list[tuple]:
    """What a member sees, in history order: id, author name, text, deleted, reactions."""
    rows = fed.sql(
        "SELECT m.id, COALESCE(u.username, ''), m.content, m.deleted_at IS NOT NULL "
        "FROM messaging_message m LEFT JOIN accounts_user u ON u.id = m.author_id "
        "WHERE m.channel_id = ? ORDER BY m.hlc, m.id",
        (channel_id,),
    )
    reactions = fed.sql(
        "SELECT r.message_id, r.emoji, u.username FROM messaging_reaction r "
        "JOIN accounts_user u ON u.id = r.user_id JOIN messaging_message m ON m.id = r.message_id "
        "WHERE m.channel_id = ? ORDER BY r.message_id, r.emoji, u.username",
        (channel_id,),
    )
    return [
        (
            mid,
            # the same person is `bob` at home and `bob@<B>` elsewhere: compare the name part
            author.split("@", 1)[0],
            text,
            bool(deleted),
            [(e, n.split("@", 1)[0]) for m, e, n in reactions if m == mid],
        )
        for mid, author, text, deleted in rows
    ]


def wait_same(channel_id: int, feds: tuple[FedNode, ...], extra, timeout: float, what: str) -> None:
    """Wait until every node shows the same history (and `extra` holds); say how they differ."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if converged(channel_id, *feds) and extra(history(feds[0], channel_id)):
            return
        time.sleep(0.3)
    shown = "\n".join(f"{f.node.name}: {history(f, channel_id)}" for f in feds)
    raise AssertionError(f"timed out waiting for {what}:\n{shown}")


def converged(channel_id: int, *feds: FedNode) -> bool:
    first = history(feds[0], channel_id)
    return all(history(f, channel_id) == first for f in feds[1:])


def test_join_by_invite_link_shows_the_manifest_and_the_host_accepts(nodes):
    a, b, c = nodes["a"], nodes["b"], nodes["c"]
    gid, cid, code = ids(a)
    link = f"{a.url}/invite/{code}"
    with client(b, "bob") as bob:
        preview = bob.post("/api/v1/federation/invites/preview", json={"invite": link})
        assert preview.status_code == 200, preview.text
        shown = preview.json()
        assert shown["guild"]["name"] == "Harbour"
        assert shown["manifest"]["ip_logging"] is False  # A's privacy manifest, shown first
        assert "retention_days" in shown["manifest"]
        bad = bob.post("/api/v1/federation/invites/preview", json={"invite": "not a link"})
        assert bad.status_code == 400
        joined = bob.post("/api/v1/federation/guilds/join", json={"invite": link})
        assert joined.status_code == 202, joined.text
        assert joined.json()["state"] == "pending"
    with client(c, "carol") as carol:
        assert (
            carol.post("/api/v1/federation/guilds/join", json={"invite": link}).status_code == 202
        )
        unknown = carol.post(
            "/api/v1/federation/guilds/join", json={"invite": f"{a.url}/invite/nope"}
        )
        assert unknown.status_code == 404
    for fed, name in ((b, "bob"), (c, "carol")):
        fed.wait_for(
            lambda fed=fed, name=name: fed.sql(
                "SELECT 1 FROM guilds_member m JOIN accounts_user u ON u.id = m.user_id "
                "WHERE m.guild_id = ? AND u.username = ?",
                (gid, name),
            ),
            message=f"{name} in the replica",
        )
        fed.wait_for(
            lambda fed=fed: fed.sql("SELECT state FROM federation_remotejoin") == [("accepted",)],
            message="Accept",
        )
    members = {
        r[0]
        for r in a.sql(
            "SELECT u.username FROM guilds_member m JOIN accounts_user u "
            "ON u.id = m.user_id WHERE m.guild_id = ?",
            (gid,),
        )
    }
    assert members == {"alice", f"bob@{b.domain}", f"carol@{c.domain}"}
    # B sees the whole guild: its channel list, and everybody as name@node. carol joined after
    # bob, so B has her once A's next state reached it (deliveries are asynchronous).
    b.wait_for(
        lambda: b.sql(
            "SELECT 1 FROM guilds_member m JOIN accounts_user u ON u.id = m.user_id "
            "WHERE m.guild_id = ? AND u.username = ?",
            (gid, f"carol@{c.domain}"),
        ),
        message="carol in B's replica",
    )
    with client(b, "bob") as bob:
        guilds = bob.get("/api/v1/users/@me/guilds").json()
        assert [g["name"] for g in guilds] == ["Harbour"]
        shown_members = bob.get(f"/api/v1/guilds/{gid}/members?limit=10").json()
        names = {m["user"]["username"] for m in shown_members}
        assert names == {f"alice@{a.domain}", "bob", f"carol@{c.domain}"}
        channels = bob.get(f"/api/v1/guilds/{gid}/channels").json()
        assert str(cid) in {ch["id"] for ch in channels}


def send(fed: FedNode, user: str, cid: int, text: str) -> str:
    with client(fed, user) as http:
        response = http.post(f"/api/v1/channels/{cid}/messages", json={"content": text})
        assert response.status_code == 200, response.text
        return response.json()["id"]


def test_three_nodes_converge_on_one_history(nodes):
    a, b, c = nodes["a"], nodes["b"], nodes["c"]
    gid, cid, _ = ids(a)
    with ThreadPoolExecutor(3) as pool:
        sent = list(
            pool.map(
                lambda args: send(*args),
                [
                    (a, "alice", cid, "ahoy from A"),
                    (b, "bob", cid, "hello from B"),
                    (c, "carol", cid, "hi from C"),
                ],
            )
        )
    a_msg, b_msg, c_msg = sent
    wait_same(cid, (a, b, c), lambda h: len(h) >= 3, 150, "3 messages")
    assert b.sql(
        "SELECT state FROM federation_messagedelivery WHERE message_id = ?", (int(b_msg),)
    ) == [("delivered",)]
    with client(b, "bob") as bob:
        edit = bob.patch(
            f"/api/v1/channels/{cid}/messages/{b_msg}", json={"content": "hello (edited)"}
        )
        assert edit.status_code == 200, edit.text
        react = bob.put(f"/api/v1/channels/{cid}/messages/{a_msg}/reactions/%F0%9F%91%8D/@me")
        assert react.status_code == 204, react.text
        reply = bob.post(
            f"/api/v1/channels/{cid}/messages",
            json={"content": "a reply", "message_reference": {"message_id": a_msg}},
        )
        assert reply.status_code == 200, reply.text
    with client(c, "carol") as carol:
        assert carol.delete(f"/api/v1/channels/{cid}/messages/{c_msg}").status_code == 204
        react = carol.put(f"/api/v1/channels/{cid}/messages/{a_msg}/reactions/%F0%9F%91%8D/@me")
        assert react.status_code == 204
    with client(a, "alice") as alice:
        pin = alice.put(f"/api/v1/channels/{cid}/pins/{b_msg}")
        assert pin.status_code == 204, pin.text
    wait_same(
        cid,
        (a, b, c),
        lambda h: (
            sorted(x[2] for x in h) == ["", "a reply", "ahoy from A", "hello (edited)"]
            and [x[4] for x in h if x[2] == "ahoy from A"] == [[("👍", "bob"), ("👍", "carol")]]
        ),
        90,
        "edits, deletes, reactions and the reply everywhere",
    )
    final = history(a, cid)
    assert [x[3] for x in final if x[0] == int(c_msg)] == [True]  # a tombstone everywhere

    def pinned_everywhere() -> bool:
        rows = [
            fed.sql("SELECT pinned FROM messaging_message WHERE id = ?", (int(b_msg),))
            for fed in (a, b, c)
        ]
        return all([bool(p) for (p,) in r] == [True] for r in rows)

    # The pin is announced after the reactions above, so it may still be in flight.
    deadline = time.monotonic() + 120
    while not pinned_everywhere() and time.monotonic() < deadline:
        time.sleep(0.3)
    assert pinned_everywhere()
    for fed in (a, b, c):
        reply_ref = fed.sql("SELECT reference_id FROM messaging_message WHERE content = 'a reply'")
        assert reply_ref == [(int(a_msg),)]
    # Search on a member's home node covers what it holds of the remote guild (issue 10).
    deadline = time.monotonic() + 120
    with client(b, "bob") as bob:
        while True:
            found = bob.get(f"/api/v1/guilds/{gid}/messages/search", params={"content": "ahoy"})
            assert found.status_code == 200, found.text
            ids_found = [m[0]["id"] for m in found.json()["messages"]]
            if ids_found or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    assert ids_found == [a_msg]


def test_the_host_refuses_a_message_its_permissions_forbid(nodes):
    a, b, _ = nodes["a"], nodes["b"], nodes["c"]
    gid, _, _ = ids(a)
    # A read-only channel: @everyone may read but not send.
    ro = a.python(
        "from accounts.models import User\nfrom guilds.models import Guild\n"
        "from guilds.services.channels import check_create_channel\n"
        "from guilds.services.overwrites import check_put_overwrite\n"
        f"g = Guild.objects.get(id={gid}); alice = User.objects.get(username='alice')\n"
        "ch = check_create_channel(alice, g.id, {'name': 'rules', 'type': 0})\n"
        "check_put_overwrite(alice, ch.id, g.id, {'type': 0, 'deny': str(1 << 11)})\n"
        "print(ch.id)"
    )
    ro = int(ro.strip().splitlines()[-1])
    b.wait_for(
        lambda: b.sql("SELECT deny FROM guilds_permissionoverwrite WHERE channel_id = ?", (ro,)),
        message="the overwrite replicated",
    )
    with client(b, "bob") as bob:  # B enforces the host's permissions too
        refused = bob.post(f"/api/v1/channels/{ro}/messages", json={"content": "may I?"})
        assert refused.status_code == 403
    # A node that does not check (or lies) sends it anyway: the host refuses it.
    b.python(
        "from django.db import transaction\n"
        "from accounts.models import User\nfrom federation import activities, delivery, actors\n"
        "from federation.guildwire import note\n"
        "from federation.models import GuildLink, MessageDelivery, RemoteActor\n"
        "from messaging.models import Message\nfrom united.hlc import clock\n"
        f"bob = User.objects.get(username='bob'); link = GuildLink.objects.get(guild_id={gid})\n"
        "s = clock().now()\n"
        "with transaction.atomic():\n"
        f"    m = Message.objects.create(channel_id={ro}, author=bob, content='sneaky',\n"
        "        hlc=s.pack(), hlc_node=s.node)\n"
        "    group = RemoteActor.objects.get(uri=link.group_uri)\n"
        "    create = activities.build('Create', actors.user_uri('bob'), note(m), to=[group.uri])\n"
        "    act = delivery.fan_out(create, [group])\n"
        "    MessageDelivery.objects.create(message_id=m.id, activity=act)\n"
    )
    b.wait_for(
        lambda: b.sql(
            "SELECT state, detail FROM federation_messagedelivery WHERE state = 'failed'"
        ),
        120,
        "the host's Reject",
    )
    ((state, detail),) = b.sql(
        "SELECT state, detail FROM federation_messagedelivery WHERE state = 'failed'"
    )
    assert "Missing Permissions" in detail
    assert a.sql("SELECT id FROM messaging_message WHERE content = 'sneaky'") == []

    # Bob sees it was not delivered, with a Retry; once the host allows it, a retry lands it.
    ((sneaky,),) = b.sql("SELECT id FROM messaging_message WHERE content = 'sneaky'")
    with client(b, "bob") as bob:
        page = bob.get(f"/app/guilds/{gid}/channels/{ro}/")
        assert page.status_code == 200
        assert 'data-delivery="failed"' in page.text and "data-retry" in page.text
        a.python(
            "from accounts.models import User\n"
            "from guilds.services.overwrites import check_put_overwrite\n"
            f"check_put_overwrite(User.objects.get(username='alice'), {ro}, {gid},"
            " {'type': 0, 'deny': '0'})"
        )
        retried = bob.post(f"/api/v1/federation/messages/{sneaky}/retry")
        assert retried.status_code == 200 and retried.json()["state"] == "sending", retried.text
        twice = bob.post(f"/api/v1/federation/messages/{sneaky}/retry")
        assert twice.status_code == 400  # only a failed message is sent again
        b.wait_for(
            lambda: (
                b.sql(
                    "SELECT state FROM federation_messagedelivery WHERE message_id = ?", (sneaky,)
                )
                == [("delivered",)]
            ),
            120,
            "the retried message delivered",
        )
        assert a.sql("SELECT id FROM messaging_message WHERE content = 'sneaky'") == [(sneaky,)]
        page = bob.get(f"/app/guilds/{gid}/channels/{ro}/")
        assert 'data-delivery="delivered"' in page.text and "data-retry" not in page.text


def test_key_bundles_and_an_opaque_object_cross_nodes(nodes):
    """What E2E DMs across nodes need: bob (B) fetches alice's (A) key bundles through B, and
    relays an opaque object to her devices; A stores it for her as it came."""
    a, b = nodes["a"], nodes["b"]
    a.python(
        "from accounts.models import User, Device\n"
        "alice = User.objects.get(username='alice')\n"
        "Device.objects.create(user=alice, name='laptop', identity_key='A' * 43 + '=',"
        " signed_prekey_id=1, signed_prekey='B' * 43 + '=', signed_prekey_signature='C' * 86)\n"
    )
    device_id = a.sql("SELECT id FROM accounts_device")[0][0]
    with client(b, "bob") as bob:
        keys = bob.get("/api/v1/federation/keys", params={"acct": f"alice@{a.domain}"})
        assert keys.status_code == 200, keys.text
        (bundle,) = keys.json()["devices"]
        assert bundle["identity_key"] == "A" * 43 + "="
        unsigned = httpx.get(f"{a.url}/users/alice/keys")
        assert unsigned.status_code == 401
        blob = {"ciphertext": "q83vEjRWeJA=", "n": 7}
        relayed = bob.post(
            "/api/v1/federation/device-messages",
            json={"to": f"alice@{a.domain}", "devices": [str(device_id)], "payload": blob},
        )
        assert relayed.status_code == 202, relayed.text
    a.wait_for(
        lambda: a.sql("SELECT payload FROM federation_relayedenvelope"), 60, "the relayed object"
    )
    with client(a, "alice") as alice:
        (envelope,) = alice.get("/api/v1/federation/device-messages").json()
        assert envelope["payload"] == blob and envelope["from"] == f"bob@{b.domain}"


def e2e_client(http: httpx.Client):
    """A united_client E2E client speaking through a signed-in httpx session."""
    from united_client.e2e.client import E2EClient

    def call(method: str, path: str, body=None):
        r = http.request(method, path, json=body)
        return r.status_code, (r.json() if r.content else None)

    me = http.get("/api/v1/users/@me").json()
    client = E2EClient(call, me["id"])
    client.register("python")
    return client


def sending(sender, fed: FedNode, channel_id: str, to: str, text: str) -> None:
    from united_client.e2e.errors import E2EError

    try:
        sender.send(channel_id, [to], text)
    except E2EError as exc:
        raise AssertionError(f"{exc}\n--- node {fed.node.name}:\n{fed.logs()}") from None


def plaintext_anywhere(fed: FedNode, needles: list[str]) -> list[str]:
    """Every (table, needle) where a needle appears in any text, bytes or JSON column."""
    if fed.node.production:
        tables = [
            r[0]
            for r in fed.sql(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
            )
        ]
    else:
        tables = [r[0] for r in fed.sql("SELECT name FROM sqlite_master WHERE type = 'table'")]
    found = []
    for table in tables:
        for row in fed.sql(f'SELECT * FROM "{table}"'):  # noqa: S608 (names from the catalogue)
            for value in row:
                if isinstance(value, memoryview):
                    value = value.tobytes()
                if isinstance(value, bytes):
                    value = value.decode("utf-8", "replace")
                elif isinstance(value, dict | list):
                    value = json.dumps(value)
                if isinstance(value, str):
                    found += [f"{table}: {n}" for n in needles if n in value]
    return found


def test_b_and_c_exchange_an_e2e_dm_and_no_database_holds_its_plaintext(nodes):
    a, b, c = nodes["a"], nodes["b"], nodes["c"]
    there, back = "a cross-node secret from bob 5e1f", "carol answers in secret 9c2d"
    with client(b, "bob") as bh, client(c, "carol") as ch:
        bob, carol = e2e_client(bh), e2e_client(ch)
        # Bob opens the DM by carol's handle on his own node, and writes as in a local DM:
        # B fetches her signed device list and bundles from C, then relays her copy.
        opened = bh.post("/api/v1/users/@me/channels", json={"recipient_id": f"carol@{c.domain}"})
        assert opened.status_code == 200, opened.text
        dm = opened.json()
        carol_on_b = next(u for u in dm["recipients"] if u["username"] == f"carol@{c.domain}")
        sending(bob, b, dm["id"], carol_on_b["id"], there)
        c.wait_for(
            lambda: c.sql("SELECT 1 FROM e2e_envelope WHERE channel_id = ?", (int(dm["id"]),)),
            90,
            "bob's envelope on C",
        )
        # Carol's node made the same DM (same id), with bob as bob@B.
        (mine,) = [d for d in ch.get("/api/v1/users/@me/channels").json() if d["id"] == dm["id"]]
        bob_on_c = next(u for u in mine["recipients"] if u["username"] == f"bob@{b.domain}")
        assert carol.read(dm["id"]) == [there]
        sending(carol, c, dm["id"], bob_on_c["id"], back)
        b.wait_for(
            lambda: b.sql(
                "SELECT 1 FROM e2e_envelope e JOIN accounts_user u ON u.id = e.sender_id "
                "WHERE e.channel_id = ? AND u.username = ?",
                (int(dm["id"]), f"carol@{c.domain}"),
            ),
            90,
            "carol's envelope on B",
        )
        assert bob.read(dm["id"]) == [back]
        # A plaintext DM to a member of another node is refused as locally.
        refused = bh.post(f"/api/v1/channels/{dm['id']}/messages", json={"content": "plain"})
        assert refused.status_code == 400 and refused.json()["code"] == 50055
    # No node's database holds either plaintext (the scanner does find what is stored).
    for fed in (a, b, c):
        assert plaintext_anywhere(fed, [there, back]) == [], fed.node.name
    assert plaintext_anywhere(b, [f"carol@{c.domain}"]), "the scan must see stored text"


def test_a_node_offline_back_fills_exactly(nodes):
    a, b, c = nodes["a"], nodes["b"], nodes["c"]
    gid, cid, _ = ids(a)
    b.stop_worker()
    b.node.stop()
    send(a, "alice", cid, "while B sleeps 1")
    carol_msg = send(c, "carol", cid, "while B sleeps 2")
    send(a, "alice", cid, "while B sleeps 3")
    with client(c, "carol") as carol:
        assert (
            carol.patch(
                f"/api/v1/channels/{cid}/messages/{carol_msg}",
                json={"content": "while B sleeps 2 (edited)"},
            ).status_code
            == 200
        )
    wait_same(cid, (a, c), lambda h: len(h) == 7, 60, "A and C")
    b.node.procs.clear()
    b.node.ports.clear()
    b.node.add_process(b.node._first_port)
    if b.node.production:
        b.start_worker()
    with client(b, "bob") as bob:
        assert bob.post(f"/api/v1/federation/guilds/{gid}/sync").status_code == 202
    wait_same(cid, (a, b), lambda h: len(h) == 7, 150, "B back-filled")
    assert len(history(b, cid)) == len(history(a, cid)) == 7
    ids_b = [h[0] for h in history(b, cid)]
    assert len(ids_b) == len(set(ids_b))
    # A's queued deliveries reach B later too: applied by id, they change nothing.
    a.wait_for(
        lambda: (
            not a.sql(
                "SELECT 1 FROM federation_delivery d "
                "JOIN federation_remotenode n ON n.id = d.node_id "
                "WHERE n.domain = ? AND d.state IN ('pending', 'sending', 'retrying')",
                (b.domain,),
            )
        ),
        120,
        "A's queue to B drained",
    )
    wait_same(cid, (a, b, c), lambda h: len(h) == 7, 30, "still the same")
    assert len(history(b, cid)) == 7


def test_a_mention_by_handle_reaches_the_home_node_of_the_mentioned(nodes):
    """bob (B) writes `@carol@C` in A's guild: A and C resolve the handle to their own row
    for carol, so C records the mention for her (unread mention count)."""
    a, b, c = nodes["a"], nodes["b"], nodes["c"]
    _, cid, _ = ids(a)
    mid = int(send(b, "bob", cid, f"@carol@{c.domain} the harbour is yours"))

    def mentioned(fed: FedNode) -> list[tuple]:
        return fed.sql(
            "SELECT u.username FROM messaging_message_mentions mm "
            "JOIN accounts_user u ON u.id = mm.user_id WHERE mm.message_id = ?",
            (mid,),
        )

    c.wait_for(lambda: mentioned(c) == [("carol",)], 90, "the mention on carol's node")
    assert mentioned(a) == [(f"carol@{c.domain}",)]
    count = c.python(
        "from accounts.models import User\nfrom guilds.models import Channel\n"
        "from messaging.services.readstates import read_states\n"
        f"(s,) = read_states(User.objects.get(username='carol'), [Channel.objects.get(id={cid})])\n"
        "print(s['mention_count'])"
    )
    assert int(count.strip().splitlines()[-1]) >= 1  # what her sidebar badge and READY show


def test_a_thread_started_on_b_is_the_hosts_thread_on_every_node(nodes):
    """bob (B) starts a thread in A's guild: A starts it with B's id under bob's permissions,
    C's replica gets it linked to its starter message, and bob's first message in it arrives."""
    a, b, c = nodes["a"], nodes["b"], nodes["c"]
    _, cid, _ = ids(a)
    mid = int(send(b, "bob", cid, "a topic worth a thread"))
    with client(b, "bob") as bob:
        made = bob.post(f"/api/v1/channels/{cid}/messages/{mid}/threads", json={"name": "Tides"})
        assert made.status_code == 201, made.text
    tid = int(made.json()["id"])

    def linked(fed: FedNode) -> list[tuple]:
        return fed.sql(
            "SELECT t.type, t.parent_id, t.name FROM messaging_message m "
            "JOIN guilds_channel t ON t.id = m.thread_id WHERE m.id = ? AND t.id = ?",
            (mid, tid),
        )

    for fed in (a, b, c):  # B too: the host's state keeps the thread B showed at once
        fed.wait_for(lambda f=fed: linked(f) == [(11, cid, "Tides")], 90, "the thread")
    first = int(send(b, "bob", tid, "first words in the thread"))
    for fed in (a, c):
        fed.wait_for(
            lambda f=fed: (
                f.sql("SELECT channel_id FROM messaging_message WHERE id = ?", (first,)) == [(tid,)]
            ),
            90,
            "the thread's first message",
        )


def test_a_report_forwarded_to_the_home_node_opens_a_case_there_without_the_reporter(nodes):
    """alice (A) reports bob's (B) message in A's guild and forwards it: B's queue gets a case
    about bob naming the message and the node that forwarded it, with no trace of alice. Her
    report can be forwarded by her only, and only when it is about someone of another node."""
    a, b = nodes["a"], nodes["b"]
    _, cid, _ = ids(a)
    mid = int(send(b, "bob", cid, "tide tables at three in the morning, every morning"))
    a.wait_for(
        lambda: a.sql("SELECT 1 FROM messaging_message WHERE id = ?", (mid,)), 90, "bob's message"
    )
    (alice_id,) = a.sql("SELECT id FROM accounts_user WHERE username = 'alice'")[0]
    dave_id = (
        a.python(
            "from accounts.models import User\n"
            f"print(User.objects.create_user('dave', password={PASSWORD!r}).id)"
        )
        .strip()
        .splitlines()[-1]
    )
    note = "posts the same tide table hourly"
    with client(a, "alice") as alice:
        made = alice.post(
            "/api/v1/reports",
            json={
                "type": "message",
                "channel_id": str(cid),
                "message_id": str(mid),
                "category": "spam",
                "note": note,
            },
        )
        assert made.status_code == 201, made.text
        report_id = made.json()["id"]
        local = alice.post(
            "/api/v1/reports", json={"type": "user", "user_id": dave_id, "category": "other"}
        )
        assert local.status_code == 201, local.text
        refused = alice.post(f"/api/v1/federation/reports/{local.json()['id']}/forward")
        assert refused.status_code == 400, refused.text
        assert refused.json()["code"] == 50035 and "report" in refused.json()["errors"]
    with client(a, "dave") as dave:
        stolen = dave.post(f"/api/v1/federation/reports/{report_id}/forward")
        assert stolen.status_code == 404, stolen.text
        assert stolen.json()["message"] == "Unknown report"
    with client(a, "alice") as alice:
        sent = alice.post(f"/api/v1/federation/reports/{report_id}/forward")
        assert sent.status_code == 202, sent.text
    assert sent.json()["to"] == b.domain
    assert sent.json()["object"][1].endswith(f"/messages/{mid}")

    def cases() -> list[tuple]:
        rows = b.sql(
            "SELECT c.id, c.kind, c.message_id, c.channel_id, c.snapshot, u.username, "
            "c.report_count, c.guild_id "
            "FROM moderation_reportcase c JOIN accounts_user u ON u.id = c.target_user_id"
        )
        # JSON comes back as a dict from PostgreSQL, as text from SQLite.
        rows = [
            (*r[:4], r[4] if isinstance(r[4], dict) else json.loads(r[4]), *r[5:]) for r in rows
        ]
        return [r for r in rows if r[4].get("forwarded_by")]

    b.wait_for(lambda: len(cases()) == 1, 60, "the forwarded case on B")
    ((case_id, kind, case_mid, case_cid, snapshot, target, count, guild),) = cases()
    assert target == "bob"
    assert (count, guild) == (1, None)  # one report, in B's operators' queue
    assert snapshot["forwarded_by"] == a.domain
    assert (kind, case_mid, case_cid) == ("message", mid, cid)
    assert snapshot["message"]["content"] == "tide tables at three in the morning, every morning"
    rows = b.sql(
        "SELECT reporter_id, category, note, reporter_attached_content FROM moderation_report "
        "WHERE case_id = ?",
        (case_id,),
    )
    assert len(rows) == 1 and rows[0][0] is None  # reporter unknown
    assert rows[0][1] == "spam"
    assert a.domain in rows[0][2] and note in rows[0][2]
    # Nothing that names alice travelled: not her name, not her id on A.
    stored = json.dumps([snapshot, rows], default=str)
    assert "alice" not in stored and str(alice_id) not in stored


def test_a_ban_on_the_host_holds_on_every_node(nodes):
    a, _, c = nodes["a"], nodes["b"], nodes["c"]
    gid, cid, code = ids(a)
    a.python(
        "from accounts.models import User\nfrom guilds.models import Guild\n"
        "from moderation.services.sanctions import do_ban\n"
        f"g = Guild.objects.get(id={gid}); alice = User.objects.get(username='alice')\n"
        f"do_ban(g, alice, User.objects.get(username='carol@{c.domain}'), 'spam')\n"
    )
    c.wait_for(
        lambda: (
            not c.sql(
                "SELECT 1 FROM guilds_member m JOIN accounts_user u ON u.id = m.user_id "
                "WHERE u.username = 'carol'"
            )
        ),
        120,
        "carol removed from the replica",
    )
    with client(c, "carol") as carol:
        refused = carol.post(f"/api/v1/channels/{cid}/messages", json={"content": "let me in"})
        assert refused.status_code in {403, 404}
        again = carol.post(
            "/api/v1/federation/guilds/join", json={"invite": f"{a.url}/invite/{code}"}
        )
        assert again.status_code == 202
    c.wait_for(
        lambda: (
            c.sql("SELECT state, detail FROM federation_remotejoin ORDER BY created_at DESC")[0][0]
            == "rejected"
        ),
        120,
        "the host's Reject of the rejoin",
    )
    detail = c.sql("SELECT detail FROM federation_remotejoin ORDER BY created_at DESC")[0][0]
    assert "banned" in detail.lower()
    assert not a.sql(
        "SELECT 1 FROM guilds_member m JOIN accounts_user u ON u.id = m.user_id "
        "WHERE u.username = ?",
        (f"carol@{c.domain}",),
    )


# --- the wider fediverse: an independent actor written here, with PyPI's httpsig ------------


class FediverseActor:
    """A minimal Mastodon-like server on loopback: one Person with an RSA key, an inbox that
    keeps what it receives. Signs and verifies with `httpsig`, never with our code."""

    def __init__(self) -> None:
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        from tests.services import free_port

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.private_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        public_pem = (
            key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.uri = f"{self.base}/users/fan"
        self.received: list[tuple[dict[str, str], bytes]] = []
        actor = {
            "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
            "id": self.uri,
            "type": "Person",
            "preferredUsername": "fan",
            "inbox": f"{self.uri}/inbox",
            "outbox": f"{self.uri}/outbox",
            "endpoints": {"sharedInbox": f"{self.base}/inbox"},
            "publicKey": {
                "id": f"{self.uri}#main-key",
                "owner": self.uri,
                "publicKeyPem": public_pem,
            },
        }
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                if self.path.split("?")[0] == "/users/fan":
                    body = json.dumps(actor).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/activity+json")
                else:
                    body = b"{}"
                    self.send_response(404)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = dict(self.headers.items())
                headers["(path)"] = self.path
                outer.received.append((headers, body))
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def post(self, inbox: str, activity: dict) -> httpx.Response:
        import base64
        import hashlib
        import json
        from email.utils import formatdate
        from urllib.parse import urlsplit

        import httpsig

        body = json.dumps(activity).encode()
        parts = urlsplit(inbox)
        headers = {
            "Host": parts.netloc,
            "Date": formatdate(usegmt=True),
            "Digest": "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode(),
            "Content-Type": "application/activity+json",
        }
        signer = httpsig.HeaderSigner(
            f"{self.uri}#main-key",
            self.private_pem,
            algorithm="rsa-sha256",
            headers=["(request-target)", "host", "date", "digest"],
            sign_header="signature",
        )
        signed = signer.sign(headers, host=parts.netloc, method="POST", path=parts.path)
        return httpx.post(inbox, content=body, headers=signed, timeout=30)

    def verified(self, type_: str) -> list[dict]:
        """Activities of `type_` received whose signature and digest verify (httpsig)."""
        import base64
        import hashlib
        import json

        import httpsig

        found = []
        for headers, body in self.received:
            activity = json.loads(body)
            if activity.get("type") != type_:
                continue
            key_id = httpsig.utils.parse_signature_header(headers["Signature"])["keyid"]
            owner = httpx.get(
                key_id.split("#")[0], headers={"Accept": "application/activity+json"}
            ).json()
            assert owner["publicKey"]["id"] == key_id
            lowered = {k.lower(): v for k, v in headers.items() if k != "(path)"}
            verifier = httpsig.HeaderVerifier(
                lowered,
                owner["publicKey"]["publicKeyPem"].encode(),
                required_headers=["(request-target)", "host", "date", "digest"],
                method="POST",
                path=headers["(path)"],
                sign_header="signature",
            )
            assert verifier.verify(), "the signature does not verify"
            digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
            assert lowered["digest"] == f"SHA-256={digest}"
            found.append(activity)
        return found


def test_a_fediverse_actor_follows_the_announcement_channel_and_replies(nodes):
    a = nodes["a"]
    gid, _, _ = ids(a)
    news = int(
        a.python(
            "from accounts.models import User\n"
            "from guilds.services.channels import check_create_channel\n"
            "alice = User.objects.get(username='alice')\n"
            f"print(check_create_channel(alice, {gid}, {{'name': 'news', 'type': 5}}).id)"
        ).splitlines()[-1]
    )
    fan = FediverseActor()
    try:
        jrd = httpx.get(
            f"{a.url}/.well-known/webfinger", params={"resource": f"acct:news-{news}@{a.domain}"}
        ).json()
        channel_actor = next(link["href"] for link in jrd["links"] if link["rel"] == "self")
        group = httpx.get(channel_actor, headers={"Accept": "application/activity+json"}).json()
        assert group["type"] == "Group" and group["inbox"].startswith(a.url)
        follow = {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": f"{fan.base}/follows/1",
            "type": "Follow",
            "actor": fan.uri,
            "object": channel_actor,
        }
        assert fan.post(group["inbox"], follow).status_code == 202
        a.wait_for(lambda: fan.verified("Accept"), 60, "Accept of the Follow")
        with client(a, "alice") as alice:
            upload = alice.post(
                "/api/v1/upload", files={"file": ("notes.txt", b"tide tables", "text/plain")}
            )
            assert upload.status_code == 201, upload.text
            posted = alice.post(
                f"/api/v1/channels/{news}/messages",
                json={"content": "**High tide** at <noon>", "attachments": [upload.json()["id"]]},
            )
            assert posted.status_code == 200, posted.text
        a.wait_for(lambda: fan.verified("Create"), 60, "Create(Note)")
        (create,) = fan.verified("Create")
        note = create["object"]
        assert create["actor"] == note["attributedTo"] == channel_actor
        assert create["to"] == note["to"] == ["https://www.w3.org/ns/activitystreams#Public"]
        assert create["cc"] == note["cc"] == [f"{channel_actor}/followers"]
        assert "<strong>High tide</strong>" in note["content"] and "<noon>" not in note["content"]
        (doc,) = note["attachment"]
        assert doc["type"] == "Document" and doc["name"] == "notes.txt" and doc["mediaType"]
        assert httpx.get(doc["url"]).content == b"tide tables"  # fetchable without an account
        assert (
            httpx.get(note["id"], headers={"Accept": "application/activity+json"}).json()["id"]
            == note["id"]
        )
        reply = {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": f"{fan.base}/statuses/1/activity",
            "type": "Create",
            "actor": fan.uri,
            "to": ["https://www.w3.org/ns/activitystreams#Public"],
            "cc": [channel_actor],
            "object": {
                "id": f"{fan.base}/statuses/1",
                "type": "Note",
                "attributedTo": fan.uri,
                "inReplyTo": note["id"],
                "content": "<p>Thanks for <b>the</b> tip!</p><script>x</script>",
                "to": ["https://www.w3.org/ns/activitystreams#Public"],
            },
        }
        assert fan.post(group["inbox"], reply).status_code == 202
        a.wait_for(
            lambda: a.sql(
                "SELECT m.content, u.username, t.type, t.parent_id FROM messaging_message m "
                "JOIN guilds_channel t ON t.id = m.channel_id "
                "JOIN accounts_user u ON u.id = m.author_id WHERE t.parent_id = ?",
                (news,),
            ),
            120,
            "the reply in the linked thread",
        )
        ((content, author, kind, parent),) = a.sql(
            "SELECT m.content, u.username, t.type, t.parent_id FROM messaging_message m "
            "JOIN guilds_channel t ON t.id = m.channel_id "
            "JOIN accounts_user u ON u.id = m.author_id WHERE t.parent_id = ?",
            (news,),
        )
        assert content == "Thanks for the tip!x" or content.startswith("Thanks for the tip!")
        assert "<" not in content
        assert author == f"fan@127.0.0.1:{fan.port}" and kind == 11 and parent == news
        starter = a.sql("SELECT thread_id FROM messaging_message WHERE channel_id = ?", (news,))
        assert starter and starter[0][0] is not None
    finally:
        fan.server.shutdown()


def test_a_member_of_b_uses_a_guild_of_a_through_b_web_ui(nodes):
    """Playwright + Chromium: dave (node B) joins A's guild from B's start page, sees the
    host's manifest first, reads A's history and writes into it; the message reaches A."""
    import subprocess

    from tests.browser import launch
    from tests.nodes import ROOT

    sync_api = pytest.importorskip("playwright.sync_api")
    if not (ROOT / "static" / "dist" / "app.js").exists():
        subprocess.run(["npm", "run", "build"], cwd=ROOT, check=True, capture_output=True)
    a, b = nodes["a"], nodes["b"]
    gid, cid, code = ids(a)
    b.python(
        f"from accounts.models import User; User.objects.create_user('dave', password={PASSWORD!r})"
    )
    send(a, "alice", cid, "welcome, whoever comes next")  # history from before dave joins
    with sync_api.sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page()
        page.set_default_timeout(60_000)
        page.goto(f"{b.url}/login/?next=/app/start/")
        page.fill("#id_username", "dave")
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("#invite-input")
        page.fill("#invite-input", f"{a.url}/invite/{code}")
        page.click("#join-title ~ form button[type=submit]")
        page.wait_for_selector("[data-manifest]")
        assert "Logs IP addresses: no" in page.inner_text("[data-manifest]")
        assert "Harbour" in page.inner_text("#fed-guild")
        page.click("[data-join]")
        page.wait_for_url(f"**/app/guilds/{gid}/**")
        assert page.locator("[data-remote-guild]").count() == 1  # in the rail, marked remote
        page.wait_for_selector("text=welcome, whoever comes next")  # back-filled on joining
        page.fill("#composer-input", "hello A, from B's web client")
        page.keyboard.press("Enter")
        a.wait_for(
            lambda: (
                a.sql(
                    "SELECT u.username FROM messaging_message m JOIN accounts_user u "
                    "ON u.id = m.author_id WHERE m.content = ?",
                    ("hello A, from B's web client",),
                )
                == [(f"dave@{b.domain}",)]
            ),
            120,
            "dave's message on A",
        )
        b.wait_for(
            lambda: (
                b.sql(
                    "SELECT state FROM federation_messagedelivery d JOIN messaging_message m "
                    "ON m.id = d.message_id WHERE m.content = ?",
                    ("hello A, from B's web client",),
                )
                == [("delivered",)]
            ),
            120,
            "delivered",
        )
        page.reload()
        page.wait_for_selector("[data-delivery='delivered']")
        # An E2E DM with a member of another node from B's web client: dave opens it by
        # alice's handle and his browser encrypts; alice (Python client on A) reads, answers.
        with client(a, "alice") as ah:
            alice = e2e_client(ah)
            page.goto(f"{b.url}/app/dms/")
            page.click("[data-new-dm-open]")
            page.fill("#dm-handle", "nobody@" + a.domain)
            page.click("[data-dm-handle-form] button[type=submit]")
            page.wait_for_selector("#dm-handle-error")  # a clear refusal, no conversation
            page.fill("#dm-handle", f"alice@{a.domain}")
            page.click("[data-dm-handle-form] button[type=submit]")
            page.wait_for_selector("[data-e2e-pane][data-e2e-ready=true]")
            dm_id = page.get_attribute("[data-e2e-pane]", "data-channel-id")
            assert f"alice@{a.domain}" in page.inner_text("#channel-title")
            page.fill("#composer-input", "from dave's browser to alice on A")
            page.keyboard.press("Enter")
            a.wait_for(
                lambda: a.sql("SELECT 1 FROM e2e_envelope WHERE channel_id = ?", (int(dm_id),)),
                90,
                "dave's envelope on A",
            )
            assert alice.read(dm_id) == ["from dave's browser to alice on A"]
            (dm,) = [d for d in ah.get("/api/v1/users/@me/channels").json() if d["id"] == dm_id]
            dave_on_a = next(u["id"] for u in dm["recipients"] if u["username"] != "alice")
            alice.send(dm_id, [dave_on_a], "alice answers the browser")
            page.wait_for_selector("[data-message]:has-text('alice answers the browser')")
        browser.close()
