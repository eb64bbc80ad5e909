from django.apps import AppConfig


class MediaConfig(AppConfig):
    name = "media"
    verbose_name = "Media and storage"

    def ready(self) -> None:
        from media.uploads import upload_allowance, upload_limit
        from united.bodies import register_body_limit

        # Held at the door (daphne), before the body is read: see united/bodies.py.
        register_body_limit(r"/api/v1/upload/?$", upload_limit, upload_allowance)
