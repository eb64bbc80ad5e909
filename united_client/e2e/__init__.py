"""End-to-end encryption for UNITED DMs: X3DH + Double Ratchet, the v1 envelope format and
signed device lists. The wire format is specified in docs/e2e.md; the browser module
(static/src/e2e/) implements the same protocol and both check tests/e2e/vectors/ratchet.json.
"""

from united_client.e2e.errors import DecryptError, DeviceListError, E2EError

__all__ = ["DecryptError", "DeviceListError", "E2EError"]
