"""Which key signs an outgoing request: Ed25519 (hs2019) towards nodes known to run UNITED,
RSA (rsa-sha256) towards everybody else, always under the id of the actor we speak for."""

from __future__ import annotations

from urllib.parse import urlsplit

from federation import actors, keys
from federation.models import KeyAlgorithm, RemoteNode
from federation.signatures import sign_request


def peer_is_united(domain: str) -> bool:
    return RemoteNode.objects.filter(domain=domain, is_united=True).exists()


def signed_headers(
    method: str, url: str, body: bytes | None, actor_uri: str | None = None
) -> dict[str, str]:
    actor_uri = actor_uri or actors.node_actor_uri()
    if peer_is_united(urlsplit(url).netloc.lower()):
        key = keys.signing_key(KeyAlgorithm.ED25519)
        key_id = f"{actor_uri}#ed25519-{key.fingerprint}"
    else:
        key = keys.signing_key(KeyAlgorithm.RSA)
        key_id = f"{actor_uri}#main-key"
    return sign_request(method, url, body, key_id, key.private)
