"""Audit: every raw event from the UploadEvents and ChangeEvents topics, kept in S3 by date (replayable)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from pipeline.adapters.objects import ObjectStore
from pipeline.config import settings
from pipeline.handlers.batch import SQSRecord, process_partial_response
from pipeline.handlers.observability import logger, metrics
from pipeline.logic.archive import archive_key

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

store = ObjectStore()


def record_handler(record: SQSRecord) -> None:
    envelope: dict[str, Any] = json.loads(record.body)
    config = settings()
    key = archive_key(envelope, config.change_events_topic_arn)
    store.put_json(config.archive_bucket, key, envelope, cache_control="no-store")


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return process_partial_response(event, record_handler, context)
