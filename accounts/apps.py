from django.apps import AppConfig


class AccountsConfig(AppConfig):
    # With more than one AppConfig in this module Django picks none by itself: without
    # `default`, "accounts" got a bare AppConfig and ready() (the OpenAPI scheme) never ran.
    default = True
    name = "accounts"
    verbose_name = "Accounts and identity"

    def ready(self) -> None:
        from accounts import schema  # noqa: F401  (registers the OpenAPI bearer scheme)


# django-otp's apps would head their admin sections with their labels ("Otp_Totp"); an
# operator looking for a member's second factor knows them by what the member sees.
class AuthenticatorAppsConfig(AppConfig):
    default = False
    name = "django_otp.plugins.otp_totp"
    label = "otp_totp"
    verbose_name = "Authenticator apps"
    default_auto_field = "django.db.models.AutoField"


class BackupCodesConfig(AppConfig):
    default = False
    name = "django_otp.plugins.otp_static"
    label = "otp_static"
    verbose_name = "Backup codes"
    default_auto_field = "django.db.models.AutoField"
