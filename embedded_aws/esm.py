"""SQS event source mappings, polled the way Lambda's pollers do (DESIGN.md D4).

Each enabled SQS mapping gets pollers (as many as `ScalingConfig.MaximumConcurrency`) that receive through
the SQS API, so the queue's visibility timeout, receive counts and `RedrivePolicy` (maxReceiveCount → DLQ)
apply as on AWS. A batch is deleted only when the function succeeds; with `ReportBatchItemFailures` only the
items it names stay, and a malformed report fails the whole batch. Failed messages are left to reappear
when their visibility timeout ends, as on AWS. A throttled invocation is retried with backoff while its
batch stays in flight, as Lambda's pollers do (`THROTTLE_BACKOFF_S`).

`FilterCriteria` (Lambda event filtering) is honoured: a message matching none of the filters is deleted
without invoking the function, as Lambda does for SQS. The body is matched as JSON when it is a JSON object,
else as a plain string; a pattern whose `body` is of the other form drops the message. Invalid criteria are
refused by CreateEventSourceMapping/UpdateEventSourceMapping (and so at deploy) with Lambda's
`InvalidParameterValueException`. FIFO queues keep their order per message group: SQS itself (moto) hides a
group's next messages while earlier ones are in flight.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import random
import threading
import time
from dataclasses import dataclass
from typing import Any

from embedded_aws import patterns
from embedded_aws.clients import client
from embedded_aws.errors import EmbeddedAwsError, ThrottledError
from embedded_aws.runtime import InvokeResult, LambdaRuntime

log = logging.getLogger(__name__)

#: Concurrent batches per mapping without MaximumConcurrency (AWS scales further; a laptop should not).
DEFAULT_POLLERS = 2
#: How long one receive call waits (long polling, as Lambda's pollers do): an idle poller costs one request
#: per wait. A stop does not wait for a poller's receive to return: a batch received after its mapping
#: stopped is made visible again at once (`_release`).
_WAIT_S = 10
#: A throttled batch stays in flight and is tried again after a backoff that doubles from THROTTLE_BACKOFF_S
#: to THROTTLE_BACKOFF_MAX_S, with jitter, until its visibility timeout would end: Lambda's pollers retry a
#: throttled batch until then, and only then do its messages return to the queue (a receive used).
THROTTLE_BACKOFF_S = 1.0
THROTTLE_BACKOFF_MAX_S = 8.0
#: How long a stop waits for a poller thread that is handing a batch to its function.
_JOIN_S = 1.0
#: Lambda's default quota of filters per event source mapping, and its limit on one pattern's length.
MAX_FILTERS = 5
MAX_PATTERN_LENGTH = 4096
#: What Lambda answers for any pattern it cannot parse.
INVALID_PATTERN = "Invalid filter pattern definition."


def filter_patterns(criteria: Any) -> tuple[dict[str, Any], ...]:
    """The parsed patterns of a mapping's FilterCriteria; ValueError with Lambda's message if invalid."""
    if criteria is None:
        return ()
    if not isinstance(criteria, dict) or not isinstance(criteria.get("Filters", []), list):
        raise ValueError(INVALID_PATTERN)
    filters = criteria.get("Filters") or []
    if len(filters) > MAX_FILTERS:
        raise ValueError(
            f"Invalid filter criteria: {len(filters)} filters exceed the limit of {MAX_FILTERS} filters "
            "per event source mapping."
        )
    parsed: list[dict[str, Any]] = []
    for item in filters:
        text = item.get("Pattern") if isinstance(item, dict) else None
        if not isinstance(text, str) or len(text) > MAX_PATTERN_LENGTH:
            raise ValueError(INVALID_PATTERN)
        try:
            parsed.append(patterns.parse(text))
        except patterns.PatternError as exc:
            raise ValueError(INVALID_PATTERN) from exc
    return tuple(parsed)


def passes_filters(filters: tuple[dict[str, Any], ...], record: dict[str, Any]) -> bool:
    """Whether an SQS record satisfies one of the filters (with none, every record does).

    As Lambda documents for SQS: a JSON-object body is matched as JSON, any other body as a plain string,
    and a filter whose `body` rule is of the other form (object vs. list of rules) never matches.
    """
    if not filters:
        return True
    body: Any = record.get("body")
    try:
        decoded = json.loads(body) if isinstance(body, str) else None
    except json.JSONDecodeError:
        decoded = None
    body_is_json = isinstance(decoded, dict)
    candidate = {**record, "body": decoded} if body_is_json else record
    for pattern in filters:
        rule = pattern.get("body")
        if rule is not None and isinstance(rule, dict) != body_is_json:
            continue
        if patterns.matches(pattern, candidate):
            return True
    return False


@dataclass(frozen=True)
class Mapping:
    """The parts of an event source mapping the pollers use."""

    uuid: str
    function_arn: str
    queue_arn: str
    batch_size: int
    window_s: float
    report_failures: bool
    max_concurrency: int
    filters_json: str = (
        "[]"  # the parsed FilterCriteria patterns, as JSON text (keeps the dataclass hashable)
    )

    @property
    def filters(self) -> tuple[dict[str, Any], ...]:
        return tuple(json.loads(self.filters_json))

    @classmethod
    def from_api(cls, esm: dict[str, Any]) -> Mapping:
        scaling = esm.get("ScalingConfig") or {}
        return cls(
            uuid=esm["UUID"],
            function_arn=esm["FunctionArn"],
            queue_arn=esm["EventSourceArn"],
            batch_size=int(esm.get("BatchSize") or 10),
            window_s=float(esm.get("MaximumBatchingWindowInSeconds") or 0),
            report_failures="ReportBatchItemFailures" in (esm.get("FunctionResponseTypes") or []),
            max_concurrency=int(scaling.get("MaximumConcurrency") or DEFAULT_POLLERS),
            filters_json=json.dumps(filter_patterns(esm.get("FilterCriteria"))),
        )


def failed_item_ids(result: InvokeResult, message_ids: list[str], report_failures: bool) -> set[str]:
    """Which messages of a batch failed, by Lambda's rules for partial batch responses.

    A function error fails all. Without ReportBatchItemFailures a success deletes all. With it, an empty or
    null report is a success; a report naming an empty, null, misnamed or unknown id, or one that is not
    the expected JSON object, fails the whole batch.
    """
    everything = set(message_ids)
    if result.errored:
        return everything
    if not report_failures:
        return set()
    try:
        response = json.loads(result.payload)
    except json.JSONDecodeError:
        return everything
    if response in (None, {}, ""):
        return set()
    if not isinstance(response, dict):
        return everything
    failures = response.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return everything
    failed: set[str] = set()
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(identifier, str) or identifier not in everything:
            return everything
        failed.add(identifier)
    return failed


def sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One SQS message as it appears in a Lambda event."""
    attributes = {
        name: {
            "stringValue": value.get("StringValue"),
            # Lambda delivers binary attribute values base64-encoded, as text.
            "binaryValue": base64.b64encode(value["BinaryValue"]).decode()
            if "BinaryValue" in value
            else None,
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": value["DataType"],
        }
        for name, value in (message.get("MessageAttributes") or {}).items()
    }
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": attributes,
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


