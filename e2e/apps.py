from django.apps import AppConfig


class E2EConfig(AppConfig):
    name = "e2e"
    label = "e2e"
    verbose_name = "End-to-end encrypted DMs (ciphertext envelopes, signed device lists)"

    def ready(self) -> None:
        from media.access import register_scope_resolver
        from messaging.search.indexing import register_encryption_check

        register_encryption_check(is_encrypted_channel)
        register_scope_resolver("dm", can_read_dm)


def is_encrypted_channel(channel) -> bool:
    """DMs and group DMs are end-to-end encrypted; nothing of theirs is ever indexed."""
    from messaging.services.dms import DM_TYPES

    return channel.type in DM_TYPES


def can_read_dm(user, scope_id: str) -> bool:
    """Media's resolver for `dm:<channel id>` uploads (encrypted attachments): readable by the
    conversation's current recipients, who hold the key inside an encrypted message."""
    from guilds.models import Channel
    from messaging.services.dms import DM_TYPES

    try:
        channel = Channel.objects.get(id=int(scope_id), type__in=DM_TYPES)
    except (Channel.DoesNotExist, ValueError):
        return False
    return channel.recipients.filter(id=user.id).exists()
