from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from media import services
from media.models import Thumbnail
from media.responses import serve_blob
from media.uploads import StreamingUploadHandler
from united.errors import Invalid, NotFound


class FirstRenderer(BaseContentNegotiation):
    """Downloads answer whatever the client accepts (an <img> asks for image/*)."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def _flag(value: Any) -> bool:
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


class UploadView(APIView):
    parser_classes = [MultiPartParser]

    def initialize_request(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Request:
        # Installed before anything reads the body: the CSRF check parses it during
        # authentication, and it must already stream through our handler.
        self.handler = StreamingUploadHandler(
            request,
            settings.UNITED_MAX_UPLOAD_BYTES,
            lambda: services.quota_left(request.user),
        )
        request.upload_handlers = [self.handler]
        return super().initialize_request(request, *args, **kwargs)

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            return super().dispatch(request, *args, **kwargs)
        finally:
            self.handler.cleanup()

    @extend_schema(
        request={"multipart/form-data": OpenApiTypes.OBJECT},
        responses={201: OpenApiTypes.OBJECT},
        summary="Upload one file (form field `file`; optional `scope`, `purpose`, `encrypted`)",
    )
    def post(self, request: Request) -> Response:
        # Only the multipart parser is set on this view: the body is a form, never a JSON list.
        data: Mapping[str, Any] = request.data  # type: ignore[assignment]
        upload = self.handler.upload
        if upload is None:
            raise Invalid(errors={"file": ["No file was sent."]})
        attachment = services.check_upload(
            request.user,
            upload,
            scope=str(data.get("scope", "")).strip(),
            purpose=str(data.get("purpose", "attachment")).strip(),
            encrypted=_flag(data.get("encrypted", "")),
        )
        return Response(services.serialize_attachment(attachment), status=201)


class AttachmentView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses=OpenApiTypes.OBJECT, summary="An attachment's metadata")
    def get(self, request: Request, attachment_id: str) -> Response:
        attachment = services.access_attachment(request.user, attachment_id)
        return Response(services.serialize_attachment(attachment))

    @extend_schema(responses={204: None}, summary="Delete your attachment")
    def delete(self, request: Request, attachment_id: str) -> Response:
        attachment = services.access_attachment(request.user, attachment_id)
        services.check_delete_attachment(request.user, attachment)
        return Response(status=204)


class ContentView(APIView):
    permission_classes = [AllowAny]
    content_negotiation_class = FirstRenderer

    @extend_schema(responses={(200, "*/*"): OpenApiTypes.BINARY}, summary="Download (Range ok)")
    def get(self, request: Request, attachment_id: str) -> HttpResponseBase:
        attachment = services.access_attachment(
            request.user, attachment_id, link=("content", request.query_params)
        )
        return serve_blob(
            request._request,
            key=attachment.blob.key,
            sha256=attachment.blob_id,
            size=attachment.size,
            content_type=attachment.content_type,
            filename=attachment.filename,
            public=attachment.public,
        )


class ThumbnailView(APIView):
    permission_classes = [AllowAny]
    content_negotiation_class = FirstRenderer

    @extend_schema(responses={(200, "image/webp"): OpenApiTypes.BINARY}, summary="A thumbnail")
    def get(self, request: Request, attachment_id: str, size: int) -> HttpResponseBase:
        attachment = services.access_attachment(
            request.user, attachment_id, link=(f"thumbnails/{size}", request.query_params)
        )
        thumb = Thumbnail.objects.filter(attachment=attachment, size=size).select_related("blob")
        thumbnail = thumb.first()
        if thumbnail is None:
            raise NotFound("No thumbnail of that size")
        stem = attachment.filename.rsplit(".", 1)[0]
        return serve_blob(
            request._request,
            key=thumbnail.blob.key,
            sha256=thumbnail.blob_id,
            size=thumbnail.blob.size,
            content_type=thumbnail.content_type,
            filename=f"{stem}-{size}.{thumbnail.content_type.split('/')[-1]}",
            public=attachment.public,
        )
