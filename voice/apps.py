from django.apps import AppConfig


class VoiceConfig(AppConfig):
    name = "voice"
    verbose_name = "Voice"

    def ready(self) -> None:
        from united import events
        from voice.services import on_guild_event

        events.observe(on_guild_event)
