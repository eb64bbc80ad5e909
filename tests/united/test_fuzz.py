"""Fuzzing the doors: no request a client or a peer can make may answer 500.

- Every operation of the node's own OpenAPI schema (drf-spectacular), sent by a signed-in
  member: schemathesis generates valid requests on the member's own guild, channel, message
  and invite, and invalid requests anywhere (FUZZ_EXAMPLES of each per operation).
- A sweep of the values random generation rarely hits (ids past 2**63, wrong JSON types, NUL,
  lone surrogates) through every top-level body field and query parameter.
- The inbox's body parser, fed arbitrary bytes and JSON (hypothesis): refused with its own
  error or accepted as an activity, never an exception.

The budget is fixed (about 60 s of one CPU for the embedded pass; the PostgreSQL pass repeats
only the sweep's database-specific values). The seed is printed in the report header
(tests/conftest.py); `UNITED_FUZZ_SEED=<seed> pytest tests/united/test_fuzz.py` replays a run.
Nothing leaves the machine: `loopback_only` fails every non-loopback connection.
"""

from __future__ import annotations

import json
import os
import re
import socket
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pytest
import schemathesis
from django.conf import settings as django_settings
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient
from schemathesis import GenerationMode
from schemathesis.core import NOT_SET

from accounts.models import User
from accounts.services.tokens import do_start_api_session
from federation import inbox
from tests import ratelimits
from united import jsonbody

SEED = int(os.environ.get("UNITED_FUZZ_SEED", "0") or 0)
FUZZ_EXAMPLES = int(os.environ.get("UNITED_FUZZ_EXAMPLES", "2"))
LOOPBACK = {"127.0.0.1", "::1", "localhost"}
FUZZ_SETTINGS = settings(
    max_examples=FUZZ_EXAMPLES,
    database=None,
    deadline=None,
    derandomize=False,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture
def loopback_only(monkeypatch):
    """Operations that reach another node (DMs to name@node, remote invites) must not send
    anything off this machine: a non-loopback name or address fails as if unreachable."""
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, bytes):
            host = host.decode()
        if host not in LOOPBACK:
            raise socket.gaierror(socket.EAI_NONAME, "fuzz: loopback only")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in LOOPBACK:
            raise ConnectionRefusedError("fuzz: loopback only")
        return real_connect(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)


def _openapi() -> dict[str, Any]:
    document = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(json.dumps(document, default=str))


def _known_objects(api: APIClient, user_id: str) -> dict[str, str]:
    """Real ids to put in paths, so operations get past their 404s to the code behind them."""
    guild = api.post("/api/v1/guilds", {"name": "Fuzz"}, format="json").json()
    channels = api.get(f"/api/v1/guilds/{guild['id']}/channels").json()
    text = next(c for c in channels if c["type"] == 0)
    message = api.post(
        f"/api/v1/channels/{text['id']}/messages", {"content": "hello"}, format="json"
    ).json()
    invite = api.post(f"/api/v1/channels/{text['id']}/invites", {}, format="json").json()
    return {
        "guild_id": guild["id"],
        "channel_id": text["id"],
        "message_id": message["id"],
        "role_id": guild["id"],  # @everyone
        "user_id": user_id,
        "overwrite_id": guild["id"],
        "code": invite["code"],
    }


def _send(fuzzer: Fuzzer, case: Any) -> Any:
    headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
    method, path = case.method.upper(), case.formatted_path
    if case.query:
        path = f"{path}?{urlencode(case.query, doseq=True)}"
    body = case.body
    if body is NOT_SET or (body is None and case.media_type is None):
        return fuzzer.send(method, path, headers=headers)
    media = case.media_type or "application/json"
    if media.startswith("multipart/"):
        data = body if isinstance(body, dict) else {"file": body}
        data = {k: v if isinstance(v, bytes | str) else json.dumps(v) for k, v in data.items()}
        return fuzzer.send(method, path, **_multipart(data), headers=headers)
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    return fuzzer.send(method, path, data=payload, content_type=media, headers=headers)


def _multipart(data: dict[str, Any]) -> dict[str, Any]:
    from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

    return {"data": encode_multipart(BOUNDARY, data), "content_type": MULTIPART_CONTENT}


