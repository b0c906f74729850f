"""SQS batch of change events → one ChangeWorkflow execution each, named by source/entity/id/sequence."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit

from pipeline.adapters.workflows import Workflows
from pipeline.config import settings
from pipeline.errors import PermanentError
from pipeline.handlers.batch import SQSRecord, process_partial_response
from pipeline.handlers.observability import logger, metrics
from pipeline.logic.changes import execution_name, parse_change
from pipeline.logic.envelopes import sns_message

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

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
def handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return process_partial_response(event, record_handler, context)
