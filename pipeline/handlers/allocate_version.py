"""FileWorkflow step: give the upload its version number, once per uploaded object version (D7)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline.adapters.metadata_table import MetadataTable
from pipeline.config import settings
from pipeline.handlers.observability import logger, metrics
from pipeline.logic.keys import source_id
from pipeline.models import Upload

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

table = MetadataTable(settings().table_name)


@logger.inject_lambda_context(correlation_id_path="upload.item_id")
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    upload = Upload.model_validate(event["upload"])
    allocation = table.allocate(upload.item_id, upload.collection, source_id(upload.source))
    return {"version": allocation.version, "duplicate": allocation.duplicate}
