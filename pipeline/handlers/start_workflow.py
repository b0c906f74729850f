"""SQS batch of upload events → one FileWorkflow execution per created object, named by its business key."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit

from pipeline.adapters.workflows import Workflows
from pipeline.config import settings
from pipeline.handlers.batch import SQSRecord, process_partial_response
from pipeline.handlers.observability import logger, metrics
from pipeline.logic.envelopes import sns_message
from pipeline.logic.keys import execution_name, object_refs_from_s3_event

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

workflows = Workflows()


def record_handler(record: SQSRecord) -> None:
    for ref in object_refs_from_s3_event(json.loads(sns_message(record.body))):
        started = workflows.start(
            settings().file_workflow_arn, execution_name(ref, record.message_id), {"source": ref.model_dump()}
        )
        logger.info("workflow started" if started else "duplicate event", extra={"key": ref.key})
        metrics.add_metric(
            name="WorkflowsStarted" if started else "DuplicateUploadEvents", unit=MetricUnit.Count, value=1
        )


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return process_partial_response(event, record_handler, context)
