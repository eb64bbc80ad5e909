from django.apps import AppConfig


class BotsConfig(AppConfig):
    name = "bots"
    verbose_name = "Applications and bots"

    def ready(self) -> None:
        from bots import schema, services  # noqa: F401  (schema: the OpenAPI bot token scheme)
        from united import events

        # A bot leaving a guild takes its managed role along (services.on_event).
        events.observe(services.on_event)

        # A webhook's post may carry files (Discord's multipart form): the same ceiling as
        # media's upload path, instead of the default body limit of other paths.
        from media.uploads import upload_limit
        from united.bodies import register_body_limit

        register_body_limit(r"/api/(v\d+/)?webhooks/\d+/[^/]+/?$", upload_limit)
        # A bot's message may carry files too, from a valid bot token within its quota.
        from bots.uploads import bot_upload_allowance

        register_body_limit(
            r"/api/v(9|10)/channels/\d+/messages/?$", upload_limit, bot_upload_allowance
        )
