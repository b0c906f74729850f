"""Custom resource `GalleryAssets`: publishes the gallery (`pipeline/gallery/`) into the public bucket.

`index.html` goes to the bucket's root (the distribution's default root object), the rest under `gallery/`,
with `gallery/config.json` telling the page where the API is. A stack update publishes again; a stack delete
removes what was published.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.adapters.custom_resource import respond
from pipeline.adapters.objects import ObjectStore
from pipeline.handlers.observability import logger

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

GALLERY = Path(__file__).resolve().parent.parent / "gallery"
#: The page and its settings change with each deploy; scripts and styles may be cached a little.
NO_CACHE = "no-cache"
SHORT_CACHE = "public, max-age=300"

store = ObjectStore()


def assets() -> dict[str, Path]:
    """Each gallery file by its key in the public bucket: `index.html` at the root, the rest in `gallery/`."""
    found = {}
    for path in sorted(GALLERY.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            relative = path.relative_to(GALLERY).as_posix()
            found[relative if relative == "index.html" else f"gallery/{relative}"] = path
    return found


def _config(properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiUrl": properties.get("ApiUrl", ""),
        "devTokenUrl": properties.get("DevTokenUrl", ""),
        "maxUploadBytes": int(properties.get("MaxUploadBytes", 0) or 0),
    }


def _publish(bucket: str, properties: dict[str, Any]) -> None:
    for key, path in assets().items():
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if content_type.startswith("text/") or content_type.endswith("javascript"):
            content_type += "; charset=utf-8"
        cache = NO_CACHE if key == "index.html" else SHORT_CACHE
        store.put(bucket, key, path.read_bytes(), content_type=content_type, cache_control=cache)
    store.put_json(bucket, "gallery/config.json", _config(properties), cache_control=NO_CACHE)


def _remove(bucket: str) -> None:
    store.delete_keys(bucket, [*assets(), "gallery/config.json"])


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> None:
    properties = event.get("ResourceProperties", {})
    bucket = str(properties.get("Bucket", ""))
    physical_id = event.get("PhysicalResourceId") or f"gallery-{bucket}"
    try:
        if event["RequestType"] == "Delete":
            _remove(bucket)
        else:
            _publish(bucket, properties)
    # CloudFormation waits an hour for a response that never comes: every failure must answer FAILED.
    except Exception as exc:  # noqa: BLE001 - the custom resource protocol's one catch-all, logged whole
        logger.exception("gallery %s failed", event["RequestType"])
        if event["RequestType"] != "Delete":
            respond(
                event, "FAILED", physical_id, reason=f"{event['RequestType']} of the gallery failed: {exc}"
            )
            return
        # A failed delete would leave the stack DELETE_FAILED for a few leftover files: say so, go on.
    respond(event, "SUCCESS", physical_id, data={"Index": "index.html"})
