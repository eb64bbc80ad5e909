"""A long-lived Django process for `Node.python()`: runs code snippets inside a node's settings.

`manage.py shell -c` pays Django's start-up (about two seconds of CPU) on every call, and the
live tests make dozens of calls. This process starts once per node and reads snippets from
stdin: a line with the byte length, then the code. It answers with a line `<status> <length>`
and the snippet's captured stdout (status 0), or its traceback (status 1). Database
connections are closed after every snippet, so the runner never holds a lock or a connection
that a restart or a `DROP DATABASE` would wait on.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import traceback


def main() -> None:
    # The protocol owns the original stdout; anything else that writes to stdout (a logging
    # handler, a library's print) lands in the runner's log instead of corrupting a reply.
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    requests = sys.stdin.buffer

    import django

    django.setup()
    from django.db import connections

    while header := requests.readline():
        code = requests.read(int(header)).decode()
        captured = io.StringIO()
        status = 0
        try:
            with contextlib.redirect_stdout(captured):
                exec(compile(code, "<node.python>", "exec"), {"__name__": "__node__"})
        except BaseException:  # a snippet's SystemExit or error is its answer, not the runner's
            status = 1
            captured.write(traceback.format_exc())
        finally:
            connections.close_all()
        payload = captured.getvalue().encode()
        replies.write(f"{status} {len(payload)}\n".encode() + payload)
        replies.flush()


if __name__ == "__main__":
    main()
