from django.apps import AppConfig


class E2EConfig(AppConfig):
    name = "e2e"
    label = "e2e"
    verbose_name = "End-to-end encrypted DMs (ciphertext envelopes, signed device lists)"

    def ready(self) -> None:
        from messaging.search.indexing import register_encryption_check

        register_encryption_check(is_encrypted_channel)


def is_encrypted_channel(channel) -> bool:
    """DMs and group DMs are end-to-end encrypted; nothing of theirs is ever indexed."""
    from messaging.services.dms import DM_TYPES

    return channel.type in DM_TYPES
