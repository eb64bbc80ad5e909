"""The real client address: proxy headers count only from UNITED_TRUSTED_PROXIES, and the
per-address rate limits follow the real client (united/clientaddr.py)."""

from __future__ import annotations

import ipaddress

import httpx
import pytest
from django.core.management import call_command
from django.test import override_settings
from rest_framework.test import APIClient

from accounts.services import ratelimit
from united.clientaddr import real_client, resolve_scope

PROXIES = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8"))


@pytest.mark.mode_independent
@pytest.mark.parametrize(
    "peer,xff,expected",
    [
        ("198.51.100.7", "203.0.113.1", "198.51.100.7"),  # untrusted peer: header ignored
        ("10.0.0.2", "203.0.113.1", "203.0.113.1"),
        ("10.0.0.2", "6.6.6.6, 203.0.113.1", "203.0.113.1"),  # the client's own words skipped
        ("10.0.0.2", "203.0.113.1, 10.0.0.9", "203.0.113.1"),  # a chain of our proxies
        ("10.0.0.2", "10.0.0.8, 10.0.0.9", "10.0.0.8"),  # all ours: the farthest one
        ("10.0.0.2", "not-an-ip, 203.0.113.1", "203.0.113.1"),
        ("10.0.0.2", "203.0.113.1, garbage", "10.0.0.2"),  # garbage from a proxy: stop there
        ("10.0.0.2", "[2001:db8::1]:4711", "2001:db8::1"),
        ("10.0.0.2", "203.0.113.1:4711", "203.0.113.1"),
        ("10.0.0.2", None, "10.0.0.2"),
        ("fd00::1", "2001:db8::5", "2001:db8::5"),
    ],
)
def test_forwarded_for_is_read_from_the_right_and_only_from_proxies(peer, xff, expected):
    assert real_client(peer, xff, PROXIES) == expected


@pytest.mark.mode_independent
def test_no_trusted_proxy_means_the_socket_peer():
    assert real_client("198.51.100.7", "203.0.113.1", ()) == "198.51.100.7"


@pytest.mark.mode_independent
def test_websocket_scope_gets_the_real_client_and_scheme():
    scope = {
        "type": "websocket",
        "client": ("10.0.0.2", 5000),
        "scheme": "ws",
        "headers": [
            (b"host", b"chat.example.org"),
            (b"x-forwarded-for", b"203.0.113.1"),
            (b"x-forwarded-proto", b"https"),
        ],
    }
    with override_settings(UNITED_TRUSTED_PROXIES=["10.0.0.0/8"]):
        trusted = resolve_scope(scope)
    assert trusted["client"][0] == "203.0.113.1" and trusted["scheme"] == "wss"
    assert [k for k, _ in trusted["headers"]] == [b"host"]  # nothing downstream reads them raw
    with override_settings(UNITED_TRUSTED_PROXIES=[]):
        untrusted = resolve_scope(scope)
    assert untrusted["client"] == ("10.0.0.2", 5000) and untrusted["scheme"] == "ws"
    assert [k for k, _ in untrusted["headers"]] == [b"host"]


@pytest.mark.mode_independent
def test_https_node_is_https_whatever_an_untrusted_peer_says():
    scope = {
        "type": "http",
        "client": ("198.51.100.7", 5000),
        "scheme": "http",
        "headers": [(b"x-forwarded-proto", b"http")],
    }
    with override_settings(UNITED_TRUSTED_PROXIES=[], UNITED_HTTPS=True):
        assert resolve_scope(scope)["scheme"] == "https"
        assert resolve_scope({**scope, "type": "websocket", "scheme": "ws"})["scheme"] == "wss"
    with override_settings(UNITED_TRUSTED_PROXIES=[], UNITED_HTTPS=False):
        spoofed = {**scope, "headers": [(b"x-forwarded-proto", b"https")]}
        assert resolve_scope(spoofed)["scheme"] == "http"


def _login(api: APIClient, i: int, peer: str, xff: str):
    return api.post(
        "/api/v1/auth/login",
        {"username": f"nobody{i}", "password": "wrong password!!"},
        format="json",
        REMOTE_ADDR=peer,
        HTTP_X_FORWARDED_FOR=xff,
    )


@pytest.fixture
def small_login_limit(monkeypatch) -> int:
    """A failed sign-in costs an Argon2 hash; a per-address limit of 5 keeps the test short."""
    monkeypatch.setattr(ratelimit.time, "time", lambda: 1_000_000.0)
    monkeypatch.setitem(ratelimit.LIMITS, "login", (5, 100, 60))
    return 5


@pytest.mark.django_db
def test_a_new_forwarded_for_per_request_does_not_escape_the_login_limit(small_login_limit):
    per_ip = small_login_limit
    api = APIClient()
    statuses = [_login(api, i, "198.51.100.7", f"203.0.113.{i}").status_code for i in range(9)]
    assert 429 not in statuses[:per_ip]
    assert set(statuses[per_ip:]) == {429}


