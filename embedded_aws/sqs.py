"""SQS as AWS runs it, where moto differs: atomic receives, message origins, and DLQ redrive (move tasks).

- ReceiveMessage keeps FIFO order. moto's receive is not thread-safe (two pollers of one mapping could both
  take messages of one message group), and it forgets an expired in-flight message only when its loop
  reaches it (so a group's later messages could go out before its earlier ones). Each receive pass runs
  under a lock after forgetting every expired in-flight message; the long-poll wait happens outside it.
  Deletes, visibility changes and purges take the same lock (a receive iterating the in-flight set while
  another request changed it failed with "Set changed size during iteration").
- FIFO deduplication as SQS does it: a repeated deduplication id within 5 minutes is accepted and answered
  with the first message's MessageId, even when that message was already deleted (moto compares only with
  messages still queued, and answers a new id); `DeduplicationScope: messageGroup` is honoured; every FIFO
  message gets an increasing SequenceNumber (moto gives one only with an explicit deduplication id).
- Each message remembers the queue it was sent to; when SQS moves it to a dead-letter queue, that queue is
  its `DeadLetterQueueSourceArn` (a system attribute ReceiveMessage returns, as on AWS), and where a redrive
  with no DestinationArn sends it back.
- StartMessageMoveTask, ListMessageMoveTasks and CancelMessageMoveTask (moto has none): DLQ redrive as AWS
  documents it, with AWS's error codes and messages.
- DeleteMessage with the receipt handle of an earlier receive of a message that was received again since:
  the request succeeds and the message stays, as AWS documents ("you must provide the most recently received
  ReceiptHandle"); moto deleted it. A consumer that outlives its visibility timeout loses its delete.
- SetQueueAttributes changes only the attributes it names: moto reset the queue's `Policy` on every call
  without one (so setting `VisibilityTimeout` stopped SNS delivering to the queue under IAM).
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from moto.core.responses import ActionResult
from moto.sqs.exceptions import SQSException
from moto.sqs.models import Message, Queue, SQSBackend, sqs_backends
from moto.sqs.responses import SQSResponse

from embedded_aws import faults
from embedded_aws.patches import serialised

log = logging.getLogger(__name__)

#: Most move tasks ListMessageMoveTasks reports per source queue, and AWS's rate limit for one task.
MAX_LISTED_TASKS = 10
MAX_MESSAGES_PER_SECOND = 500

#: How long SQS remembers a FIFO deduplication id.
DEDUPLICATION_WINDOW_S = 300

_receive_lock = threading.RLock()
_dedup_lock = threading.Lock()
_sequence_numbers = itertools.count(10**19)  # 20 digits, increasing, as SQS's
_originals: dict[str, Any] = {}
_ORIGIN = "_embedded_queue_arn"
_DLQ_SOURCE = "_embedded_dlq_source_arn"


class _NotFound(SQSException):  # type: ignore[misc]
    """AWS answers these with HTTP 404."""

    def __init__(self, message: str) -> None:
        super().__init__("ResourceNotFoundException", message)


def _invalid(message: str) -> SQSException:
    return SQSException("InvalidParameterValue", message)


# --- atomic receives and message origins ------------------------------------------------------------------
def _receive_message(
    self: SQSBackend,
    queue_name: str,
    count: int,
    wait_seconds_timeout: int,
    visibility_timeout: int,
    message_attribute_names: list[str] | None = None,
) -> list[Message]:
    queue = self.get_queue(queue_name)
    deadline = time.monotonic() + wait_seconds_timeout
    while True:
        with _receive_lock:
            # moto forgets an in-flight message whose visibility timeout ended only when its loop reaches
            # it, so a FIFO group's later messages could go out before its earlier ones: forget them first.
            for message in [m for m in queue.pending_messages if m.visible]:
                queue.pending_messages.discard(message)
            result: list[Message] = _originals["receive"](
                self, queue_name, count, 0, visibility_timeout, message_attribute_names
            )
            injecting = faults.current()
            if injecting is not None and result:  # at-least-once delivery: some come again later
                injecting.duplicate_sqs(queue, result)
        remaining = deadline - time.monotonic()
        if result or remaining <= 0:
            return result
        if queue.messages:  # visible, but their FIFO groups are in flight: look again shortly
            time.sleep(min(remaining, 0.1))
        else:
            queue.wait_for_messages(min(remaining, 1.0))


def _add_message(self: Queue, message: Message) -> None:
    home = getattr(message, _ORIGIN, None)
    if home is not None and home != self.queue_arn:
        setattr(message, _DLQ_SOURCE, home)  # moved here by a RedrivePolicy
    elif self.fifo_queue and _is_duplicate(self, message):
        return
    setattr(message, _ORIGIN, self.queue_arn)
    _originals["add_message"](self, message)


def _is_duplicate(queue: Queue, message: Message) -> bool:
    """Whether a new FIFO message repeats a deduplication id of the last 5 minutes.

    A duplicate takes the first message's id and sequence number: SendMessage answers with them.
    """
    if message.deduplication_id is None:
        return False
    scope = message.group_id if queue.attributes.get("DeduplicationScope") == "messageGroup" else None
    key = (scope, message.deduplication_id)
    now = time.monotonic()
    with _dedup_lock:
        seen: dict[tuple[str | None, str], tuple[float, Message]] = queue.__dict__.setdefault(
            "_embedded_dedup", {}
        )
        for old in [k for k, (at, _) in seen.items() if now - at >= DEDUPLICATION_WINDOW_S]:
            del seen[old]
        if key in seen:
            first = seen[key][1]
            message.id, message.sequence_number = first.id, first.sequence_number
            return True
        message.sequence_number = str(next(_sequence_numbers))
        seen[key] = (now, message)
        return False


def _receive_response(self: SQSResponse) -> Any:
    response = _originals["receive_response"](self)
    names = set(self._get_param("AttributeNames", []) + self._get_param("MessageSystemAttributeNames", []))
    if not isinstance(response, ActionResult) or not names & {"All", "DeadLetterQueueSourceArn"}:
        return response
    result = response.result
    messages = result.get("Messages", []) if isinstance(result, dict) else []
    if messages:
        queue = self.sqs_backend.get_queue(self._get_queue_name())
        by_id = {m.id: m for m in queue._messages}
        for entry in messages:
            source = getattr(by_id.get(entry["MessageId"]), _DLQ_SOURCE, None)
            if source is not None:
                entry.setdefault("Attributes", {})["DeadLetterQueueSourceArn"] = source
    return response


# --- move tasks -------------------------------------------------------------------------------------------
@dataclass
class MoveTask:
    """One DLQ redrive: messages from a dead-letter queue to a destination or to their original queues."""

    task_id: str
    source_arn: str
    destination_arn: str | None
    max_per_second: int | None
    to_move: int
    started_ms: int
    moved: int = 0
    status: str = "RUNNING"
    failure_reason: str | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)

    @property
    def handle(self) -> str:
        text = json.dumps({"taskId": self.task_id, "sourceArn": self.source_arn})
        return base64.b64encode(text.encode()).decode()

    def describe(self) -> dict[str, Any]:
        """The task as ListMessageMoveTasks reports it."""
        entry: dict[str, Any] = {
            "Status": self.status,
            "SourceArn": self.source_arn,
            "ApproximateNumberOfMessagesMoved": self.moved,
            "ApproximateNumberOfMessagesToMove": self.to_move,
            "StartedTimestamp": self.started_ms,
        }
        if self.status == "RUNNING":
            entry["TaskHandle"] = self.handle
        if self.destination_arn is not None:
            entry["DestinationArn"] = self.destination_arn
        if self.max_per_second is not None:
            entry["MaxNumberOfMessagesPerSecond"] = self.max_per_second
        if self.failure_reason is not None:
            entry["FailureReason"] = self.failure_reason
        return entry


_tasks: dict[str, list[MoveTask]] = {}  # source queue ARN → its tasks, most recent first
_tasks_lock = threading.Lock()


def _queue_for_arn(arn: str | None) -> tuple[SQSBackend, Queue] | None:
    parts = (arn or "").split(":")
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sqs":
        return None
    _, _, _, region, account, name = parts
    if account not in sqs_backends or region not in sqs_backends[account]:
        return None  # no queue was ever made there
    backend = sqs_backends[account][region]
    queue = backend.queues.get(name)
    return (backend, queue) if queue is not None else None


def start_move_task(source_arn: str | None, destination_arn: str | None, max_per_second: int | None) -> str:
    """Start moving the messages of a dead-letter queue; returns the task handle."""
    found = _queue_for_arn(source_arn)
    if found is None or source_arn is None:
        raise _NotFound("The resource that you specified for the SourceArn parameter doesn't exist.")
    backend, source = found
    if not any(queue.dead_letter_queue is source for queue in backend.queues.values()):
        raise _invalid("Source queue must be configured as a Dead Letter Queue.")
    if destination_arn is not None:
        destination = _queue_for_arn(destination_arn)
        if destination is None:
            raise _NotFound("The resource that you specified for the DestinationArn parameter doesn't exist.")
        if destination[1].fifo_queue != source.fifo_queue:
            raise _invalid("The source queue and destination queue must be of the same queue type.")
    if max_per_second is not None and not 1 <= max_per_second <= MAX_MESSAGES_PER_SECOND:
        raise _invalid(
            f"Value {max_per_second} for parameter MaxNumberOfMessagesPerSecond is invalid. "
            f"Reason: Must be between 1 and {MAX_MESSAGES_PER_SECOND}."
        )
    with _tasks_lock:
        tasks = _tasks.setdefault(source_arn, [])
        if any(task.status == "RUNNING" for task in tasks):
            raise _invalid(
                "There is already a task running. Only one active task is allowed for a source queue arn "
                "at a given time."
            )
        task = MoveTask(
            task_id=str(uuid.uuid4()),
            source_arn=source_arn,
            destination_arn=destination_arn,
            max_per_second=max_per_second,
            to_move=len(source._messages),
            started_ms=int(time.time() * 1000),
        )
        tasks.insert(0, task)
        del tasks[MAX_LISTED_TASKS:]
    threading.Thread(
        target=_run, args=(task, backend, source), name=f"sqs-move-{task.task_id[:8]}", daemon=True
    ).start()
    return task.handle


def list_move_tasks(source_arn: str | None, max_results: int | None) -> list[dict[str, Any]]:
    """The most recent move tasks of a source queue, newest first."""
    if _queue_for_arn(source_arn) is None or source_arn is None:
        raise _NotFound("The resource that you specified for the SourceArn parameter doesn't exist.")
    limit = 1 if max_results is None else max_results
    if not 1 <= limit <= MAX_LISTED_TASKS:
        raise _invalid(
            f"Value {limit} for parameter MaxResults is invalid. Reason: Must be between 1 and "
            f"{MAX_LISTED_TASKS}."
        )
    with _tasks_lock:
        return [task.describe() for task in _tasks.get(source_arn, [])[:limit]]


def cancel_move_task(handle: str | None) -> int:
    """Cancel a running move task; returns how many messages it had moved."""
    try:
        decoded = json.loads(base64.b64decode(handle or "", validate=True))
        task_id, source_arn = decoded["taskId"], decoded["sourceArn"]
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise _invalid("Value for parameter TaskHandle is invalid.") from exc
    if _queue_for_arn(source_arn) is None:
        raise _NotFound("The resource that you specified for the SourceArn parameter doesn't exist.")
    with _tasks_lock:
        task = next((t for t in _tasks.get(source_arn, []) if t.task_id == task_id), None)
        if task is None:
            raise _NotFound("Task does not exist.")
        if task.status != "RUNNING":
            raise _invalid(f"Task is in status {task.status}; only a RUNNING task can be cancelled.")
        task.cancelled.set()
        task.status = "CANCELLED"
        return task.moved


def _destination(backend: SQSBackend, source: Queue, message: Message, task: MoveTask) -> Queue | str:
    """The queue a message goes to, or the failure reason when there is none."""
    arn: str | None = task.destination_arn
    if arn is None:
        # AWS sends each message back to the queue it came from. A message sent straight to the DLQ has no
        # origin: it goes to the one queue whose RedrivePolicy names this DLQ, if there is exactly one.
        arn = getattr(message, _DLQ_SOURCE, None)
        if arn is None:
            sources = [q for q in backend.queues.values() if q.dead_letter_queue is source]
            if len(sources) != 1:
                return "AWS.SimpleQueueService.NonExistentQueue"
            arn = sources[0].queue_arn
    found = _queue_for_arn(arn)
    return found[1] if found is not None else "AWS.SimpleQueueService.NonExistentQueue"


def _run(task: MoveTask, backend: SQSBackend, source: Queue) -> None:
    interval = 1.0 / task.max_per_second if task.max_per_second else 0.0
    try:
        while task.moved < task.to_move and not task.cancelled.is_set():
            with _receive_lock:
                visible = source.messages
                if not visible or task.cancelled.is_set():
                    break
                message = visible[0]
                destination = _destination(backend, source, message, task)
                if isinstance(destination, str):
                    task.failure_reason, task.status = destination, "FAILED"
                    return
                backend.send_message(
                    destination.name,
                    message.body,
                    message_attributes=dict(message.message_attributes),
                    # A fresh id: the original one would make a FIFO queue drop the message as a duplicate.
                    deduplication_id=f"{task.task_id}-{message.id}" if destination.fifo_queue else None,
                    group_id=message.group_id,
                    system_attributes=message.system_attributes,
                )
                source._messages.remove(message)
                source.pending_messages.discard(message)
                task.moved += 1
            if interval:
                task.cancelled.wait(interval)
    except Exception as exc:
        log.exception("Message move task %s failed", task.task_id)
        task.failure_reason, task.status = type(exc).__name__, "FAILED"
        return
    with _tasks_lock:
        if task.status == "RUNNING":
            task.status = "COMPLETED"


# --- the API actions on moto's SQSResponse ----------------------------------------------------------------
def _answer(self: SQSResponse, action: Any) -> Any:
    try:
        return ActionResult(action())
    except SQSException as exc:
        status, headers, body = self.serialized(ActionResult(exc))
        headers["status"] = str(404 if isinstance(exc, _NotFound) else status)
        return body, headers


def _start_message_move_task(self: SQSResponse) -> Any:
    rate = self._get_param("MaxNumberOfMessagesPerSecond")
    return _answer(
        self,
        lambda: {
            "TaskHandle": start_move_task(
                self._get_param("SourceArn"),
                self._get_param("DestinationArn"),
                int(rate) if rate is not None else None,
            )
        },
    )


def _list_message_move_tasks(self: SQSResponse) -> Any:
    limit = self._get_param("MaxResults")
    return _answer(
        self,
        lambda: {
            "Results": list_move_tasks(
                self._get_param("SourceArn"), int(limit) if limit is not None else None
            )
        },
    )


def _cancel_message_move_task(self: SQSResponse) -> Any:
    return _answer(
        self,
        lambda: {"ApproximateNumberOfMessagesMoved": cancel_move_task(self._get_param("TaskHandle"))},
    )


# --- the clock --------------------------------------------------------------------------------------------
def _unix_time(dt: Any = None) -> float:
    """moto's `unix_time`, read from `time.time()` when it asks for now: moto builds two datetimes for that,
    and asks for every message of a queue at every send and receive (visible? delayed? retained?)."""
    return time.time() if dt is None else float(_originals["unix_time"](dt))


def _unix_time_millis(dt: Any = None) -> float:
    return _unix_time(dt) * 1000.0


def _delete_message(self: Queue, receipt_handle: str) -> None:
    for message in self._messages:
        if message.receipt_handle != receipt_handle and receipt_handle in message._old_receipt_handles:
            log.info("SQS %s: a delete with an earlier receipt handle leaves the message", self.name)
            return
    _originals["delete_message_current"](self, receipt_handle)


def _set_attributes(self: Queue, attributes: dict[str, Any], now: float | None = None) -> None:
    kept = getattr(self, "_policy_json", None) if "Policy" not in attributes else None
    _originals["set_attributes"](self, attributes, now)
    if kept is not None:
        self._policy_json = kept


def install() -> None:
    """Patch moto's SQS: atomic receives, message origins, DLQ redrive actions. Idempotent."""
    with _tasks_lock:
        _tasks.clear()  # moto's backends were reset with the server
    if _originals:
        return
    from moto.sqs import models as sqs_models

    _originals["unix_time"] = sqs_models.unix_time
    sqs_models.unix_time = _unix_time
    sqs_models.unix_time_millis = _unix_time_millis
    _originals["receive"] = SQSBackend.receive_message
    _originals["add_message"] = Queue.add_message
    _originals["receive_response"] = SQSResponse.receive_message
    SQSBackend.receive_message = _receive_message
    Queue.add_message = _add_message
    _originals["set_attributes"] = Queue._set_attributes
    Queue._set_attributes = _set_attributes
    _originals["delete_message_current"] = Queue.delete_message
    Queue.delete_message = _delete_message
    # A receive reads the queue's in-flight set while a delete, a visibility change or a purge changes it:
    # moto's threaded server raised "Set changed size during iteration" (an InternalFailure) when they met.
    for owner, name in ((Queue, "delete_message"), (SQSBackend, "change_message_visibility")):
        _originals[name] = getattr(owner, name)
        setattr(owner, name, serialised(getattr(owner, name), _receive_lock))
    _originals["purge_queue"] = SQSBackend.purge_queue
    SQSBackend.purge_queue = serialised(SQSBackend.purge_queue, _receive_lock)
    SQSResponse.receive_message = _receive_response
    SQSResponse.start_message_move_task = _start_message_move_task
    SQSResponse.list_message_move_tasks = _list_message_move_tasks
    SQSResponse.cancel_message_move_task = _cancel_message_move_task
