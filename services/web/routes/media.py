"""Product pictures, read through the Dapr `media` output binding (local storage locally,
a bucket elsewhere: a YAML change). Only names the products service writes are served,
with a content type chosen here from the extension, never sniffed."""

from __future__ import annotations

import re

from litestar import get
from litestar.datastructures import State
from litestar.response import Response

from services.common.dapr import Sidecar
from services.common.errors import DomainError
from services.common.names import MEDIA
from services.web.platform import PageNotFound

# products/<uuid>-<hash>.<ext>, as services/products/images.py names them.
NAME = re.compile(r"^products/[0-9a-f-]{36}-[0-9a-f]{8,64}\.(webp|jpg|png)$")
TYPES = {"webp": "image/webp", "jpg": "image/jpeg", "png": "image/png"}


@get("/media/{name:path}", name="media", include_in_schema=False)
async def media(state: State, name: str) -> Response[bytes]:
    name = name.lstrip("/")
    found = NAME.match(name)
    if found is None:
        raise PageNotFound(name)
    sidecar: Sidecar = state.sidecar
    try:
        r = await sidecar.invoke_binding(MEDIA, "get", None, {"fileName": name})
    except DomainError:
        # The binding answers an error for a missing file as for a broken store; a picture
        # that cannot be read is a 404 either way (the page shows its alt text).
        raise PageNotFound(name) from None
    return Response(r.content, media_type=TYPES[found.group(1)], headers={
        # The name carries the content's hash: it never changes under this URL.
        "Cache-Control": "public, max-age=31536000, immutable",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Content-Disposition": "inline",
    })


ROUTES = [media]
