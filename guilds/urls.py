# REST routes (mounted under /api/v1/) and web routes of this app.
api_urlpatterns: list = []

urlpatterns: list = []
