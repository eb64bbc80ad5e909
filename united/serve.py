"""`python -m united.serve -b HOST -p PORT`: daphne, serving the node, with an access log that
keeps no IP address unless the operator turned `UNITED_LOG_IPS` on.

Daphne's own access log starts every line with the client's address and port and cannot be
told not to; the privacy manifest promises no IP logging by default, so the node is started
through this wrapper, which swaps daphne's log writer for `AccessLog` and serves
`united.asgi:application`; every other daphne option passes through. Proxy headers are not
daphne's business here: `--proxy-headers` would believe any client, so it is refused, and
`united.clientaddr` believes forwarding headers only from `UNITED_TRUSTED_PROXIES`.
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

from daphne import cli
from daphne.access import AccessLogGenerator

from united.logredact import redact

APPLICATION = "united.asgi:application"


class AccessLog(AccessLogGenerator):
    """Daphne's NCSA-style lines, with `-` where the client's address was."""

    def __init__(self, stream: Any, log_ips: bool) -> None:
        super().__init__(stream)
        self.log_ips = log_ips

    def write_entry(
        self,
        host: str,
        date: datetime,
        request: str,
        status: int | None = None,
        length: int | None = None,
        ident: str | None = None,
        user: str | None = None,
    ) -> None:
        super().write_entry(
            host if self.log_ips else "-", date, redact(request), status, length, ident, user
        )


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if any(a.startswith("--proxy-headers") for a in args):
        sys.exit(
            "error: --proxy-headers would believe X-Forwarded-For from any client; "
            "list your reverse proxies in UNITED_TRUSTED_PROXIES instead"
        )
    from united.config import ConfigError, load

    try:
        log_ips = load().log_ips
    except ConfigError as exc:
        sys.exit(f"error: {exc}")
    # The CLI builds its log writer from this module-level name; it has no option for it.
    cli.AccessLogGenerator = lambda stream: AccessLog(stream, log_ips)
    cli.CommandLineInterface().run([*args, APPLICATION])


if __name__ == "__main__":
    main()
