"""SQS batches with partial failure reports (`ReportBatchItemFailures`), one record at a time.

The contract of Powertools' `process_partial_response` with `BatchProcessor(EventType.SQS)`, without its
import: that utility loads asyncio and every event data class (Kafka, Kinesis, DynamoDB streams, ...), a third
of the `import boto3` + one client floor on each cold start, for a loop of a few lines.
- Each record goes to the record handler; one that raises is reported in `batchItemFailures` by its
  `messageId`, so SQS redelivers only it; the others are deleted.
- When every record of the batch failed, the invocation fails (`BatchProcessingError`): the whole batch is
  redelivered and the function's error metric counts it, as with Powertools.
- Redelivery (`pipeline.logic.redelivery`): before any record is handled, each message is hidden for the
  invocation's remaining time plus its redelivery delay (backoff with jitter by receive count), so that it is
  never delivered again while this invocation may still work on it, and a batch that a crash of the process
  leaves unfinished comes back that much later rather than after the queue's whole visibility timeout. A
  record that fails is hidden again for its delay alone, from when it failed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from pipeline.adapters.queues import Queue
from pipeline.config import settings
from pipeline.handlers.observability import logger
from pipeline.logic.redelivery import queue_url, redelivery_delay


class BatchProcessingError(Exception):
    """Every record of the batch failed; the message names each record's error."""


class SQSRecord:
    """One SQS record of a Lambda event (the fields the handlers read, named as Powertools names them)."""

    __slots__ = ("raw",)

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw = raw

    @property
    def message_id(self) -> str:
        return str(self.raw["messageId"])

    @property
    def body(self) -> str:
        return str(self.raw["body"])

    @property
    def attributes(self) -> Mapping[str, Any]:
        attributes: Mapping[str, Any] = self.raw.get("attributes") or {}
        return attributes


_queues: dict[str, Queue] = {}
_jitter = random.Random()


class LambdaContextLike(Protocol):
    """What the batch reads of the Lambda context: how long the invocation may still run."""

    def get_remaining_time_in_millis(self) -> int: ...


def hold_for_redelivery(records: list[SQSRecord], after_s: int = 0, rng: random.Random = _jitter) -> None:
    """Hide each received message for `after_s` plus its redelivery delay, one SQS call per 10 messages.

    Records without a queue ARN or receipt handle (not from SQS) are left alone. When SQS refuses, the
    messages keep the visibility they have: slower to come back if they fail, never lost."""
    receipts: dict[str, list[tuple[str, int]]] = {}
    base_s = settings().redelivery_base_s
    for record in records:
        arn, handle = record.raw.get("eventSourceARN"), record.raw.get("receiptHandle")
        if arn and handle:
            count = int(record.attributes.get("ApproximateReceiveCount") or 1)
            receipts.setdefault(str(arn), []).append(
                (str(handle), after_s + redelivery_delay(count, rng, base_s))
            )
    for arn, entries in receipts.items():
        queue = _queues.get(arn)
        if queue is None:
            queue = _queues[arn] = Queue(queue_url(arn))
        failures = queue.hide(entries)
        if failures:
            logger.warning(
                "redelivery delay not set: the message keeps the visibility it has",
                extra={"queue": arn, "failures": failures[:3]},
            )


def process_partial_response(
    event: Mapping[str, Any],
    record_handler: Callable[[SQSRecord], object],
    context: LambdaContextLike | None = None,
    hold: Callable[[list[SQSRecord], int], None] | None = hold_for_redelivery,
) -> dict[str, list[dict[str, str]]]:
    """Run `record_handler` on each record; the response names the records that failed.

    With `hold` (None: leave the messages' visibility as received): first the whole batch is held for the
    invocation's remaining time (from `context`) plus each message's redelivery delay, and at the end the
    records that failed for their delay alone."""
    if not isinstance(event.get("Records"), list):
        raise ValueError("Not an SQS batch: the event has no Records list.")
    records = [SQSRecord(raw) for raw in event["Records"]]
    if hold is not None and context is not None:
        hold(records, math.ceil(context.get_remaining_time_in_millis() / 1000))
    failures: list[tuple[SQSRecord, Exception]] = []
    for record in records:
        try:
            record_handler(record)
        except Exception as exc:  # noqa: BLE001 - any failure of one record is reported, never fatal
            logger.warning(
                "record failed; SQS will deliver it again",
                extra={"message_id": record.message_id, "error": f"{type(exc).__name__}: {exc}"[:1000]},
            )
            failures.append((record, exc))
    if hold is not None and failures:
        hold([record for record, _ in failures], 0)
    if records and len(failures) == len(records):
        details = "; ".join(f"{r.message_id}: {type(e).__name__}: {e}" for r, e in failures)
        raise BatchProcessingError(f"All records failed processing. {len(failures)} errors: {details}"[:4000])
    return {"batchItemFailures": [{"itemIdentifier": record.message_id} for record, _ in failures]}
