"""FileWorkflow step: descriptive metadata (taken at, camera); GPS is never kept."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline.adapters.objects import ObjectStore
from pipeline.handlers.observability import logger, metrics
from pipeline.logic import images
from pipeline.models import Upload

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

store = ObjectStore()


@logger.inject_lambda_context(correlation_id_path="upload.item_id")
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    upload = Upload.model_validate(event["upload"])
    return images.extract_metadata(store.read(upload.source)).model_dump(mode="json")
