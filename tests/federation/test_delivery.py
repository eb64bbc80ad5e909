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


class Clock:
    """A controllable clock for the engine: django.utils.timezone.now, moved by hand."""

    def __init__(self, monkeypatch) -> None:
        from datetime import timedelta

        import django.utils.timezone

        # A little ahead of the real clock, which stamps rows created by model defaults.
        self.at = timezone.now() + timedelta(seconds=5)
        self.step = timedelta
        monkeypatch.setattr(django.utils.timezone, "now", lambda: self.at)

    def advance(self, seconds: float) -> None:
        self.at += self.step(seconds=seconds)


def _tick(node_id: int) -> None:
    """What the periodic sweep does every 2 s for a destination: send what is due."""
    delivery.sweep()
    delivery.deliver_to_node(node_id)


@pytest.mark.parametrize("form", ["seconds", "http-date"])
def test_a_peers_retry_after_is_honoured(foreign, make_user, monkeypatch, form):
    """Issue 29: a peer answering 429 with Retry-After: 600 was retried four times in 33 s."""
    from federation.signatures import http_date

    recorder, actor = foreign
    clock = Clock(monkeypatch)
    answers = iter([429])
    recorder.status = lambda: next(answers, 202)
    if form == "seconds":
        recorder.answer_headers = lambda: {"Retry-After": "600"}
    else:
        recorder.answer_headers = lambda: {
            "Retry-After": http_date(clock.at + clock.step(seconds=600))
        }
    services.do_follow(make_user("nia"), actor)
    _tick(actor.node_id)
    assert len(recorder.received) == 1
    head = Delivery.objects.get()
    assert head.state == "retrying" and head.last_status == 429
    assert (head.next_attempt_at - clock.at).total_seconds() >= 599
    for _ in range(59):  # ten minutes of sweeps, 10 s apart: nobody knocks
        clock.advance(10)
        _tick(actor.node_id)
    assert len(recorder.received) == 1
    clock.advance(11)
    _tick(actor.node_id)
    assert len(recorder.received) == 2 and Delivery.objects.get().state == "delivered"


def test_a_busy_peer_is_not_taken_for_a_dead_one(foreign, make_user, monkeypatch):
    recorder, actor = foreign
    clock = Clock(monkeypatch)
    recorder.status = lambda: 503
    recorder.answer_headers = lambda: {"Retry-After": "30"}
    services.do_follow(make_user("oda"), actor)
    for _ in range(delivery.UNREACHABLE_AFTER + 1):
        _tick(actor.node_id)
        clock.advance(31)
    node = RemoteNode.objects.get(id=actor.node_id)
    assert node.status == NodeStatus.OK and node.consecutive_failures == 0
    assert len(recorder.received) == delivery.UNREACHABLE_AFTER + 1  # one per Retry-After


def test_a_retry_after_shorter_than_the_backoff_does_not_hurry_us():
    from datetime import timedelta

    now = timezone.now()
    assert delivery.retry_after({"retry-after": "0"}, now) == timedelta(0)
    assert delivery.retry_after({"retry-after": "soon"}, now) is None
    assert delivery.retry_after({}, now) is None
    year = delivery.retry_after({"retry-after": str(365 * 86400)}, now)
    assert year == timedelta(seconds=delivery.RETRY_AFTER_CAP)
    past = delivery.retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, now)
    assert past == timedelta(0)


def _outage(recorder, actor, user) -> list[str]:
    """Take the peer down until the engine marks it unreachable; returns queued ids."""
    recorder.stop()
    ids = churn(user, actor, 2)
    for _ in range(delivery.UNREACHABLE_AFTER):
        delivery.deliver_to_node(actor.node_id)
        make_due()
    assert RemoteNode.objects.get(id=actor.node_id).status == NodeStatus.UNREACHABLE
    return ids


def test_a_peer_back_after_an_outage_gets_its_backlog_within_a_minute(
    foreign, make_user, monkeypatch
):
    """Ten minutes down, probed at a growing interval that never exceeds a minute; once it
    answers again, everything queued reaches it within a minute of its return."""
    recorder, actor = foreign
    clock = Clock(monkeypatch)
    ids = _outage(recorder, actor, make_user("pia"))
    port = int(RemoteNode.objects.get(id=actor.node_id).domain.rsplit(":", 1)[1])
    intervals = []
    down_for = 0.0
    while down_for < 600:  # the sweep every 2 s runs each due probe
        node = RemoteNode.objects.get(id=actor.node_id)
        wait = max(0.0, (node.next_probe_at - clock.at).total_seconds())
        clock.advance(wait)
        down_for += wait
        assert not delivery.probe(node.id)
        intervals.append(
            (RemoteNode.objects.get(id=node.id).next_probe_at - clock.at).total_seconds()
        )
    assert max(intervals) <= delivery.PROBE_CAP == 60
    back = Recorder(port=port).start()
    try:
        returned = clock.at
        for _ in range(31):  # sweeps every 2 s for a minute
            node = RemoteNode.objects.get(id=actor.node_id)
            if node.next_probe_at is not None and node.next_probe_at <= clock.at:
                delivery.probe(node.id)
            _tick(actor.node_id)
            if len(back.received) == len(ids):
                break
            clock.advance(2)
        assert [json.loads(b)["id"] for _, _, b in back.received] == ids
        assert (clock.at - returned).total_seconds() <= 60
    finally:
        back.stop()


def test_a_request_from_a_peer_we_thought_down_resumes_its_queue_at_once(
    foreign, make_user, client
):
    from tests.federation.fixtures import post_signed

    recorder, actor = foreign
    ids = _outage(recorder, actor, make_user("quin"))
    node = RemoteNode.objects.get(id=actor.node_id)
    assert node.next_probe_at is not None
    port = int(node.domain.rsplit(":", 1)[1])
    back = Recorder(port=port).start()
    try:
        # Before any probe is due, the peer sends us something (signed by its actor).
        identity = remote_identity(actor.uri)  # its key, as a fetch would have cached it
        follow = {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": f"{recorder.base}/activities/hello",
            "type": "Follow",
            "actor": actor.uri,
            "object": "http://127.0.0.1:8000/users/quin",
        }
        assert post_signed(client, identity, follow).status_code == 202
        node.refresh_from_db()
        assert node.status == NodeStatus.OK
        assert all(d.next_attempt_at <= timezone.now() for d in Delivery.objects.all())
        delivery.deliver_to_node(node.id)
        assert [json.loads(b)["id"] for _, _, b in back.received] == ids
    finally:
        back.stop()
