"""The operator's Federation page (admin): each peer with its state, queue depth and last
failure, and block / unblock / retry now, against a foreign server on loopback."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from federation import delivery, services
from federation.models import Delivery, RemoteActor, RemoteNode
from jobs.models import Job, JobState
from moderation.models import NodeAuditEntry
from tests.federation.fixtures import Recorder, remote_identity

pytestmark = pytest.mark.django_db
PAGE = "/admin/federation/remotenode/overview/"


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


@pytest.fixture
def operator(make_user) -> Client:
    client = Client()
    client.force_login(make_user("root", is_staff=True, is_superuser=True))
    return client


def failing_peer(foreign, make_user) -> RemoteNode:
    """A peer answering 500 to a Follow: one delivery waiting to be retried."""
    recorder, actor = foreign
    recorder.status = lambda: 500
    services.do_follow(make_user("max"), actor)
    delivery.deliver_to_node(actor.node_id)
    return RemoteNode.objects.get(id=actor.node_id)


def row(page: str, domain: str) -> str:
    start = page.index(f'<tr data-peer="{domain}">')
    return page[start : page.index("</tr>", start)]


def test_each_peer_shows_its_state_queue_and_last_error(foreign, make_user, operator):
    node = failing_peer(foreign, make_user)
    assert node.last_error.startswith("HTTP 500") and node.last_error_at is not None

    page = operator.get(PAGE)
    assert page.status_code == 200
    peer = row(page.content.decode(), node.domain)
    assert 'data-state="failing"' in peer and "<strong>Failing</strong>" in peer
    assert "1 failure in a row" in peer
    assert "<td data-queued>1</td>" in peer and "<td data-dead>0</td>" in peer
    assert "HTTP 500" in peer and ">just now</time>" in peer
    assert f"Retry {node.domain} now" in peer and f"Block {node.domain}" in peer


def test_retry_now_requeues_dead_and_waiting_deliveries(
    foreign, make_user, operator, django_capture_on_commit_callbacks
):
    recorder, _ = foreign
    node = failing_peer(foreign, make_user)
    Delivery.objects.update(attempts=delivery.MAX_ATTEMPTS - 1)
    Delivery.objects.update(next_attempt_at=timezone.now())
    delivery.deliver_to_node(node.id)
    assert Delivery.objects.get().state == "dead"
    Job.objects.filter(name="federation.deliver").delete()

    with django_capture_on_commit_callbacks(execute=True):
        answer = operator.post(f"{PAGE}{node.id}/retry/", follow=True)
    assert f"Retrying {node.domain} now: 1 delivery(ies) queued." in answer.content.decode()
    row_ = Delivery.objects.get()
    assert row_.state == "pending" and row_.attempts == 0
    assert row_.next_attempt_at <= timezone.now()
    job = Job.objects.get(name="federation.deliver")
    assert job.payload == {"node_id": node.id} and job.state == JobState.QUEUED

    recorder.status = lambda: 202  # the peer is fixed; the queued job delivers
    assert delivery.deliver_to_node(node.id) == 1
    peer = row(operator.get(PAGE).content.decode(), node.domain)
    assert 'data-state="reachable"' in peer and "<td data-queued>0</td>" in peer
    assert "HTTP 500" in peer  # the last failure stays on record after recovery


def test_block_and_unblock_are_audited(foreign, make_user, operator):
    node = failing_peer(foreign, make_user)
    blocked = operator.post(f"{PAGE}{node.id}/block/", {"reason": "spam wave"}, follow=True)
    assert f"{node.domain} is blocked" in blocked.content.decode()
    node.refresh_from_db()
    assert node.blocked and node.blocked_reason == "spam wave"
    assert Delivery.objects.get().state == "cancelled"
    peer = row(blocked.content.decode(), node.domain)
    assert 'data-state="blocked"' in peer and f"Unblock {node.domain}" in peer
    assert "spam wave" in peer and f"Retry {node.domain} now" not in peer

    refused = operator.post(f"{PAGE}{node.id}/retry/", follow=True).content.decode()
    assert "is blocked: unblock it before retrying" in refused

    operator.post(f"{PAGE}{node.id}/unblock/")
    node.refresh_from_db()
    assert not node.blocked
    entries = list(NodeAuditEntry.objects.order_by("created_at").values("action", "reason"))
    assert entries == [
        {"action": "node_block", "reason": "spam wave"},
        {"action": "node_unblock", "reason": ""},
    ]
    assert NodeAuditEntry.objects.filter(details={"domain": node.domain}).count() == 2


def test_only_operators_act_and_bad_requests_are_answered(foreign, make_user, operator):
    node = failing_peer(foreign, make_user)
    moderator = make_user("mod", is_staff=True)
    moderator.user_permissions.add(Permission.objects.get(codename="view_remotenode"))
    staff = Client()
    staff.force_login(moderator)
    page = staff.get(PAGE).content.decode()
    assert node.domain in page and f"Block {node.domain}" not in page  # read, no buttons
    refused = staff.post(f"{PAGE}{node.id}/block/", {"reason": "x"}, follow=True)
    assert "Only the node&#x27;s operators act on peers" in refused.content.decode()
    node.refresh_from_db()
    assert not node.blocked and not NodeAuditEntry.objects.exists()

    assert operator.get(f"{PAGE}{node.id}/block/").status_code == 405
    unknown = operator.post(f"{PAGE}999999/retry/", follow=True)
    assert unknown.status_code == 200 and "Unknown peer" in unknown.content.decode()

    member = Client()
    member.force_login(make_user("alice"))
    assert member.get(PAGE).status_code == 302  # to the admin's sign-in
