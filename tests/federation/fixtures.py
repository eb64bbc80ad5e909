"""Helpers for federation unit tests: a remote actor with a real keypair, signed requests to
our inbox through Django's test client, and a tiny loopback HTTP server that stands in for a
foreign (non-UNITED) server."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from federation.signatures import sign_request


@dataclass
class RemoteIdentity:
    uri: str
    key: rsa.RSAPrivateKey
    inbox: str

    @property
    def key_id(self) -> str:
        return f"{self.uri}#main-key"

    def document(self) -> dict[str, Any]:
        pem = (
            self.key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )
        return {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": self.uri,
            "type": "Person",
            "preferredUsername": self.uri.rsplit("/", 1)[-1],
            "inbox": self.inbox,
            "endpoints": {"sharedInbox": self.inbox.rsplit("/", 3)[0] + "/inbox"},
            "publicKey": {"id": self.key_id, "owner": self.uri, "publicKeyPem": pem},
        }


def remote_identity(uri: str = "https://remote.example/users/eve") -> RemoteIdentity:
    """A remote actor with an RSA key, cached through the same service a fetch would use."""
    from federation import policy, remote

    identity = RemoteIdentity(
        uri, rsa.generate_private_key(public_exponent=65537, key_size=2048), f"{uri}/inbox"
    )
    actor = remote.remember_actor(identity.document())
    # A foreign (non-UNITED) server: no manifest, judged as such, as on first contact.
    policy.record_manifest(actor.node, None)
    return identity


def post_signed(
    client: Any,
    identity: RemoteIdentity,
    activity: dict[str, Any] | bytes,
    *,
    path: str = "/inbox",
    key: rsa.RSAPrivateKey | None = None,
    now: datetime | None = None,
    body_override: bytes | None = None,
) -> Any:
    body = activity if isinstance(activity, bytes) else json.dumps(activity).encode()
    headers = sign_request(
        "POST", f"http://testserver{path}", body, identity.key_id, key or identity.key, now=now
    )
    return client.post(
        path,
        data=body_override if body_override is not None else body,
        content_type="application/activity+json",
        headers=headers,
    )


@dataclass
class Recorder:
    """A foreign HTTP server on 127.0.0.1 that records POSTs and answers `status()`."""

    status: Callable[[], int] = lambda: 202
    answer_headers: Callable[[], dict[str, str]] = dict  # extra headers on POST answers
    received: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None
    routes: dict[str, tuple[int, dict[str, str], bytes]] = field(default_factory=dict)
    port: int = 0

    @property
    def base(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> Recorder:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def _route(self) -> bool:
                if self.path in recorder.routes:
                    status, headers, body = recorder.routes[self.path]
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return True
                return False

            def do_GET(self) -> None:
                if not self._route():
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                recorder.received.append((self.path, dict(self.headers), body))
                status = recorder.status()
                self.send_response(status)
                for k, v in recorder.answer_headers().items():
                    self.send_header(k, v)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
