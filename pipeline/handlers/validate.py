"""FileWorkflow step: is this object an image we accept? Judged by content, within size and pixel limits."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit

from pipeline.adapters.objects import ObjectStore
from pipeline.config import settings
from pipeline.errors import PermanentError
from pipeline.handlers.observability import logger, metrics
from pipeline.logic import images
from pipeline.logic.keys import item_id, parse_upload_key
from pipeline.logic.uploads import check_size, validated_upload
from pipeline.models import ObjectRef

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

store = ObjectStore()


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    ref = ObjectRef.model_validate(event["source"])
    logger.set_correlation_id(item_id(ref.bucket, ref.key))
    try:
        parse_upload_key(ref.key)
        head = store.head(ref)
        check_size(head.size, settings().max_upload_bytes)
        ref = ref.model_copy(update={"version_id": ref.version_id or head.version_id, "size": head.size})
        data = store.read(ref)
        image = images.inspect(data, max_pixels=settings().max_pixels)
    except PermanentError as refused:
        metrics.add_metric(name="FilesRefused", unit=MetricUnit.Count, value=1)
        metrics.add_dimension(name="reason", value=refused.reason)
        logger.info("refused", extra={"reason": refused.reason, "detail": refused.message})
        raise
    metrics.add_metric(name="FilesValidated", unit=MetricUnit.Count, value=1)
    upload = validated_upload(ref, data, image, head.metadata, settings().uploader_role_id)
    return upload.model_dump(mode="json")
