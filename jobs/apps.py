from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Background jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Each app's job handlers register themselves when its tasks module is imported.
        from django.utils.module_loading import autodiscover_modules

        autodiscover_modules("tasks")
