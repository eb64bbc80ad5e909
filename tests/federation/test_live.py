"""Two and three real nodes on loopback: WebFinger discovery and signed activities."""

from __future__ import annotations

import httpx
import pytest

from tests.nodes import login

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=False)]


def follow_via_api(node, username: str, password: str, acct: str) -> dict:
    with httpx.Client(base_url=node.url, timeout=30) as client:
        login(client, username, password)
        response = client.post(
            "/api/v1/federation/follow",
            json={"acct": acct},
            headers={"X-CSRFToken": client.cookies.get("csrftoken")},
        )
        assert response.status_code == 202, response.text
        return response.json()


def follow_state(node, username: str, actor_uri: str) -> str | None:
    rows = node.sql(
        "SELECT f.state FROM federation_follow f JOIN accounts_user u ON u.id = f.local_user_id "
        "JOIN federation_remoteactor a ON a.id = f.remote_actor_id "
        "WHERE u.username = ? AND a.uri = ? AND f.outgoing = ?",
        (username, actor_uri, True),
    )
    return rows[0][0] if rows else None


def test_two_nodes_discover_and_follow(fed_node):
    a, b = fed_node("a"), fed_node("b")
    a.node.create_user("alice", "correct horse battery staple")
    b.node.create_user("bob", "correct horse battery staple")

    # Discovery documents a peer reads.
    jrd = httpx.get(f"{b.url}/.well-known/webfinger", params={"resource": f"acct:bob@{b.domain}"})
    assert jrd.status_code == 200 and jrd.headers["content-type"] == "application/jrd+json"
    bob_uri = f"http://{b.domain}/users/bob"
    assert {"rel": "self", "type": "application/activity+json", "href": bob_uri} in jrd.json()[
        "links"
    ]

    follow = follow_via_api(a, "alice", "correct horse battery staple", f"bob@{b.domain}")
    assert follow["state"] == "pending" and follow["actor"] == bob_uri
    a.wait_for(lambda: follow_state(a, "alice", bob_uri) == "accepted", message="Accept")

    # B saw a signed Follow from A's alice and knows A is a UNITED node (Ed25519 between us).
    items = b.sql("SELECT type, actor_uri, key_id, state FROM federation_inboxitem")
    assert items == [
        ("Follow", f"http://{a.domain}/users/alice", items[0][2], "processed"),
    ]
    b.wait_for(
        lambda: (
            b.sql("SELECT is_united FROM federation_remotenode WHERE domain = ?", (a.domain,))
            == [(True,)]
        ),
        message="manifest check",
    )
    followers = httpx.get(f"{b.url}/users/bob/followers").json()
    assert followers["totalItems"] == 1
