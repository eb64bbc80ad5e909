from django.apps import AppConfig


class UnitedConfig(AppConfig):
    name = "united"
    verbose_name = "UNITED node"

    def ready(self) -> None:
        from united import (
            checks,  # noqa: F401  (registers the system checks)
            converters,
        )

        converters.register()  # before any URLconf is imported: they use `<id:…>`
