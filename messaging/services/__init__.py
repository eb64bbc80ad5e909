"""Messaging services: every door (REST, gateway, web UI, federation) calls these.

- `access.py`: which channel a user may read/write in (threads inherit their parent's rights).
- `messages.py`: send (idempotent by nonce), edit (history kept), delete (tombstone), history
  paging by HLC, pins, typing, ephemeral (TTL) messages.
- `reactions.py`: Unicode emoji reactions.
- `readstates.py`: last-read markers, unread and mention counts.
- `serialize.py`: Discord-shaped JSON.
"""
