"""Discovery documents: WebFinger (RFC 7033), NodeInfo 2.1 (schema), host-meta,
/.well-known/federation with the privacy manifest, and the actor documents."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import jsonschema
import pytest

from federation import actors, keys
from federation.models import FederationPolicy, KeyAlgorithm

pytestmark = pytest.mark.django_db
VECTORS = Path(__file__).resolve().parents[1] / "vectors"


@pytest.fixture(autouse=True)
def _domain(settings):
    settings.FEDERATION_DOMAIN = "chat.example.org"
    settings.FEDERATION_SCHEME = "https"
    settings.ALLOWED_HOSTS = ["*"]


def test_webfinger_follows_rfc7033(client, make_user):
    make_user("carol")
    response = client.get("/.well-known/webfinger", {"resource": "acct:carol@chat.example.org"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/jrd+json"
    assert response["Access-Control-Allow-Origin"] == "*"
    body = response.json()
    assert body["subject"] == "acct:carol@chat.example.org"
    assert body["links"] == [
        {
            "rel": "self",
            "type": "application/activity+json",
            "href": "https://chat.example.org/users/carol",
        }
    ]
    # The actor URL works as a resource too; rel filters links but keeps the subject (§4.3).
    by_url = client.get(
        "/.well-known/webfinger",
        {"resource": "https://chat.example.org/users/carol", "rel": "http://webfinger.net/rel/x"},
    ).json()
    assert by_url["subject"] == "acct:carol@chat.example.org" and by_url["links"] == []
    assert client.get("/.well-known/webfinger").status_code == 400
    assert (
        client.get(
            "/.well-known/webfinger", {"resource": "acct:nobody@chat.example.org"}
        ).status_code
        == 404
    )
    assert (
        client.get(
            "/.well-known/webfinger", {"resource": "acct:carol@elsewhere.example"}
        ).status_code
        == 404
    )


def test_registered_actor_kinds_are_discoverable(client):
    registry = dict(actors._kinds)
    try:
        actors.register_actor_kind(
            "guild",
            lambda name: name if name == "gardeners" else None,
            lambda name: actors.render_actor(
                f"{actors.base_url()}/guilds/{name}", "Group", name, "Gardeners"
            ),
        )
        body = client.get(
            "/.well-known/webfinger", {"resource": "acct:gardeners@chat.example.org"}
        ).json()
        assert body["links"][0]["href"] == "https://chat.example.org/guilds/gardeners"
    finally:
        actors._kinds.clear()
        actors._kinds.update(registry)


def test_nodeinfo_21_validates_against_the_schema(client, make_user):
    make_user("dave")
    discovery = client.get("/.well-known/nodeinfo").json()
    assert discovery["links"][0]["rel"] == "http://nodeinfo.diaspora.software/ns/schema/2.1"
    document = client.get("/nodeinfo/2.1").json()
    schema = json.loads((VECTORS / "nodeinfo/schema-2.1.json").read_text())
    jsonschema.validate(document, schema)
    assert document["software"]["name"] == "united"
    assert document["usage"]["users"]["total"] == 1


def test_host_meta(client):
    response = client.get("/.well-known/host-meta")
    assert response["Content-Type"] == "application/xrd+xml"
    assert (
        'template="https://chat.example.org/.well-known/webfinger?resource={uri}"'
        in response.content.decode()
    )


def test_federation_document_reflects_settings(client, settings):
    body = client.get("/.well-known/federation").json()
    assert body["software"]["name"] == "united" and body["protocol_version"] == "1"
    assert {k["algorithm"] for k in body["keys"]} == {"ed25519", "rsa"}
    manifest = body["privacy_manifest"]
    assert manifest["ip_logging"] is False
    assert manifest["federation"]["allowlist_only"] is False
    FederationPolicy.objects.update_or_create(pk=1, defaults={"allowlist_only": True})
    body = client.get("/.well-known/federation").json()
    assert body["privacy_manifest"]["federation"]["allowlist_only"] is True


def test_person_and_application_actors(client, make_user):
    make_user("erin", display_name="Erin")
    person = client.get("/users/erin").json()
    assert person["type"] == "Person" and person["id"] == "https://chat.example.org/users/erin"
    assert person["inbox"] == "https://chat.example.org/users/erin/inbox"
    assert person["endpoints"]["sharedInbox"] == "https://chat.example.org/inbox"
    assert person["publicKey"]["id"] == "https://chat.example.org/users/erin#main-key"
    assert person["publicKey"]["owner"] == person["id"]
    assert person["assertionMethod"][0]["type"] == "Multikey"
    assert person["@context"][0] == "https://www.w3.org/ns/activitystreams"
    node = client.get("/actor").json()
    assert node["type"] == "Application" and node["protocolVersion"] == "1"
    assert client.get("/users/nobody").status_code == 404


def test_key_rotation_keeps_the_old_key_published_during_overlap(client):
    keys.ensure_keys()
    before = keys.signing_key(KeyAlgorithm.ED25519)
    keys.rotate(KeyAlgorithm.ED25519)
    after = keys.signing_key(KeyAlgorithm.ED25519)
    assert after.public_pem != before.public_pem
    published = client.get("/.well-known/federation").json()["keys"]
    ed = [k for k in published if k["algorithm"] == "ed25519"]
    assert len(ed) == 2 and sorted(k["active"] for k in ed) == [False, True]
    # Private keys are sealed at rest: the stored bytes are not a DER/PEM private key.
    from federation.models import NodeKey

    sealed = bytes(NodeKey.objects.filter(algorithm="ed25519").first().private_sealed)
    assert b"PRIVATE" not in sealed and not sealed.startswith(b"\x30")
    # A rotation without overlap withdraws the retired key at once.
    keys.rotate(KeyAlgorithm.ED25519, overlap=timedelta(0))
    published = client.get("/.well-known/federation").json()["keys"]
    ed = {k["public_key_pem"] for k in published if k["algorithm"] == "ed25519"}
    newest = keys.signing_key(KeyAlgorithm.ED25519).public_pem
    assert ed == {before.public_pem, newest}


def test_multikey_round_trip():
    keys.ensure_keys()
    pem = keys.signing_key(KeyAlgorithm.ED25519).public_pem
    multibase = keys.ed25519_multibase(pem)
    assert multibase.startswith("z6Mk")
    assert keys.ed25519_pem_from_multibase(multibase) == pem
