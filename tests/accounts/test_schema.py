import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PATHS = [
    "/api/v1/auth/register",
    "/api/v1/auth/login",
    "/api/v1/auth/login/2fa",
    "/api/v1/auth/refresh",
    "/api/v1/auth/logout",
    "/api/v1/auth/2fa/enable",
    "/api/v1/auth/2fa/verify",
    "/api/v1/auth/2fa/disable",
    "/api/v1/auth/2fa/backup-codes",
    "/api/v1/auth/challenge",
    "/api/v1/auth/challenge/verify",
    "/api/v1/auth/recovery",
    "/api/v1/auth/recovery/challenge",
    "/api/v1/auth/passkeys/options",
    "/api/v1/auth/passkeys/verify",
    "/api/v1/auth/password",
    "/api/v1/users/@me",
    "/api/v1/users/@me/sessions",
    "/api/v1/users/@me/sessions/{session_id}",
    "/api/v1/users/@me/devices",
    "/api/v1/users/@me/devices/{device_id}/prekeys",
    "/api/v1/users/@me/devices/{device_id}/rotation",
    "/api/v1/users/@me/key-rotations",
    "/api/v1/users/@me/passkeys",
    "/api/v1/users/@me/profile",
    "/api/v1/users/@me/export",
    "/api/v1/users/@me/deletion",
    "/api/v1/users/@me/recovery-key",
    "/api/v1/users/{user_id}/keys",
    "/api/v1/users/{user_id}/profile",
]


@pytest.mark.django_db
def test_every_account_endpoint_is_in_the_openapi_schema(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    missing = [p for p in PATHS if p not in schema["paths"]]
    assert missing == []
    assert schema["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_browser_recovery_key_matches_the_server_side_derivation():
    """static/src/accounts-recovery.js and a Python client derive the same public key."""
    import base64

    from mnemonic import Mnemonic
    from nacl.signing import SigningKey

    node = shutil.which("node")
    assert node, "node is needed to build the browser bundle"
    phrase = "legal winner thank year wave sausage worth useful legal winner thank yellow"
    script = (
        'import { getPublicKeyAsync } from "@noble/ed25519";'
        'import { mnemonicToSeed } from "@scure/bip39";'
        f'const seed = await mnemonicToSeed("{phrase}", "");'
        "const key = await getPublicKeyAsync(seed.slice(0, 32));"
        'console.log(Buffer.from(key).toString("base64"));'
    )
    out = subprocess.run(
        [node, "--input-type=module", "-e", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    expected = SigningKey(Mnemonic.to_seed(phrase)[:32]).verify_key
    assert out.stdout.strip() == base64.b64encode(bytes(expected)).decode()


@pytest.mark.django_db
def test_recovery_signed_by_the_browser_libraries(api, client):
    """The recovery page's crypto (@scure/bip39 + @noble/ed25519) against the real API."""
    import base64

    from mnemonic import Mnemonic
    from nacl.signing import SigningKey

    from tests.accounts.conftest import register

    assert client.get("/recover/").status_code == 200
    phrase = Mnemonic("english").generate(128)
    public = SigningKey(Mnemonic.to_seed(phrase)[:32]).verify_key
    register(api, "alice", recovery_public_key=base64.b64encode(bytes(public)).decode())
    ch = api.post("/api/v1/auth/recovery/challenge", {"username": "alice"}, format="json").json()
    script = (
        'import { signAsync } from "@noble/ed25519";'
        'import { mnemonicToSeed } from "@scure/bip39";'
        "const [phrase, message] = process.argv.slice(1);"
        'const seed = await mnemonicToSeed(phrase, "");'
        "const sig = await signAsync(new TextEncoder().encode(message), seed.slice(0, 32));"
        'console.log(Buffer.from(sig).toString("base64"));'
    )
    out = subprocess.run(
        [shutil.which("node"), "--input-type=module", "-e", script, phrase, ch["message"]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    response = api.post(
        "/api/v1/auth/recovery",
        {
            "username": "alice",
            "nonce": ch["nonce"],
            "signature": out.stdout.strip(),
            "new_password": "a brand new passphrase 7",
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
