"""SQS batch of change events → one ChangeWorkflow execution each, named by source/entity/id/sequence."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from pipeline.adapters.workflows import Workflows
from pipeline.config import settings
from pipeline.errors import PermanentError
from pipeline.handlers.observability import logger, metrics, tracer
from pipeline.logic.changes import execution_name, parse_change
from pipeline.logic.envelopes import sns_message

processor = BatchProcessor(event_type=EventType.SQS)
workflows = Workflows()


def record_handler(record: SQSRecord) -> None:
    text = sns_message(record.body)
    try:
        change = parse_change(text)
    except PermanentError:
        change = None  # still started: the workflow records the violation and announces the rejection
    started = workflows.start(
        settings().change_workflow_arn, execution_name(change, text, record.message_id), {"raw": text}
    )
    metrics.add_metric(
        name="ChangeWorkflowsStarted" if started else "DuplicateChangeEvents", unit=MetricUnit.Count, value=1
    )


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
