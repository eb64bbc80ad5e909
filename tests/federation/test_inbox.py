"""The inbox door: what is accepted, stored once and processed, and what is refused and why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from federation import handlers, policy
from federation.models import (
    Delivery,
    FederationPolicy,
    Follow,
    InboxItem,
    InboxRejection,
    RemoteActor,
    RemoteNode,
)
from tests.federation.fixtures import post_signed, remote_identity

pytestmark = pytest.mark.django_db


@pytest.fixture
def eve(db):
    return remote_identity()


@pytest.fixture
def bob(make_user):
    return make_user("bob")


def follow(eve, n: int = 1, target: str = "http://127.0.0.1:8000/users/bob") -> dict:
    return {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"https://remote.example/activities/{n}",
        "type": "Follow",
        "actor": eve.uri,
        "object": target,
    }


@pytest.fixture(autouse=True)
def _local_base(settings):
    settings.FEDERATION_DOMAIN = "127.0.0.1:8000"
    settings.FEDERATION_SCHEME = "http"


def rejection(reason: str) -> InboxRejection:
    rows = list(InboxRejection.objects.filter(reason=reason))
    assert len(rows) == 1, list(InboxRejection.objects.values_list("reason", flat=True))
    return rows[0]


def test_follow_is_stored_once_processed_and_accepted(client, eve, bob):
    response = post_signed(client, eve, follow(eve))
    assert response.status_code == 202, response.content
    # Redelivery: acknowledged, no second item, no second effect.
    assert post_signed(client, eve, follow(eve)).status_code == 202
    item = InboxItem.objects.get()
    assert item.state == "received" and item.node.domain == "remote.example"
    assert handlers.process(item.id) == "processed"
    assert handlers.process(item.id) == "processed"  # a re-run job changes nothing
    assert Follow.objects.get().state == "accepted"
    accept = Delivery.objects.get()
    assert accept.inbox == "https://remote.example/inbox"  # shared inbox preferred
    assert accept.activity.payload["type"] == "Accept"
    assert accept.activity.payload["object"]["id"] == "https://remote.example/activities/1"


def test_personal_inbox_of_unknown_user_is_404(client, eve):
    assert post_signed(client, eve, follow(eve), path="/users/nobody/inbox").status_code == 404


def test_unknown_type_is_acknowledged_and_ignored(client, eve):
    activity = follow(eve) | {"type": "Listen", "object": "https://remote.example/x"}
    assert post_signed(client, eve, activity).status_code == 202
    item = InboxItem.objects.get()
    assert handlers.process(item.id) == "ignored"


def test_forged_signature_is_refused(client, eve):
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    response = post_signed(client, eve, follow(eve), key=forger)
    assert response.status_code == 401
    assert rejection("bad_signature").domain == "remote.example"
    assert not InboxItem.objects.exists()


def test_actor_from_another_origin_is_refused(client, eve):
    activity = follow(eve) | {"actor": "https://victim.example/users/admin"}
    assert post_signed(client, eve, activity).status_code == 401
    rejection("wrong_origin")
    activity = follow(eve) | {"id": "https://victim.example/activities/1"}
    assert post_signed(client, eve, activity).status_code == 401


def test_stale_date_is_refused(client, eve):
    old = datetime.now(UTC) - timedelta(hours=3)
    assert post_signed(client, eve, follow(eve), now=old).status_code == 401
    rejection("stale_date")


def test_digest_mismatch_is_refused(client, eve):
    tampered = follow(eve, 2)
    import json

    response = post_signed(client, eve, follow(eve), body_override=json.dumps(tampered).encode())
    assert response.status_code == 401
    rejection("digest_mismatch")


def test_oversized_body_is_refused(client, eve):
    big = follow(eve) | {"padding": "x" * 300_000}
    assert post_signed(client, eve, big).status_code == 413
    rejection("too_large")


def test_unsigned_and_invalid_json_are_refused(client, eve):
    assert client.post("/inbox", data=b"{}", content_type="application/json").status_code == 401
    rejection("unsigned")
    assert post_signed(client, eve, b"not json").status_code == 400
    rejection("invalid_json")


def test_blocked_node_is_refused_and_purged(client, eve, bob):
    assert post_signed(client, eve, follow(eve)).status_code == 202
    handlers.process(InboxItem.objects.get().id)
    node = RemoteNode.objects.get(domain="remote.example")
    policy.do_block_node(node, "spam")
    # Purged: cached actors, keys, follows, inbox items; the queued Accept is cancelled.
    assert not RemoteActor.objects.exists() and not Follow.objects.exists()
    assert not InboxItem.objects.exists()
    assert Delivery.objects.get().state == "cancelled"
    assert post_signed(client, eve, follow(eve, 2)).status_code == 403
    rejection("blocked")


def test_blocked_actor_is_refused(client, eve):
    policy.do_block_actor(RemoteActor.objects.get(uri=eve.uri))
    assert post_signed(client, eve, follow(eve)).status_code == 403
    rejection("actor_blocked")


def test_allowlist_only_mode(client, eve):
    FederationPolicy.objects.update_or_create(pk=1, defaults={"allowlist_only": True})
    assert post_signed(client, eve, follow(eve)).status_code == 403
    rejection("not_allowlisted")
    RemoteNode.objects.filter(domain="remote.example").update(allowed=True)
    assert post_signed(client, eve, follow(eve)).status_code == 202


def test_manifest_policy_refuses_ip_logging_nodes(client, eve):
    FederationPolicy.objects.update_or_create(pk=1, defaults={"refuse_ip_logging": True})
    node = RemoteNode.objects.get(domain="remote.example")
    policy.record_manifest(
        node, {"software": {"name": "united"}, "privacy_manifest": {"ip_logging": True}}
    )
    assert node.manifest_problems
    assert post_signed(client, eve, follow(eve)).status_code == 403
    rejection("manifest")
    policy.record_manifest(
        node, {"software": {"name": "united"}, "privacy_manifest": {"ip_logging": False}}
    )
    assert post_signed(client, eve, follow(eve)).status_code == 202


def test_rfc9421_signed_follow_is_accepted_and_tampering_refused(client, eve, bob):
    import json

    from federation import rfc9421

    body = json.dumps(follow(eve, 7)).encode()
    headers = rfc9421.sign_request("POST", "http://testserver/inbox", body, eve.key_id, eve.key)
    sent = client.post(
        "/inbox",
        data=body,
        content_type="application/activity+json",
        headers={**headers, "Host": "testserver"},
    )
    assert sent.status_code == 202, sent.content
    tampered = client.post(
        "/users/bob/inbox",
        data=body,
        content_type="application/activity+json",
        headers={**headers, "Host": "testserver"},
    )
    assert tampered.status_code == 401  # the signature covers the target URI
    rejection("bad_signature")


def test_signed_get_is_verified_when_present(client, eve, bob):
    from federation.signatures import sign_request

    good = sign_request("GET", "http://testserver/users/bob", None, eve.key_id, eve.key)
    assert client.get("/users/bob", headers=good).status_code == 200
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    bad = sign_request("GET", "http://testserver/users/bob", None, eve.key_id, forger)
    assert client.get("/users/bob", headers=bad).status_code == 401
    assert client.get("/users/bob").status_code == 200  # unsigned fetches are served


def test_first_contact_judges_the_manifest_before_anything_else(client, settings):
    import json

    from tests.federation.fixtures import Recorder, RemoteIdentity

    settings.FEDERATION_ALLOW_PRIVATE = ["127.0.0.1/32"]
    FederationPolicy.objects.update_or_create(pk=1, defaults={"refuse_ip_logging": True})
    server = Recorder().start()
    try:
        ident = RemoteIdentity(
            f"{server.base}/users/mallory",
            rsa.generate_private_key(public_exponent=65537, key_size=2048),
            f"{server.base}/users/mallory/inbox",
        )
        manifest = {"software": {"name": "united"}, "privacy_manifest": {"ip_logging": True}}
        server.routes["/.well-known/federation"] = (200, {}, json.dumps(manifest).encode())
        server.routes["/users/mallory"] = (200, {}, json.dumps(ident.document()).encode())
        activity = follow(ident) | {"id": f"{server.base}/activities/1"}
        assert post_signed(client, ident, activity).status_code == 403
        rejection("manifest")
        node = RemoteNode.objects.get(domain=server.base.removeprefix("http://"))
        assert node.is_united and node.manifest_problems
        assert not RemoteActor.objects.exists()  # we did not even fetch its actor
    finally:
        server.stop()


def test_our_activities_are_served_only_to_their_counterparties(client, eve, bob):
    from federation import services
    from federation.models import Activity
    from federation.signatures import sign_request
    from tests.federation.fixtures import remote_identity

    services.do_follow(bob, RemoteActor.objects.get(uri=eve.uri))
    path = Activity.objects.get().uri.removeprefix("http://127.0.0.1:8000")
    url = f"http://testserver{path}"
    assert client.get(path).status_code == 401
    as_eve = sign_request("GET", url, None, eve.key_id, eve.key)
    assert client.get(path, headers=as_eve).json()["type"] == "Follow"
    stranger = remote_identity("https://elsewhere.example/users/sam")
    as_stranger = sign_request("GET", url, None, stranger.key_id, stranger.key)
    assert client.get(path, headers=as_stranger).status_code == 404
