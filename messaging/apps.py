from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"
    verbose_name = "Messaging and the realtime gateway"

    def ready(self) -> None:
        from guilds import hooks
        from media.access import register_scope_resolver
        from messaging import events
        from messaging.search import indexing
        from messaging.services.access import can_read_channel

        register_scope_resolver("channel", can_read_channel)
        # The index follows message events (issue 20): no service calls it directly.
        events.observe(indexing.on_event)
        # A deleted channel's messages go by cascade, without events: guilds call this instead.
        hooks.on_channels_deleted(indexing.note_channels_deleted)
