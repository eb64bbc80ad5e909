from django.apps import AppConfig


class E2EConfig(AppConfig):
    name = "e2e"
    label = "e2e"
    verbose_name = "End-to-end encryption (DM envelopes, signed device lists, MLS channel groups)"

    def ready(self) -> None:
        from e2e import mls
        from media.access import register_scope_resolver
        from messaging.ports import register_plaintext_guard
        from messaging.search.indexing import register_encryption_check

        register_encryption_check(is_encrypted_channel)
        register_encryption_check(mls.is_mls_channel)
        register_plaintext_guard(refuse_plaintext_in_mls_channel)
        register_scope_resolver("dm", can_read_dm)


def is_encrypted_channel(channel) -> bool:
    """DMs and group DMs are end-to-end encrypted; nothing of theirs is ever indexed."""
    from messaging.services.dms import DM_TYPES

    return channel.type in DM_TYPES


def refuse_plaintext_in_mls_channel(channel):
    from e2e import mls

    return mls.mls_required(channel.id) if mls.is_mls_channel(channel) else None


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
