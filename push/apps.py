from django.apps import AppConfig


class PushConfig(AppConfig):
    name = "push"
    verbose_name = "Web Push notifications"

    def ready(self) -> None:
        from accounts import hooks
        from push import services
        from united import events

        # Push hears new messages and DM envelopes like the index does (united/events.py).
        events.observe(services.on_event)
        # A device that signs out, or an account whose password changes, stops getting pushes.
        hooks.on_session_ended(services.forget_session)
        hooks.on_password_changed(services.forget_user)