_originals: dict[str, Any] = {}
#: Set when a mapping is created, updated or deleted through moto: the watcher syncs at once instead of
#: listing every mapping twice a second.
_mappings_changed = threading.Event()


def install_validation() -> None:
    """Make moto's Create/UpdateEventSourceMapping refuse invalid FilterCriteria as Lambda does. Idempotent.

    CloudFormation creates mappings through the same call, so a template with an invalid pattern fails to
    deploy with Lambda's message.
    """
    if _originals:
        return
    from moto.awslambda.exceptions import InvalidParameterValueException
    from moto.awslambda.models import LambdaBackend

    def checked(spec: dict[str, Any]) -> None:
        if "FilterCriteria" in spec:
            try:
                filter_patterns(spec["FilterCriteria"])
            except ValueError as exc:
                raise InvalidParameterValueException(str(exc)) from exc

    create = _originals["create"] = LambdaBackend.create_event_source_mapping
    update = _originals["update"] = LambdaBackend.update_event_source_mapping
    delete = _originals["delete"] = LambdaBackend.delete_event_source_mapping

    def create_event_source_mapping(self: LambdaBackend, spec: dict[str, Any]) -> Any:
        checked(spec)
        try:
            return create(self, spec)
        finally:
            _mappings_changed.set()

    def update_event_source_mapping(self: LambdaBackend, uuid: str, spec: dict[str, Any]) -> Any:
        checked(spec)
        try:
            return update(self, uuid, spec)
        finally:
            _mappings_changed.set()

    def delete_event_source_mapping(self: LambdaBackend, uuid: str) -> Any:
        try:
            return delete(self, uuid)
        finally:
            _mappings_changed.set()

    LambdaBackend.create_event_source_mapping = create_event_source_mapping
    LambdaBackend.update_event_source_mapping = update_event_source_mapping
    LambdaBackend.delete_event_source_mapping = delete_event_source_mapping


