from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts.urls import api_urlpatterns as accounts_api
from bots.urls import api_urlpatterns as bots_api
from e2e.urls import api_urlpatterns as e2e_api
from federation.urls import api_urlpatterns as federation_api
from guilds.urls import api_urlpatterns as guilds_api
from media.urls import api_urlpatterns as media_api
from messaging.urls import api_urlpatterns as messaging_api
from moderation.urls import api_urlpatterns as moderation_api
from push.urls import api_urlpatterns as push_api
from united import health, views
from voice.urls import api_urlpatterns as voice_api

api_v1 = [
    *accounts_api,
    *guilds_api,
    *messaging_api,
    *e2e_api,
    *media_api,
    *moderation_api,
    *push_api,
    *federation_api,
    *voice_api,
]

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    # The Discord-compatible surface for bots (docs/bots.md): v9 and v10 answer alike.
    path("api/v10/", include(bots_api)),
    path("api/v9/", include(bots_api)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include("accounts.urls")),
    path("", include("guilds.urls")),
    path("", include("federation.urls")),
    path("", include("moderation.urls")),
    path("", include("push.urls")),
    path("", include("bots.urls")),
    path("app/", include("web.urls")),
]

# What fails outside a view: an outage answers 503 there too (united/views.py).
handler500 = "united.views.server_error"

admin.site.site_header = "UNITED node administration"
admin.site.site_title = "UNITED admin"
admin.site.index_title = "Operate this node"
