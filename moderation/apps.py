from django.apps import AppConfig


class ModerationConfig(AppConfig):
    name = "moderation"
    verbose_name = "Moderation"

    def ready(self) -> None:
        from guilds.ports import register_sanctions
        from messaging.ports import register_send_gate
        from moderation.ports import GuildSanctions, SendGate

        # guilds and messaging sit below moderation: they ask it through the ports they declare.
        register_sanctions(GuildSanctions())
        register_send_gate(SendGate())