class _MappingPoller:
    def __init__(self, mapping: Mapping, runtime: LambdaRuntime, endpoint_url: str, region: str) -> None:
        self.mapping = mapping
        self.runtime = runtime
        self.region = region
        self.sqs = client("sqs", endpoint_url=endpoint_url, region=region)
        _, _, _, _, account, name = mapping.queue_arn.split(":")
        self.queue_url = self.sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
        self.filters = mapping.filters
        self.stopping = threading.Event()
        self._handing: set[threading.Thread] = set()  # threads handing a batch to the function right now
        self.threads = [
            threading.Thread(target=self._run, name=f"esm-{mapping.uuid[:8]}-{i}", daemon=True)
            for i in range(mapping.max_concurrency)
        ]
        for thread in self.threads:
            thread.start()

    def _receive_batch(self) -> tuple[list[dict[str, Any]], float]:
        """Up to BatchSize messages, and when the first was received: the batching window starts then, as on
        AWS."""
        batch: list[dict[str, Any]] = []
        window_ends = first_at = 0.0
        while not self.stopping.is_set() and len(batch) < self.mapping.batch_size:
            remaining = window_ends - time.monotonic()
            if batch and remaining <= 0:
                break
            wait = _WAIT_S if not batch else min(_WAIT_S, max(1, math.ceil(remaining)))
            response = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(10, self.mapping.batch_size - len(batch)),
                WaitTimeSeconds=wait,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            messages = self._filtered(response.get("Messages", []))
            if messages and not batch:
                first_at = time.monotonic()
                window_ends = first_at + self.mapping.window_s
            batch.extend(messages)
        return batch, first_at

    def _filtered(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The messages that pass the mapping's filters; the others are deleted, as Lambda does for SQS."""
        if not self.filters:
            return messages
        kept: list[dict[str, Any]] = []
        dropped: list[dict[str, Any]] = []
        for message in messages:
            record = sqs_record(message, self.mapping.queue_arn, self.region)
            (kept if passes_filters(self.filters, record) else dropped).append(message)
        self._delete(dropped)
        return kept

    def _delete(self, messages: list[dict[str, Any]]) -> None:
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
        for start in range(0, len(entries), 10):
            response = self.sqs.delete_message_batch(
                QueueUrl=self.queue_url, Entries=entries[start : start + 10]
            )
            for failure in response.get("Failed", []):
                # The message will be received again: at-least-once delivery, as on AWS.
                log.warning(
                    "Event source mapping %s: could not delete a message: %s", self.mapping.uuid, failure
                )

    def _release(self, batch: list[dict[str, Any]]) -> None:
        """Make an unprocessed batch visible again now, rather than after the visibility timeout (it has
        used one receive, as a batch a stopping Lambda poller drops does)."""
        entries = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
            for i, m in enumerate(batch)
        ]
        for start in range(0, len(entries), 10):
            self.sqs.change_message_visibility_batch(
                QueueUrl=self.queue_url, Entries=entries[start : start + 10]
            )

    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                # Receive only when the function could run the batch at once (as Lambda scales its pollers
                # with the function's concurrency): a batch that waited for a worker slot would age in flight.
                if not self.runtime.has(self.mapping.function_arn):  # being deleted: its stop is coming
                    self.stopping.wait(1.0)
                    continue
                if not self.runtime.wait_for_capacity(self.mapping.function_arn, _WAIT_S):
                    continue
                batch, received_at = self._receive_batch()
                if not batch:
                    continue
                self._handing.add(threading.current_thread())
                try:
                    if not self.stopping.is_set():
                        self._process(batch, received_at)
                    else:  # stopping (mapping updated or deleted): hand the batch back at once
                        self._release(batch)
                finally:
                    self._handing.discard(threading.current_thread())
            except Exception:
                if self.stopping.is_set():
                    return
                log.exception("Event source mapping %s: polling failed; retrying", self.mapping.uuid)
                self.stopping.wait(1.0)

    def _visibility_timeout(self) -> float:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["VisibilityTimeout"]
        )
        return float(attributes["Attributes"]["VisibilityTimeout"])

    def _invoke(self, event: dict[str, Any], received_at: float) -> InvokeResult | None:
        """Invoke the function with the batch; a throttled invocation is tried again with backoff while the
        batch is in flight (see THROTTLE_BACKOFF_S). None: still throttled when its time ran out."""
        backoff, deadline = THROTTLE_BACKOFF_S, None
        while True:
            try:
                return self.runtime.invoke(self.mapping.function_arn, event, source=f"sqs:{self.queue_url}")
            except ThrottledError:  # expected under reserved concurrency: no traceback
                if deadline is None:
                    deadline = received_at + self._visibility_timeout()
                delay = backoff / 2 + random.uniform(0, backoff / 2)
                backoff = min(THROTTLE_BACKOFF_MAX_S, backoff * 2)
                if time.monotonic() + delay >= deadline or self.stopping.is_set():
                    log.info(
                        "Event source mapping %s: its function is still throttled; the batch returns to the "
                        "queue as its visibility timeout ends",
                        self.mapping.uuid,
                    )
                    return None
                log.info("Event source mapping %s: its function is throttled; retrying", self.mapping.uuid)
                if self.stopping.wait(delay):  # disabled, updated or deleted meanwhile: invoke no more
                    return None

    def _process(self, batch: list[dict[str, Any]], received_at: float) -> None:
        event = {"Records": [sqs_record(m, self.mapping.queue_arn, self.region) for m in batch]}
        try:
            result = self._invoke(event, received_at)
            if result is None:
                if self.stopping.is_set():
                    self._release(batch)
                return
        except EmbeddedAwsError:
            if not self.stopping.is_set():
                log.exception("Event source mapping %s: cannot invoke its function", self.mapping.uuid)
            self._release(batch)  # visible again now, not after its visibility timeout
            return
        ids = [m["MessageId"] for m in batch]
        failed = failed_item_ids(result, ids, self.mapping.report_failures)
        self._delete([m for m in batch if m["MessageId"] not in failed])

    def stop(self) -> None:
        self.stopping.set()

    def join(self, deadline: float) -> None:
        """Wait, until `deadline` (a `time.monotonic()` instant), for the threads handing a batch to the
        function; one still in a long poll releases what it receives (see `_run`) and is not waited for."""
        for thread in list(self._handing):
            thread.join(max(0.0, deadline - time.monotonic()))


