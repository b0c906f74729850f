"""FileWorkflow step: thumbnails of the configured widths, stored under immutable versioned keys."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit

from pipeline.adapters.objects import ObjectStore
from pipeline.config import settings
from pipeline.handlers.observability import logger, metrics
from pipeline.logic import images
from pipeline.logic.documents import CACHE_IMMUTABLE, thumbnail_key
from pipeline.models import Upload

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

store = ObjectStore()


@logger.inject_lambda_context(correlation_id_path="upload.item_id")
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> list[dict[str, Any]]:
    upload = Upload.model_validate(event["upload"])
    version = int(event["version"])
    config = settings()
    started = time.perf_counter()
    renditions = images.make_thumbnails(
        store.read(upload.source), config.thumbnail_widths, config.thumbnail_format
    )
    metrics.add_metric(
        name="ThumbnailMs", unit=MetricUnit.Milliseconds, value=(time.perf_counter() - started) * 1000
    )
    stored = []
    for rendition, body in renditions:
        extension = "jpg" if rendition.format.lower() == "jpeg" else rendition.format.lower()
        key = thumbnail_key(upload.item_id, version, rendition.width, extension)
        store.put(config.public_bucket, key, body, content_type=rendition.mime, cache_control=CACHE_IMMUTABLE)
        stored.append(rendition.model_copy(update={"key": key}).model_dump(mode="json"))
    return stored