@pytest.mark.django_db
@override_settings(UNITED_TRUSTED_PROXIES=["10.0.0.0/8"])
def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit(small_login_limit):
    per_ip = small_login_limit
    api = APIClient()
    statuses = [_login(api, i, "10.0.0.2", f"203.0.113.{i}") for i in range(per_ip + 5)]
    assert {r.status_code for r in statuses} == {401}
    # ...while one client behind the proxy is still limited, whatever it prepends itself.
    same = [_login(api, i, "10.0.0.2", f"6.6.6.{i}, 192.0.2.1") for i in range(per_ip + 1)]
    assert same[-1].status_code == 429


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path,payload,action",
    [
        ("/api/v1/invites/nosuchcode", {}, "invite_join"),
        ("/api/v1/reports", {"target_type": "user", "target_id": "1"}, "report"),
        ("/api/v1/users/@me/channels", {"recipient_id": "1"}, "dm_request"),
        ("/api/v1/federation/guilds/join", {"invite": "not a link"}, "invite_join"),
        ("/api/v1/federation/reports/1/forward", {}, "report"),
    ],
)
def test_doors_that_reach_strangers_are_limited_per_address(make_user, path, payload, action):
    per_ip, per_account, _ = ratelimit.LIMITS[action]
    clients = []
    for i in range(per_ip // per_account + 1):
        api = APIClient()
        api.force_authenticate(make_user(f"member{i}"))
        clients.append(api)
    statuses = [
        clients[n // per_account].post(path, payload, format="json", REMOTE_ADDR="192.0.2.4")
        for n in range(per_ip + 1)
    ]
    assert 429 not in {r.status_code for r in statuses[:per_ip]}
    assert statuses[-1].status_code == 429 and statuses[-1].json()["code"] == 20028


@pytest.mark.mode_independent
def test_the_launcher_refuses_proxy_headers(capsys):
    from united import serve

    with pytest.raises(SystemExit) as info:
        serve.main(["-b", "127.0.0.1", "--proxy-headers"])
    assert "UNITED_TRUSTED_PROXIES" in str(info.value.code)


@pytest.mark.django_db
def test_doctor_reports_the_trusted_proxies(capsys):
    call_command("doctor")
    assert "trusted proxies: none" in capsys.readouterr().out
    with override_settings(UNITED_TRUSTED_PROXIES=["10.0.0.0/8", "::1"]):
        call_command("doctor")
    assert "trusted proxies: 10.0.0.0/8, ::1" in capsys.readouterr().out


# Live nodes are hammered on the token refresh door: rate limited per address like sign-in,
# but without an Argon2 hash per attempt.
def _hammer(url: str, count: int, xff: str | None = None) -> list[int]:
    with httpx.Client(base_url=url, timeout=30) as http:
        return [
            http.post(
                "/api/v1/auth/refresh",
                json={"refresh_token": f"rt_nope{i}"},
                headers={"X-Forwarded-For": xff or f"203.0.113.{i % 250}"},
            ).status_code
            for i in range(count)
        ]


def _access_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if '"POST /api/v1/auth/refresh' in line]


@pytest.mark.live
def test_live_node_ignores_forwarded_for_and_logs_no_address(node_factory):
    node = node_factory("plain")
    per_ip = ratelimit.LIMITS["refresh"][0]
    # 2n+1 attempts hit a limit of n per window even if a window rolls over in the middle.
    assert 429 in _hammer(node.url, 2 * per_ip + 1)
    lines = _access_lines(node.log())
    assert len(lines) == 2 * per_ip + 1
    assert all(line.startswith("- - - [") for line in lines), lines[:3]
    assert "127.0.0.1" not in "\n".join(lines) and "203.0.113" not in "\n".join(lines)
    manifest = httpx.get(f"{node.url}/.well-known/federation").json()
    assert manifest["privacy_manifest"]["ip_logging"] is False


@pytest.mark.live
def test_live_node_behind_a_trusted_proxy_and_with_ip_logging(node_factory):
    node = node_factory("proxied", UNITED_TRUSTED_PROXIES="127.0.0.1", UNITED_LOG_IPS="true")
    per_ip = ratelimit.LIMITS["refresh"][0]
    assert 429 not in _hammer(node.url, per_ip + 3)
    assert 429 in _hammer(node.url, 2 * per_ip + 1, xff="198.51.100.77")
    lines = _access_lines(node.log())
    assert lines and all(line.startswith("127.0.0.1:") for line in lines)
    manifest = httpx.get(f"{node.url}/.well-known/federation").json()
    assert manifest["privacy_manifest"]["ip_logging"] is True
