from django.apps import AppConfig


class VoiceConfig(AppConfig):
    name = "voice"
    verbose_name = "Voice"

    def ready(self) -> None:
        from messaging.ports import register_voice_ops
        from united import events
        from voice import gateway
        from voice.services import on_guild_event

        events.observe(on_guild_event)
        # The gateway consumer (messaging, below voice) hands ops 4 and 30 to this module.
        register_voice_ops(gateway)