@dataclass
class Fuzzer:
    """A signed-in member with a guild, a channel, a message and an invite of their own."""

    api: APIClient
    user: User
    known: dict[str, str]
    failures: list[str] = field(default_factory=list)

    def send(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.api.generic(method, path, **kwargs)
        if response.status_code == 401:  # an operation ended the session (logout, revoke)
            fresh = do_start_api_session(self.user, None)
            self.api.credentials(HTTP_AUTHORIZATION=f"Bearer {fresh['access_token']}")
        if response.status_code >= 500 and response.status_code not in {502, 503, 504}:
            body = kwargs.get("data", b"")
            self.failures.append(
                f"{method} {path} body={body[:300]!r} -> {response.status_code} "
                f"{response.content[:200]!r}"
            )
        return response


@pytest.fixture
def fuzzer(db, loopback_only) -> Fuzzer:
    api = APIClient()
    tokens = api.post(
        "/api/v1/auth/register",
        {"username": "fuzzer", "password": "fuzzing is a long password"},
        format="json",
    ).json()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
    known = _known_objects(api, tokens["user_id"])
    return Fuzzer(api, User.objects.get(id=tokens["user_id"]), known)


def _operations(schema: Any) -> list[Any]:
    operations = [result.ok() for result in schema.get_all_operations()]
    # Deletions go last, so the guild and channel above stay for the other operations.
    operations.sort(key=lambda op: (op.method.upper() == "DELETE", op.path, op.method))
    return operations


@pytest.mark.skipif(
    django_settings.UNITED_MODE == "production",
    reason="CI budget: the random fuzz runs in the embedded pass; the hostile-value sweep "
    "below runs in both",
)
def test_no_operation_of_the_openapi_schema_answers_500(fuzzer):
    schema = schemathesis.openapi.from_dict(_openapi())
    for operation in _operations(schema):
        present = {p.name for p in operation.path_parameters}
        fixed = {name: value for name, value in fuzzer.known.items() if name in present}
        # Valid requests on real objects (random ids would mostly stop at a 404), and invalid
        # ones anywhere.
        variants = [(GenerationMode.POSITIVE, fixed), (GenerationMode.NEGATIVE, {})]
        ratelimits.reset()  # a 429 would hide the code behind the limit
        for mode, path_parameters in variants:
            strategy = operation.as_strategy(mode, path_parameters=path_parameters or None)

            @seed(SEED)
            @FUZZ_SETTINGS
            @given(case=strategy)
            def run(case: Any) -> None:
                _send(fuzzer, case)

            run()
    assert not fuzzer.failures, f"seed {SEED}:\n" + "\n".join(fuzzer.failures[:40])


# What random generation rarely hits: the edges of each type, in every field on its own.
HOSTILE = [2**63, "99999999999999999999999", -1, 1.5, None, True, [], {}, "\u0000", "\ud800"]
# The PostgreSQL pass repeats only what the database treats differently (integer range, NUL).
HOSTILE_BY_DATABASE = [2**63, "99999999999999999999999", "\u0000"]


def test_hostile_values_in_every_field_are_refused_not_500(fuzzer):
    document = _openapi()
    components = document["components"]["schemas"]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            url = re.sub(r"\{(\w+)\}", lambda m: str(fuzzer.known.get(m[1], 1)), path)
            content = operation.get("requestBody", {}).get("content", {})
            ref = content.get("application/json", {}).get("schema", {}).get("$ref", "")
            fields = components.get(ref.rsplit("/", 1)[-1], {}).get("properties", {}) if ref else {}
            query = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
            ratelimits.reset()
            production = django_settings.UNITED_MODE == "production"
            for value in HOSTILE_BY_DATABASE if production else HOSTILE:
                text = value if isinstance(value, str) else json.dumps(value)
                for name in query:
                    raw = text.encode("utf-8", "surrogatepass")  # invalid UTF-8 in the URL too
                    fuzzer.send(method.upper(), f"{url}?{urlencode({name: raw})}")
                for name in fields:
                    body = json.dumps({name: value}).encode()
                    fuzzer.send(method.upper(), url, data=body, content_type="application/json")
    assert not fuzzer.failures, "\n".join(fuzzer.failures[:40])


@pytest.mark.mode_independent
@seed(SEED)
@settings(max_examples=300, database=None, deadline=None)
@given(
    body=st.one_of(
        st.binary(max_size=512),
        st.recursive(
            st.none()
            | st.booleans()
            | st.integers()
            | st.floats(allow_nan=True, allow_infinity=True)
            | st.text(max_size=20),
            lambda children: (
                st.lists(children, max_size=4)
                | st.dictionaries(st.text(max_size=8), children, max_size=4)
            ),
            max_leaves=30,
        ).map(lambda value: json.dumps(value).encode()),
        st.integers(min_value=0, max_value=3000).map(lambda n: b"[" * n + b"]" * n),
    )
)
def test_the_inbox_body_parser_refuses_without_crashing(body):
    try:
        activity = inbox._parse(body)
    except inbox.Rejected as rejected:
        assert rejected.status in {400, 413} and rejected.reason in {
            "invalid_json",
            "invalid_activity",
        }
        return
    assert isinstance(activity, dict) and activity["id"] and activity["type"]
    jsonbody.loads(json.dumps(activity))  # what was accepted passes the limits again
