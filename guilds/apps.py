from django.apps import AppConfig


class GuildsConfig(AppConfig):
    name = "guilds"
    verbose_name = "Guilds, channels and roles"

    def ready(self) -> None:
        from accounts import hooks
        from guilds.services.export import export_memberships
        from guilds.services.member_list import on_user_update
        from guilds.services.members import do_end_temporary_memberships, guarded_names_for
        from united import events

        # Temporary membership lasts while the member is signed in somewhere (as on Discord,
        # where it ends when they disconnect): accounts tells us when the last session ends.
        hooks.on_last_session_ended(do_end_temporary_memberships)
        # A display name shows in every guild the member is in: it must not pass for their
        # owners or moderators any more than a nickname may.
        hooks.on_guarded_names(guarded_names_for)
        # The member list sorts by the shown name: a new display name moves the member.
        events.observe(on_user_update)
        hooks.on_export("guild_memberships", export_memberships)
