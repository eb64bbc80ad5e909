"""The delivery engine against a foreign server on loopback: order, signatures, backoff,
dead letters, unreachable nodes and probes, the operator's retry and the admin dashboard."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone

from federation import delivery, keys, services
from federation.models import Delivery, KeyAlgorithm, NodeStatus, RemoteActor, RemoteNode
from federation.signatures import verify_request
from tests.federation.fixtures import Recorder, remote_identity

pytestmark = pytest.mark.django_db


@pytest.fixture
def foreign(settings):
    settings.FEDERATION_ALLOW_PRIVATE = ["127.0.0.1/32"]
    settings.FEDERATION_SCHEME = "http"
    settings.FEDERATION_DOMAIN = "127.0.0.1:8000"
    recorder = Recorder().start()
    identity = remote_identity(f"{recorder.base}/users/zed")
    actor = RemoteActor.objects.get(uri=identity.uri)
    yield recorder, actor
    recorder.stop()


def make_due() -> None:
    Delivery.objects.update(next_attempt_at=timezone.now())


def churn(user, actor, times: int) -> list[str]:
    """Follow/unfollow `times` times; returns the activity ids in outbox order."""
    ids = []
    for _ in range(times):
        ids.append(services.do_follow(user, actor).activity_uri)
        services.do_unfollow(user, actor)
        ids.append(Delivery.objects.order_by("-activity_id").first().activity.uri)
    return ids


def test_deliveries_are_signed_minimal_and_in_order(foreign, make_user):
    recorder, actor = foreign
    ids = churn(make_user("hank"), actor, 3)
    assert delivery.deliver_to_node(actor.node_id) == 6
    assert [json.loads(body)["id"] for _, _, body in recorder.received] == ids
    public = keys.load_public_pem(keys.signing_key(KeyAlgorithm.RSA).public_pem)
    for path, headers, body in recorder.received:
        assert path == "/inbox"  # the shared inbox
        verified = verify_request("POST", path, headers, body, lambda k, r: public)
        assert verified.key_id == "http://127.0.0.1:8000/users/hank#main-key"
    assert set(Delivery.objects.values_list("state", flat=True)) == {"delivered"}
    assert RemoteNode.objects.get(id=actor.node_id).latency_ms is not None


def test_a_failing_head_holds_the_queue_then_the_node_is_probed(foreign, make_user):
    recorder, actor = foreign
    recorder.status = lambda: 503
    ids = churn(make_user("ivy"), actor, 2)
    for attempt in range(1, delivery.UNREACHABLE_AFTER + 1):
        delivery.deliver_to_node(actor.node_id)
        head = Delivery.objects.order_by("activity_id").first()
        assert head.state == "retrying" and head.attempts == attempt
        assert head.next_attempt_at > timezone.now()  # backoff
        # Nothing behind the head was tried: order is kept.
        assert Delivery.objects.filter(attempts=0).count() == 3
        make_due()
    node = RemoteNode.objects.get(id=actor.node_id)
    assert node.status == NodeStatus.UNREACHABLE
    assert delivery.deliver_to_node(actor.node_id) == 0  # nothing is sent while unreachable
    assert len(recorder.received) == delivery.UNREACHABLE_AFTER
    assert [json.loads(b)["id"] for _, _, b in recorder.received] == [ids[0]] * 3


def test_probe_brings_a_node_back_and_its_queue_resumes(foreign, make_user):
    recorder, actor = foreign
    recorder.stop()  # the node is down: connection refused
    ids = churn(make_user("jay"), actor, 2)
    for _ in range(delivery.UNREACHABLE_AFTER):
        delivery.deliver_to_node(actor.node_id)
        make_due()
    node = RemoteNode.objects.get(id=actor.node_id)
    assert node.status == NodeStatus.UNREACHABLE
    assert not delivery.probe(node.id)
    assert RemoteNode.objects.get(id=node.id).next_probe_at > timezone.now()
    # Back on the same port.
    port = int(node.domain.rsplit(":", 1)[1])
    back = Recorder(port=port).start()
    try:
        assert delivery.probe(node.id)
        delivery.deliver_to_node(node.id)
        assert [json.loads(b)["id"] for _, _, b in back.received] == ids
    finally:
        back.stop()


def test_permanent_refusal_is_dead_at_once_and_retry_now_revives_it(foreign, make_user):
    recorder, actor = foreign
    answers = iter([403, 202, 202])
    recorder.status = lambda: next(answers)
    user = make_user("kim")
    services.do_follow(user, actor)
    services.do_unfollow(user, actor)
    delivery.deliver_to_node(actor.node_id)
    states = list(Delivery.objects.order_by("activity_id").values_list("state", flat=True))
    assert states == ["dead", "delivered"]  # a dead head does not hold the queue
    dead = Delivery.objects.get(state="dead")
    assert dead.last_status == 403
    assert delivery.retry_now(dead)
    delivery.deliver_to_node(actor.node_id)
    assert Delivery.objects.get(id=dead.id).state == "delivered"
    with pytest.raises(ValueError):
        delivery.transition(Delivery.objects.get(id=dead.id), "pending")


def test_retry_budget_ends_in_dead_letter(foreign, make_user):
    recorder, actor = foreign
    recorder.status = lambda: 500
    services.do_follow(make_user("lee"), actor)
    Delivery.objects.update(attempts=delivery.MAX_ATTEMPTS - 1)
    delivery.deliver_to_node(actor.node_id)
    assert Delivery.objects.get().state == "dead"


def test_admin_dashboard(foreign, make_user, admin_client):
    recorder, actor = foreign
    recorder.status = lambda: 500
    services.do_follow(make_user("max"), actor)
    delivery.deliver_to_node(actor.node_id)
    page = admin_client.get("/admin/federation/remotenode/")
    assert page.status_code == 200
    assert b"1 retrying" in page.content
    for name in ("delivery", "inboxitem", "inboxrejection", "remoteactor", "activity"):
        assert admin_client.get(f"/admin/federation/{name}/").status_code == 200
    assert (
        admin_client.get(f"/admin/federation/remotenode/{actor.node_id}/change/").status_code == 200
    )
    response = admin_client.post(
        "/admin/federation/remotenode/",
        {"action": "block", "_selected_action": [actor.node_id]},
    )
    assert response.status_code == 302
    assert RemoteNode.objects.get(id=actor.node_id).blocked
    assert Delivery.objects.get().state == "cancelled"
