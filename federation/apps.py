from django.apps import AppConfig


class FederationConfig(AppConfig):
    name = "federation"
    verbose_name = "Federation"

    def ready(self) -> None:
        from federation import guildwire, publicchannel  # noqa: F401  (register actor kinds)
        from federation.observer import on_event
        from messaging import events

        events.observe(on_event)
