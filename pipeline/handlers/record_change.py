"""ChangeWorkflow step: record the change only if it is newer than what is stored (D7, D8)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit

from pipeline.adapters.metadata_table import MetadataTable
from pipeline.config import settings
from pipeline.handlers.observability import logger, metrics
from pipeline.logic.changes import inherit_labels, record_key
from pipeline.models import ChangeEvent, StoredChange

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

table = MetadataTable(settings().table_name)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    given = ChangeEvent.model_validate(event["change"])
    key = record_key(given)
    change = inherit_labels(given, table.stored_change(key))
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    outcome = table.apply_change(key, StoredChange(change=change, recorded_at=now))
    metrics.add_metric(
        name={"recorded": "ChangesRecorded", "duplicate": "DuplicateChanges", "stale": "StaleChanges"}[
            outcome
        ],
        unit=MetricUnit.Count,
        value=1,
    )
    if outcome == "stale":
        logger.info("stale change dropped", extra={"key": key, "sequence": change.sequence})
    return {"outcome": outcome}
