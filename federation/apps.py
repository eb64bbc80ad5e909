from django.apps import AppConfig


class FederationConfig(AppConfig):
    name = "federation"
    verbose_name = "Federation"

    def ready(self) -> None:
        from federation import guildwire, publicchannel  # noqa: F401  (register actor kinds)
        from federation.observer import on_event
        from united import events

        events.observe(on_event)
        register_ports()


def register_ports() -> None:
    """What only federation can do for the domain apps, behind the ports they declare
    (docs/architecture.md, "Ports"): the domain apps never import federation."""
    from accounts.ports import register_remote_keys
    from e2e.ports import register_remote_devices
    from federation import e2e_relay
    from federation import voice as federated_voice
    from federation.http import push_post
    from messaging.ports import register_remote_dms
    from push.ports import register_safe_post
    from voice.ports import register_remote_voice

    register_remote_keys(e2e_relay)
    register_remote_devices(e2e_relay)
    register_remote_dms(e2e_relay)
    register_remote_voice(federated_voice)
    register_safe_post(push_post)
