"""ChangeWorkflow step: the event against its JSON Schema contract; a violation is never retried."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit

from pipeline.errors import PermanentError
from pipeline.handlers.observability import logger, metrics
from pipeline.logic.changes import parse_change

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        change = parse_change(str(event["raw"]))
    except PermanentError:
        metrics.add_metric(name="ChangesRejected", unit=MetricUnit.Count, value=1)
        raise
    return change.model_dump(mode="json")
