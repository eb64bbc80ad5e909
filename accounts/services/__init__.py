"""Account services, one module per concern; the names other apps use are re-exported here."""

from accounts.services.profile import check_update_profile, serialize_user
from accounts.services.tokens import authenticate_access_token

__all__ = ["authenticate_access_token", "check_update_profile", "serialize_user"]
