"""FileWorkflow step: store the version and move the item's `latest` pointer forward only (D8)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit

from pipeline.adapters.metadata_table import MetadataTable
from pipeline.config import settings
from pipeline.handlers.observability import logger, metrics
from pipeline.models import ImageMetadata, Rendition, Upload, VersionRecord

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

table = MetadataTable(settings().table_name)


@logger.inject_lambda_context(correlation_id_path="upload.item_id")
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    upload = Upload.model_validate(event["upload"])
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    record = VersionRecord(
        item_id=upload.item_id,
        version=int(event["version"]),
        collection=upload.collection,
        name=upload.name,
        source=upload.source,
        image=upload.image,
        bytes=upload.bytes,
        sha256=upload.sha256,
        user=upload.user,
        ignored_owner_claim=upload.ignored_owner_claim,
        metadata=ImageMetadata.model_validate(event["metadata"]),
        thumbnails=[Rendition.model_validate(t) for t in event["thumbnails"]],
        recorded_at=now,
    )
    created = table.record(record)
    latest = table.move_latest(record.item_id, record.version, upload.source.sequencer, now)
    metrics.add_metric(
        name="VersionsRecorded" if created else "DuplicateVersions", unit=MetricUnit.Count, value=1
    )
    return {"item_id": record.item_id, "version": record.version, "created": created, "latest": latest}
