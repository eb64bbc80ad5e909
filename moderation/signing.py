"""The node's Ed25519 key for the moderation log.

Kept in the data directory as `node-modlog-ed25519.key` (the 32-byte seed, hex, mode 0600),
created on first use. The federation work gives the node its own key for HTTP signatures;
once both exist they should become one node identity key (the file name says what this one
is for, so the merge can adopt it deliberately).
"""

from __future__ import annotations

import base64
import os
import threading
from pathlib import Path

from django.conf import settings
from nacl.signing import SigningKey

KEY_FILE = "node-modlog-ed25519.key"
_lock = threading.Lock()
_cache: dict[Path, SigningKey] = {}


def key_path() -> Path:
    return Path(settings.DATA_DIR) / KEY_FILE


def _load_or_create(path: Path) -> SigningKey:
    try:
        return SigningKey(bytes.fromhex(path.read_text().strip()))
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = SigningKey.generate()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        # Another process created it first: use theirs.
        return SigningKey(bytes.fromhex(path.read_text().strip()))
    with os.fdopen(fd, "w") as handle:
        handle.write(bytes(key).hex())
    return key


def signing_key() -> SigningKey:
    path = key_path()
    with _lock:
        if path not in _cache:
            _cache[path] = _load_or_create(path)
        return _cache[path]


def sign(data: bytes) -> str:
    return base64.b64encode(signing_key().sign(data).signature).decode()


def public_key() -> str:
    """The verify key, base64: what anyone needs to check an exported moderation log."""
    return base64.b64encode(bytes(signing_key().verify_key)).decode()
