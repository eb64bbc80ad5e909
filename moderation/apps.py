from django.apps import AppConfig


class ModerationConfig(AppConfig):
    name = "moderation"
    verbose_name = "Moderation"

    def ready(self) -> None:
        from guilds.ports import register_sanctions
        from messaging.ports import register_send_gate
        from moderation.ports import GuildSanctions, SendGate
        from moderation.services.audit import on_event
        from united import events

        # The audit log follows the domain events (issue 20): a guild or voice change carries
        # its entry on the event it publishes, and this appends it in the same transaction.
        events.observe(on_event)
        # guilds and messaging sit below moderation: they ask it through the ports they declare.
        register_sanctions(GuildSanctions())
        register_send_gate(SendGate())
