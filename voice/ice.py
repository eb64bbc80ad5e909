"""Which host addresses aiortc advertises as ICE candidates.

aioice offers every interface address except 127.0.0.1. An operator behind 1:1 NAT, a test
that must stay on loopback, or a host with many interfaces wants to choose: VOICE_ICE_ADDRESSES
(comma-separated) replaces the list for the whole process.
"""

from __future__ import annotations

import aioice.ice


def restrict_host_addresses(addresses: list[str]) -> None:
    if not addresses:
        return
    chosen = list(addresses)
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: [
        a for a in chosen if (":" in a and use_ipv6) or (":" not in a and use_ipv4)
    ]
