"""TURN through a real coturn on loopback: a relay-only aiortc client reaches the worker with
the node's minted REST-API credentials, over UDP and over TLS (`turns:`, for networks that only
let HTTPS-like traffic out), and a forged credential gets no relay at all."""

from __future__ import annotations

import ipaddress
import shutil
import socket
import subprocess
import time

import pytest

from guilds.services import channels as channel_services
from guilds.services import guilds as guild_services
from guilds.services import members as member_services
from tests.voice.clients import VoiceClient
from tests.voice.test_forwarding import wait_for
from voice import services
from voice.models import VoiceState

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.xdist_group("voice_turn"),
    pytest.mark.skipif(not shutil.which("turnserver"), reason="coturn (turnserver) not installed"),
]
SECRET = "loopback-test-secret"


def free_port(kind=socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tls_certificate(tmp) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 (the test's own CA): (cert path, key path)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "turn-cert.pem", tmp / "turn-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)


def _answers_stun(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.2)
        request = bytes.fromhex("000100002112a442") + b"\x01" * 12
        sock.sendto(request, ("127.0.0.1", port))
        try:
            sock.recvfrom(512)
            return True
        except OSError:
            return False


def _accepts_tcp(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


def _start_coturn(tmp) -> tuple[subprocess.Popen, int, int] | None:
    """coturn on fresh loopback ports (UDP, and TLS over TCP with `tls_certificate`), once it
    answers a STUN binding request and takes TLS connections; None if it does not within 30 s
    (it also listens on port+1, which a free port does not promise is free)."""
    port = free_port()
    tls_port = free_port(socket.SOCK_STREAM)
    low = free_port()
    cert, key = tls_certificate(tmp)
    proc = subprocess.Popen(
        [
            "turnserver",
            "-n",
            "--listening-ip=127.0.0.1",
            "--relay-ip=127.0.0.1",
            f"--listening-port={port}",
            f"--min-port={low}",
            f"--max-port={min(low + 200, 65535)}",
            "--use-auth-secret",
            f"--static-auth-secret={SECRET}",
            "--realm=united.test",
            "--allow-loopback-peers",
            "--no-cli",
            f"--tls-listening-port={tls_port}",
            f"--cert={cert}",
            f"--pkey={key}",
            "--no-dtls",
            "--no-tcp-relay",
            f"--pidfile={tmp / 'turn.pid'}",
            f"--db={tmp / 'turndb'}",
            "--log-file=stdout",
            "--simple-log",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30  # a loaded CI machine was seen to need more than 10 s
    while time.monotonic() < deadline:
        if _answers_stun(port) and _accepts_tcp(tls_port):
            return proc, port, tls_port
        time.sleep(0.1)
    proc.kill()
    proc.wait(10)
    return None


def start_coturn(tmp) -> tuple[subprocess.Popen, int, int]:
    """A started coturn: (process, UDP port, TLS port); the caller terminates it."""
    for _ in range(3):  # a port taken meanwhile: try others
        started = _start_coturn(tmp)
        if started is not None:
            return started
    raise RuntimeError("coturn did not start on three sets of ports")


@pytest.fixture(scope="module")
def coturn(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("coturn")
    proc, port, tls_port = start_coturn(tmp)
    yield port, tls_port, tmp
    proc.terminate()
    proc.wait(10)


def test_credentials_follow_coturn_rest_api(settings):
    settings.TURN_URLS = ["stun:turn.example:3478", "turn:turn.example:3478?transport=udp"]
    settings.TURN_SECRET = "s3cret"
    settings.TURN_CREDENTIAL_TTL = 600
    servers = services.turn_credentials(42, now=1_700_000_000)
    assert servers[0] == {"urls": ["stun:turn.example:3478"]}
    assert servers[1]["username"] == "1700000600:42"
    # base64(HMAC-SHA1("s3cret", "1700000600:42")), computed independently with openssl.
    expected = subprocess.run(
        ["openssl", "dgst", "-sha1", "-hmac", "s3cret", "-binary"],
        input=b"1700000600:42",
        capture_output=True,
        check=True,
    ).stdout
    import base64

    assert servers[1]["credential"] == base64.b64encode(expected).decode()
    settings.TURN_SECRET = None
    assert services.turn_credentials(42) == [{"urls": ["stun:turn.example:3478"]}]


def relay_pair(client: VoiceClient):
    transport = client.pc.getTransceivers()[0].receiver.transport.transport
    pairs = transport._connection._nominated
    return pairs.get(1)


@pytest.mark.parametrize("over", ["udp", "tls"])
def test_a_relay_only_client_talks_through_coturn(
    make_user, worker_settings, client_loop, coturn, over, monkeypatch
):
    port, tls_port, tmp = coturn
    if over == "tls":
        # TURN over TLS on TCP: the client checks coturn's certificate against the test's CA.
        monkeypatch.setenv("SSL_CERT_FILE", str(tmp / "turn-cert.pem"))
        worker_settings.TURN_URLS = [f"turns:127.0.0.1:{tls_port}?transport=tcp"]
    else:
        worker_settings.TURN_URLS = [f"turn:127.0.0.1:{port}?transport=udp"]
    worker_settings.TURN_SECRET = SECRET
    owner = make_user("alice")
    guild = guild_services.check_create_guild(owner, name="Voice", description="")
    bob = make_user("bob")
    member_services.do_add_member(guild, bob)
    channel = channel_services.check_create_channel(owner, guild.id, {"name": "V", "type": 2})
    clients = {}
    try:
        offer = services.check_join(owner, guild.id, channel.id)
        assert offer["ice_servers"][0]["username"].endswith(f":{owner.id}")
        relayed = clients["alice"] = VoiceClient(
            440.0, ice_servers=offer["ice_servers"], relay_only=True
        )
        services.check_answer(owner, guild.id, client_loop.run(relayed.answer(offer)))
        offer = services.check_join(bob, guild.id, channel.id)
        direct = clients["bob"] = VoiceClient(880.0)
        services.check_answer(bob, guild.id, client_loop.run(direct.answer(offer)))

        wait_for(lambda: direct.heard() and relayed.heard())
        assert relay_pair(relayed).local_candidate.type == "relay"
        assert [round(f[0] / 440) for f in direct.heard().values()] == [1]
        assert [round(f[0] / 440) for f in relayed.heard().values()] == [2]

        # A credential not minted with the shared secret gets no allocation: no candidate.
        forged = VoiceClient(
            440.0,
            ice_servers=[{**offer["ice_servers"][0], "credential": "bm90IHRoZSBzZWNyZXQ="}],
            relay_only=True,
        )
        clients["forged"] = forged
        client_loop.run(forged.answer(offer))
        assert "typ relay" not in forged.pc.localDescription.sdp
        if over == "tls":
            # It is TLS, verified: a client that does not trust coturn's certificate gets none.
            monkeypatch.delenv("SSL_CERT_FILE")
            untrusting = VoiceClient(440.0, ice_servers=offer["ice_servers"], relay_only=True)
            clients["untrusting"] = untrusting
            client_loop.run(untrusting.answer(offer))
            assert "typ relay" not in untrusting.pc.localDescription.sdp
    finally:
        for client in clients.values():
            client_loop.run(client.close())
        for state in VoiceState.objects.all():
            services.do_leave(state)
