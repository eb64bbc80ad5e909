from django.urls import path

from media import api

api_urlpatterns = [
    path("upload", api.UploadView.as_view(), name="api-upload"),
    path("attachments/<id:attachment_id>", api.AttachmentView.as_view(), name="api-attachment"),
    path(
        "attachments/<id:attachment_id>/content",
        api.ContentView.as_view(),
        name="api-attachment-content",
    ),
    path(
        "attachments/<id:attachment_id>/thumbnails/<int:size>",
        api.ThumbnailView.as_view(),
        name="api-attachment-thumbnail",
    ),
]
