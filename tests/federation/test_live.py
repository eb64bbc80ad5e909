"""Two and three real nodes on loopback: WebFinger discovery, signed activities, and the
faults a federation must survive (a peer down for a while, a worker killed mid-delivery)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.nodes import login, services_mode

pytestmark = pytest.mark.live
PASSWORD = "correct horse battery staple"


def follow_via_api(node, username: str, acct: str) -> dict:
    with httpx.Client(base_url=node.url, timeout=30) as client:
        login(client, username, PASSWORD)
        response = client.post(
            "/api/v1/federation/follow",
            json={"acct": acct},
            headers={"X-CSRFToken": client.cookies.get("csrftoken")},
        )
        assert response.status_code == 202, response.text
        return response.json()


def follow_state(node, username: str, actor_uri: str, outgoing: bool = True) -> str | None:
    rows = node.sql(
        "SELECT f.state FROM federation_follow f JOIN accounts_user u ON u.id = f.local_user_id "
        "JOIN federation_remoteactor a ON a.id = f.remote_actor_id "
        "WHERE u.username = ? AND a.uri = ? AND f.outgoing = ?",
        (username, actor_uri, outgoing),
    )
    return rows[0][0] if rows else None


def users(node, *names: str) -> None:
    node.python(
        "from accounts.models import User\n"
        + "".join(f"User.objects.create_user({n!r}, password={PASSWORD!r})\n" for n in names)
    )


def churn(node, username: str, actor_uri: str, pairs: int) -> None:
    """`pairs` Follow/Undo pairs then a last Follow, from one user, as fast as the node can."""
    node.python(
        "from accounts.models import User\n"
        "from federation import services\n"
        "from federation.models import RemoteActor\n"
        f"user = User.objects.get(username={username!r})\n"
        f"actor = RemoteActor.objects.get(uri={actor_uri!r})\n"
        f"for _ in range({pairs}):\n"
        "    services.do_follow(user, actor)\n"
        "    services.do_unfollow(user, actor)\n"
        "services.do_follow(user, actor)\n"
    )


def sent_to(node, domain: str) -> list[str]:
    return [
        row[0]
        for row in node.sql(
            "SELECT a.uri FROM federation_activity a JOIN federation_delivery d "
            "ON d.activity_id = a.id JOIN federation_remotenode n ON n.id = d.node_id "
            "WHERE n.domain = ? ORDER BY a.id",
            (domain,),
        )
    ]


def received_from(node, domain: str) -> list[str]:
    return [
        row[0]
        for row in node.sql(
            "SELECT i.activity_uri FROM federation_inboxitem i JOIN federation_remotenode n "
            "ON n.id = i.node_id WHERE n.domain = ? ORDER BY i.id",
            (domain,),
        )
    ]


def delivered_states(node) -> set[str]:
    return {row[0] for row in node.sql("SELECT DISTINCT state FROM federation_delivery")}


def test_two_nodes_discover_and_follow(fed_node):
    a, b = fed_node.many("a", "b")
    users(a, "alice")
    users(b, "bob")

    jrd = httpx.get(f"{b.url}/.well-known/webfinger", params={"resource": f"acct:bob@{b.domain}"})
    assert jrd.status_code == 200 and jrd.headers["content-type"] == "application/jrd+json"
    bob_uri = f"http://{b.domain}/users/bob"
    assert {"rel": "self", "type": "application/activity+json", "href": bob_uri} in jrd.json()[
        "links"
    ]

    follow = follow_via_api(a, "alice", f"bob@{b.domain}")
    assert follow["state"] == "pending" and follow["actor"] == bob_uri
    a.wait_for(lambda: follow_state(a, "alice", bob_uri) == "accepted", message="Accept")

    # B got one Follow from alice@A, signed with A's Ed25519 key (A read B's manifest first).
    (item,) = b.sql("SELECT type, actor_uri, key_id, state FROM federation_inboxitem")
    assert item[:2] == ("Follow", f"http://{a.domain}/users/alice") and item[3] == "processed"
    assert item[2].startswith(f"http://{a.domain}/users/alice#ed25519-")
    assert httpx.get(f"{b.url}/users/bob/followers").json()["totalItems"] == 1
    # A's own record of B: a UNITED node whose manifest and keys it knows.
    (node,) = a.sql("SELECT is_united, manifest, status FROM federation_remotenode")
    assert node[0] in (True, 1) and "ip_logging" in str(node[1]) and node[2] == "ok"

    # Unfollow: Undo reaches B and removes the follower.
    with httpx.Client(base_url=a.url, timeout=30) as client:
        login(client, "alice", PASSWORD)
        response = client.request(
            "DELETE",
            "/api/v1/federation/follow",
            json={"acct": f"bob@{b.domain}"},
            headers={"X-CSRFToken": client.cookies.get("csrftoken")},
        )
        assert response.status_code == 204, response.text
    b.wait_for(
        lambda: httpx.get(f"{b.url}/users/bob/followers").json()["totalItems"] == 0,
        message="Undo",
    )


def test_three_nodes_follow_each_other(fed_node):
    a, b, c = fed_node.many("a", "b", "c")
    for node, name in ((a, "alice"), (b, "bob"), (c, "carol")):
        users(node, name)
    requests = [
        (a, "alice", f"bob@{b.domain}"),
        (b, "bob", f"carol@{c.domain}"),
        (c, "carol", f"alice@{a.domain}"),
        (c, "carol", f"bob@{b.domain}"),
    ]
    with ThreadPoolExecutor(len(requests)) as pool:  # members on three nodes, at once
        list(pool.map(lambda r: follow_via_api(*r), requests))
    for node, user, target in (
        (a, "alice", f"http://{b.domain}/users/bob"),
        (b, "bob", f"http://{c.domain}/users/carol"),
        (c, "carol", f"http://{a.domain}/users/alice"),
        (c, "carol", f"http://{b.domain}/users/bob"),
    ):
        node.wait_for(
            lambda n=node, u=user, t=target: follow_state(n, u, t) == "accepted",
            message=f"{user} → {target}",
        )
    # Each node verified the others' signatures and knows both as UNITED nodes.
    for node in (a, b, c):
        rows = node.sql("SELECT domain, is_united FROM federation_remotenode")
        assert len(rows) == 2 and all(r[1] in (True, 1) for r in rows), rows
        assert not node.sql("SELECT reason FROM federation_inboxrejection")


def test_peer_down_then_back_gets_everything_once_in_order(fed_node):
    a, b = fed_node.many("a", "b")
    users(a, "alice")
    users(b, "bob")
    follow_via_api(a, "alice", f"bob@{b.domain}")
    a.wait_for(lambda: received_from(b, a.domain) == sent_to(a, b.domain), message="first Follow")

    port = b.node.ports[0]
    b.node.stop()
    b.stop_worker()
    churn(a, "alice", f"http://{b.domain}/users/bob", 6)  # Undo, then 6 × (Follow, Undo) - 1
    a.wait_for(
        lambda: (
            a.sql("SELECT status FROM federation_remotenode WHERE domain = ?", (b.domain,))
            == [("unreachable",)]
        ),
        message="B marked unreachable",
    )
    time.sleep(1)
    b.node.add_process(port)
    if b.node.production:
        b.start_worker()

    expected = sent_to(a, b.domain)
    assert len(expected) == 13
    b.wait_for(
        lambda: len(received_from(b, a.domain)) == len(expected), timeout=90, message="catch-up"
    )
    assert received_from(b, a.domain) == expected  # once each, in A's order
    a.wait_for(lambda: delivered_states(a) == {"delivered"}, message="A's queue drained")
    # The last activity was a Follow: B ends with alice following bob.
    b.wait_for(
        lambda: httpx.get(f"{b.url}/users/bob/followers").json()["totalItems"] == 1,
        message="final follow state",
    )


def restart_redis() -> None:
    import atexit

    from tests import services, settings_services

    old = settings_services._redis
    old.kill()
    new = services.start_redis(port=old.port)
    settings_services._redis = new
    atexit.register(new.stop)


def test_worker_killed_mid_delivery_loses_and_duplicates_nothing(fed_node):
    a, b = fed_node.many("a", "b")
    users(a, "alice")
    users(b, "bob")
    follow_via_api(a, "alice", f"bob@{b.domain}")
    a.wait_for(lambda: received_from(b, a.domain) == sent_to(a, b.domain), message="first Follow")

    churn(a, "alice", f"http://{b.domain}/users/bob", 30)  # 61 more activities
    total = len(sent_to(a, b.domain))
    deadline = time.monotonic() + 60
    while len(received_from(b, a.domain)) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    # kill -9 whatever runs A's delivery jobs: the Celery worker, or the embedded node itself.
    if a.node.production:
        a.stop_worker(kill=True)
    else:
        port = a.node.ports[0]
        a.node.procs[0].kill()
        a.node.procs[0].wait()
    got = len(received_from(b, a.domain))
    assert 0 < got < total, f"the kill was not mid-delivery ({got}/{total})"
    if a.node.production:
        # And Redis (broker, cache, channel layer) restarts while the worker is gone: the
        # database rows carry the work, the new worker and beat re-announce what is due.
        restart_redis()
        a.start_worker()
    else:
        a.node.add_process(port)

    b.wait_for(lambda: len(received_from(b, a.domain)) >= total, timeout=120, message="resume")
    time.sleep(1)
    assert received_from(b, a.domain) == sent_to(a, b.domain)  # nothing lost, nothing twice
    a.wait_for(lambda: delivered_states(a) == {"delivered"}, message="A's queue drained")


@pytest.mark.skipif(not services_mode(), reason="the sweep runs on a Celery worker in production")
def test_worker_killed_mid_ttl_sweep_expires_everything_once(fed_node):
    """A Celery worker is killed with SIGKILL while the TTL sweep deletes expired messages;
    the next worker finishes the sweep: every expired message is gone, each announced once
    (one MESSAGE_DELETE per message), and no message that had not expired is touched."""
    (a,) = fed_node.many("a")
    a.stop_worker()  # the messages are written first, then the sweep starts
    a.python(
        "from datetime import timedelta\n"
        "from django.utils import timezone\n"
        "from accounts.models import User\n"
        "from guilds.services import channels, guilds\n"
        "from messaging.models import Message\n"
        "from messaging.services.messages import check_send_message\n"
        f"owner = User.objects.create_user('tess', password={PASSWORD!r})\n"
        "guild = guilds.check_create_guild(owner, name='TTL', description='')\n"
        "channel = channels.check_create_channel(owner, guild.id, {'name': 'ttl', 'type': 0})\n"
        "for i in range(400):\n"
        "    check_send_message(owner, channel.id, content=f'short-lived {i}', ttl_seconds=3600)\n"
        "for i in range(10):\n"
        "    check_send_message(owner, channel.id, content=f'kept {i}')\n"
        "Message.objects.filter(expires_at__isnull=False).update(\n"
        "    expires_at=timezone.now() - timedelta(seconds=1))\n"
    )

    def remaining() -> int:
        return a.sql("SELECT count(*) FROM messaging_message WHERE expires_at IS NOT NULL")[0][0]

    a.start_worker()
    deadline = time.monotonic() + 90
    while remaining() == 400 and time.monotonic() < deadline:
        time.sleep(0.01)
    a.stop_worker(kill=True)
    left = remaining()
    assert 0 < left < 400, f"the kill was not mid-sweep ({left} of 400 left)"
    a.start_worker()
    # The dead worker's lease (60 s) runs out, then the next sweep finishes the job.
    a.wait_for(lambda: remaining() == 0, timeout=150, message="the sweep finished")
    deletes = a.sql(
        "SELECT d->>'id', count(*) FROM messaging_gatewayevent "
        "WHERE t = 'MESSAGE_DELETE' GROUP BY 1"
    )
    assert len(deletes) == 400 and {n for _, n in deletes} == {1}
    kept = a.sql("SELECT content FROM messaging_message ORDER BY content")
    assert [row[0] for row in kept] == [f"kept {i}" for i in range(10)]