class EventSourceMappings:
    """Keeps one poller set per enabled SQS mapping, following mappings as they are created or deleted."""

    def __init__(self, runtime: LambdaRuntime, endpoint_url: str, region: str, scan_s: float = 5.0) -> None:
        self.runtime = runtime
        self.endpoint_url = endpoint_url
        self.region = region
        self.scan_s = scan_s
        self.lambda_client = client("lambda", endpoint_url=endpoint_url, region=region)
        self._pollers: dict[str, _MappingPoller] = {}
        self._stopping = threading.Event()
        self._sync_lock = threading.Lock()  # deploy() and the watcher both sync; one poller set per mapping
        self._thread = threading.Thread(target=self._watch, name="esm-watch", daemon=True)

    def start(self) -> None:
        install_validation()
        self.sync()
        self._thread.start()

    def sync(self) -> None:
        """Start pollers for new enabled SQS mappings and stop those of deleted or disabled ones."""
        with self._sync_lock:
            if not self._stopping.is_set():
                self._sync()

    def _sync(self) -> None:
        wanted: dict[str, Mapping] = {}
        paginator = self.lambda_client.get_paginator("list_event_source_mappings")
        for page in paginator.paginate():
            for esm in page["EventSourceMappings"]:
                if (
                    esm.get("State") in ("Enabled", "Creating", "Enabling")
                    and ":sqs:" in esm["EventSourceArn"]
                ):
                    try:
                        mapping = Mapping.from_api(esm)
                    except ValueError as exc:  # refused at create/update; only a direct moto write gets here
                        log.error("Event source mapping %s is not polled: %s", esm["UUID"], exc)
                        continue
                    if self.runtime.has(mapping.function_arn):
                        wanted[mapping.uuid] = mapping
        for uuid, poller in list(self._pollers.items()):
            if wanted.get(uuid) != poller.mapping:  # deleted, disabled or updated: start afresh
                self._pollers.pop(uuid).stop()
        for uuid, mapping in wanted.items():
            if uuid not in self._pollers:
                self._pollers[uuid] = _MappingPoller(mapping, self.runtime, self.endpoint_url, self.region)

    def _watch(self) -> None:
        """Sync when moto reports a change to a mapping, and every `scan_s` anyway (a mapping whose function
        became runnable later, a change made behind moto's API)."""
        while True:
            _mappings_changed.wait(self.scan_s)
            _mappings_changed.clear()
            if self._stopping.is_set():
                return
            try:
                self.sync()
            except Exception:
                if not self._stopping.is_set():
                    log.exception("Event source mappings: scan failed; retrying")

    def stop(self) -> None:
        self._stopping.set()
        _mappings_changed.set()  # wakes the watcher
        if self._thread.is_alive():
            self._thread.join(self.scan_s + 5)
        with self._sync_lock:
            pollers = list(self._pollers.values())
        for poller in pollers:
            poller.stop()
        deadline = time.monotonic() + _JOIN_S  # one wait for all: threads in a long poll are not waited for
        for poller in pollers:
            poller.join(deadline)
        self._pollers.clear()
