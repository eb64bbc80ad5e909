"""What other apps do when guild objects go away.

`guilds` sits below the apps that keep data about its channels (messaging's search index), so
it does not import them: they register a function here from their `AppConfig.ready()`, and the
guild services call every registered function explicitly, inside the deleting transaction
(the pattern of accounts/hooks.py).
"""

from __future__ import annotations

from collections.abc import Callable

ChannelsDeleted = Callable[[list[int]], object]  # what a hook returns is ignored
_channels_deleted: list[ChannelsDeleted] = []


def on_channels_deleted(hook: ChannelsDeleted) -> ChannelsDeleted:
    """Call `hook(channel_ids)` inside the transaction that deletes these channels (one channel,
    or every channel of a deleted guild), before their rows go. Registering the same function
    twice registers it once."""
    if hook not in _channels_deleted:
        _channels_deleted.append(hook)
    return hook


def channels_deleted(channel_ids: list[int]) -> None:
    for hook in list(_channels_deleted):
        hook(channel_ids)
