from __future__ import annotations

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def url(world) -> str:
    return f"/api/v1/guilds/{world.guild.id}/messages/search"


def test_search_endpoint_has_discords_shape(world, send, index):
    message = send(world.bob, world.general, "hello from the api")
    send(world.alice, world.secret, "hello from the shadows")
    index()
    response = client_for(world.carol).get(url(world), {"content": "hello"})
    assert response.status_code == 200
    body = response.json()
    assert body["total_results"] == 1
    assert body["messages"][0][0]["id"] == str(message.id)
    assert body["highlights"][0]["message_id"] == str(message.id)
    assert "<mark>hello</mark>" in body["highlights"][0]["snippet_html"]
    bob = client_for(world.bob)
    both = bob.get(url(world), {"q": "hello", "channel_id": [world.general.id, world.secret.id]})
    assert both.json()["total_results"] == 2
    by_author = bob.get(url(world), {"content": "hello", "author_id": world.alice.id}).json()
    assert by_author["total_results"] == 1


def test_search_endpoint_errors(world, make_user):
    bob = client_for(world.bob)
    bad = bob.get(url(world), {"q": "before:soon"})
    assert bad.status_code == 400 and "q" in bad.json()["errors"]
    assert bob.get(url(world), {"q": "x", "limit": 99}).status_code == 400
    assert bob.get(url(world), {"q": "x", "sort_by": "random"}).status_code == 400
    for params in ({"pinned": "maybe"}, {"has": "gif"}, {"author_id": "bob"}, {"offset": "-1"}):
        bad = bob.get(url(world), {"q": "x", **params})
        assert bad.status_code == 400 and set(bad.json()["errors"]) == {next(iter(params))}
    assert bob.get(url(world), {"q": "word " * 200}).status_code == 400
    many = " ".join(f"w{i}" for i in range(40))
    assert bob.get(url(world), {"q": many}).status_code == 400
    stranger = client_for(make_user("mallory")).get(url(world), {"q": "x"})
    assert stranger.status_code == 404
    assert APIClient().get(url(world), {"q": "x"}).status_code in (401, 403)
