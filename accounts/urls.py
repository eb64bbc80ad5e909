from django.urls import path

from accounts import views
from accounts.api import auth, keys, passkeys, users

api_urlpatterns = [
    path("auth/register", auth.RegisterView.as_view(), name="api-register"),
    path("auth/login", auth.LoginView.as_view(), name="api-login"),
    path("auth/login/2fa", auth.SecondFactorLoginView.as_view(), name="api-login-2fa"),
    path("auth/refresh", auth.RefreshView.as_view(), name="api-refresh"),
    path("auth/logout", auth.LogoutView.as_view(), name="api-logout"),
    path("auth/challenge", auth.ChallengeView.as_view(), name="api-challenge"),
    path("auth/challenge/verify", auth.ChallengeLoginView.as_view(), name="api-challenge-verify"),
    path(
        "auth/recovery/challenge",
        auth.RecoveryChallengeView.as_view(),
        name="api-recovery-challenge",
    ),
    path("auth/recovery", auth.RecoverView.as_view(), name="api-recovery"),
    path("auth/password", auth.PasswordView.as_view(), name="api-password"),
    path("auth/2fa/enable", auth.TwoFactorEnableView.as_view(), name="api-2fa-enable"),
    path("auth/2fa/verify", auth.TwoFactorVerifyView.as_view(), name="api-2fa-verify"),
    path("auth/2fa/disable", auth.TwoFactorDisableView.as_view(), name="api-2fa-disable"),
    path("auth/2fa/backup-codes", auth.BackupCodesView.as_view(), name="api-backup-codes"),
    path(
        "auth/passkeys/options",
        passkeys.PasskeySignInOptionsView.as_view(),
        name="api-passkey-signin-options",
    ),
    path("auth/passkeys/verify", passkeys.PasskeySignInView.as_view(), name="api-passkey-signin"),
    path("users/@me", users.MeView.as_view(), name="api-users-me"),
    path("users/@me/sessions", users.SessionsView.as_view(), name="api-sessions"),
    path("users/@me/sessions/<id:session_id>", users.SessionView.as_view(), name="api-session"),
    path("users/@me/devices", keys.DevicesView.as_view(), name="api-devices"),
    path("users/@me/devices/<id:device_id>", keys.DeviceView.as_view(), name="api-device"),
    path(
        "users/@me/devices/<id:device_id>/prekeys", keys.PrekeysView.as_view(), name="api-prekeys"
    ),
    path(
        "users/@me/devices/<id:device_id>/rotation",
        keys.DeviceRotationView.as_view(),
        name="api-device-rotation",
    ),
    path("users/@me/key-rotations", keys.RotationsView.as_view(), name="api-rotations"),
    path(
        "users/@me/key-rotations/<id:rotation_id>",
        keys.RotationView.as_view(),
        name="api-rotation",
    ),
    path("users/@me/passkeys", passkeys.PasskeysView.as_view(), name="api-passkeys"),
    path(
        "users/@me/passkeys/options",
        passkeys.PasskeyOptionsView.as_view(),
        name="api-passkey-options",
    ),
    path(
        "users/@me/passkeys/confirm-options",
        passkeys.PasskeyConfirmOptionsView.as_view(),
        name="api-passkey-confirm-options",
    ),
    path("users/@me/passkeys/<id:passkey_id>", passkeys.PasskeyView.as_view(), name="api-passkey"),
    path("users/@me/profile", users.MyProfileView.as_view(), name="api-my-profile"),
    path("users/@me/recovery-key", users.RecoveryKeyView.as_view(), name="api-recovery-key"),
    path("users/@me/export", users.ExportView.as_view(), name="api-export"),
    path("users/@me/deletion", users.DeletionView.as_view(), name="api-deletion"),
    path("users/<id:user_id>/keys", keys.UserKeysView.as_view(), name="api-user-keys"),
    path("users/<id:user_id>/profile", users.ProfileView.as_view(), name="api-profile"),
]

urlpatterns = [
    path("register/", views.register, name="register"),
    path("login/", views.login, name="login"),
    path("login/2fa/", views.login_second_factor, name="login-2fa"),
    path("login/passkey/", views.passkey_login, name="login-passkey"),
    path("logout/", views.logout, name="logout"),
    path("recover/", views.recover, name="recover"),
    path("settings/security/", views.security, name="security"),
    path("settings/security/password/", views.change_password, name="security-password"),
    path("settings/security/totp/", views.totp_setup, name="security-totp"),
    path("settings/security/totp/disable/", views.totp_disable, name="security-totp-disable"),
    path("settings/security/backup-codes/", views.backup_codes, name="security-backup-codes"),
    path(
        "settings/security/sessions/<id:session_id>/revoke/",
        views.revoke_session,
        name="security-revoke-session",
    ),
    path(
        "settings/security/devices/<id:device_id>/revoke/",
        views.revoke_device,
        name="security-revoke-device",
    ),
    path(
        "settings/security/rotations/<id:rotation_id>/cancel/",
        views.cancel_rotation,
        name="security-cancel-rotation",
    ),
    path(
        "settings/security/passkeys/<id:passkey_id>/", views.passkey_edit, name="security-passkey"
    ),
    path("settings/security/recovery/", views.recovery_key, name="security-recovery"),
    path("settings/account/", views.account, name="account"),
    path("settings/account/export/", views.export, name="account-export"),
]
