from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"
    verbose_name = "Messaging and the realtime gateway"

    def ready(self) -> None:
        from accounts import hooks
        from media.access import register_scope_resolver
        from messaging import gateway
        from messaging.hub import Hub
        from messaging.search import indexing
        from messaging.services.access import can_read_channel
        from messaging.services.export import export_messages
        from united import events

        register_scope_resolver("channel", can_read_channel)
        hooks.on_export("messages", export_messages)
        # The gateway's store observes first (messaging precedes moderation, federation and
        # voice in INSTALLED_APPS), so its row exists when the others hear the event.
        events.observe(gateway.store_event)
        # The index follows message events (issue 20): no service calls it directly.
        events.observe(indexing.on_event)
        # The embedded mode has no bus: events sent after commit go to this process's hubs.
        events.receive_locally(Hub.hand_over)
