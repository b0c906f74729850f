"""Audit: every raw event from the UploadEvents and ChangeEvents topics, kept in S3 by date (replayable)."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from pipeline.adapters.objects import ObjectStore
from pipeline.config import settings
from pipeline.handlers.observability import logger, metrics, tracer
from pipeline.logic.archive import archive_key

processor = BatchProcessor(event_type=EventType.SQS)
store = ObjectStore()


def record_handler(record: SQSRecord) -> None:
    envelope: dict[str, Any] = json.loads(record.body)
    config = settings()
    key = archive_key(envelope, config.change_events_topic_arn)
    store.put_json(config.archive_bucket, key, envelope, cache_control="no-store")


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
