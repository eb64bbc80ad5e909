from django.apps import AppConfig


class BotsConfig(AppConfig):
    name = "bots"
    verbose_name = "Applications and bots"

    def ready(self) -> None:
        from bots import schema, services  # noqa: F401  (schema: the OpenAPI bot token scheme)
        from united import events

        # A bot leaving a guild takes its managed role along (services.on_event).
        events.observe(services.on_event)
