"""Asynchronous Lambda invocations (SNS → Lambda, S3 → Lambda, `InvocationType=Event`), queued as Lambda does.

An event is accepted into a queue and never dropped while it can still run:
- a function error is retried `MaximumRetryAttempts` times (default 2; the function's EventInvokeConfig may
  lower it). AWS waits about 1 then 2 minutes; here 1 then 2 seconds;
- a throttle (reserved concurrency 0) or a function not yet runnable is retried with exponential backoff
  (AWS: from 1 s up to 5 min; here from 0.2 s up to 5 s) until the event is older than
  `MaximumEventAgeInSeconds` (default 6 hours, as on AWS);
- an event that runs out of retries or age goes to the function's `DeadLetterConfig` target (SQS or SNS),
  with the `RequestID`, `ErrorCode` and `ErrorMessage` attributes Lambda sets, and is recorded in `errors`.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from embedded_aws.clients import client
from embedded_aws.errors import EmbeddedAwsError, ThrottledError
from embedded_aws.runtime import LambdaRuntime

log = logging.getLogger(__name__)

#: Delays before the retries of a failed asynchronous invocation (AWS waits minutes; here seconds).
RETRY_DELAYS_S = (1.0, 2.0)
#: Backoff for throttled or not-yet-runnable invocations: first delay, cap.
BACKOFF_S = (0.2, 5.0)
DEFAULT_MAX_RETRIES = 2
DEFAULT_MAX_AGE_S = 21600.0


@dataclass
class _Event:
    function_arn: str
    payload: Any
    source: str
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    received: float = field(default_factory=time.monotonic)
    errors: int = 0
    waits: int = 0
    finished: bool = False
    #: Told how the event ended: (None, None) when it ran without error, else (error code, message).
    done: Callable[[str | None, str | None], None] | None = None


@dataclass(frozen=True)
class AsyncSettings:
    """What Lambda's asynchronous queue needs to know about one function."""

    exists: bool
    max_retries: int = DEFAULT_MAX_RETRIES
    max_age_s: float = DEFAULT_MAX_AGE_S
    dead_letter_arn: str | None = None


class AsyncInvocations:
    """The asynchronous invocation queue: a scheduler thread hands due events to a pool of invokers."""

    def __init__(
        self,
        runtime: LambdaRuntime,
        settings: Callable[[str], AsyncSettings],
        endpoint_url: str,
        region: str,
        workers: int = 8,
    ) -> None:
        self.runtime = runtime
        self.settings = settings
        self.endpoint_url = endpoint_url
        self.region = region
        #: (function ARN, reason) of every event given up on.
        self.errors: list[tuple[str, str]] = []
        self._heap: list[tuple[float, int, _Event]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._pending = 0
        self._stopping = False
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lambda-async")
        self._thread = threading.Thread(target=self._schedule, name="lambda-async-queue", daemon=True)
        self._thread.start()

    def submit(
        self,
        function_arn: str,
        payload: Any,
        source: str,
        done: Callable[[str | None, str | None], None] | None = None,
    ) -> None:
        """Accept one event (as Lambda answers 202 to an Event invocation); `done` is told how it ended."""
        with self._wake:
            self._pending += 1
        self._at(0.0, _Event(function_arn, payload, source, done=done))

    def idle(self) -> bool:
        """Whether every accepted event has finished (succeeded or been given up on)."""
        with self._wake:
            return self._pending == 0

    def _at(self, delay_s: float, event: _Event) -> None:
        with self._wake:
            heapq.heappush(self._heap, (time.monotonic() + delay_s, next(self._order), event))
            self._wake.notify()

    def _schedule(self) -> None:
        while True:
            with self._wake:
                while not self._stopping and (not self._heap or self._heap[0][0] > time.monotonic()):
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._wake.wait(timeout)
                if self._stopping:
                    return
                _, _, event = heapq.heappop(self._heap)
            self._pool.submit(self._run, event)

    def _run(self, event: _Event) -> None:
        try:
            self._attempt(event)
        except Exception:
            log.exception("Asynchronous invocation of %s failed inside the embedded AWS", event.function_arn)
            self._finish(event, "Lambda.ServiceException", "the embedded AWS failed to run it (see its log)")

    def _attempt(self, event: _Event) -> None:
        settings = self.settings(event.function_arn)
        if not settings.exists:
            self._finish(event, "ResourceNotFoundException", f"Function not found: {event.function_arn}")
            return
        try:
            result = self.runtime.invoke(event.function_arn, event.payload, source=event.source)
        except (ThrottledError, EmbeddedAwsError) as exc:
            if self._stopping:
                self._finish(event, None, None)
            elif time.monotonic() - event.received >= settings.max_age_s:
                self._finish(event, "EventAgeExceeded", str(exc), settings)
            else:  # throttled, or not runnable yet: wait and try again, never drop
                first, cap = BACKOFF_S
                event.waits += 1
                self._at(min(cap, first * 2 ** min(event.waits - 1, 16)), event)
            return
        if not result.errored or self._stopping:  # a worker stopped with the embedded AWS is no failure
            self._finish(event, None, None)
            return
        event.errors += 1
        if event.errors <= settings.max_retries:
            log.warning("Asynchronous invocation of %s failed (attempt %d)", event.function_arn, event.errors)
            self._at(RETRY_DELAYS_S[min(event.errors, len(RETRY_DELAYS_S)) - 1], event)
            return
        error = result.error or {}
        message = str(error.get("errorMessage", result.payload))
        self._finish(event, str(error.get("errorType", "Unhandled")), message, settings, result.payload)

    def _finish(
        self,
        event: _Event,
        error_code: str | None,
        message: str | None,
        settings: AsyncSettings | None = None,
        payload: str | None = None,
    ) -> None:
        with self._wake:
            if event.finished:
                return
            event.finished = True
        try:
            if error_code is not None:
                self.errors.append((event.function_arn, payload or f"{error_code}: {message}"))
                log.error(
                    "Asynchronous invocation of %s given up: %s %s", event.function_arn, error_code, message
                )
                if settings is not None and settings.dead_letter_arn:
                    self._dead_letter(settings.dead_letter_arn, event, message or "")
        except (
            Exception
        ):  # the event is already in `errors`; the log says why its dead-letter target lacks it
            log.exception(
                "Asynchronous invocation of %s: could not send it to its dead-letter target",
                event.function_arn,
            )
            self.errors.append((event.function_arn, "the dead-letter target refused the event (see the log)"))
        finally:
            with self._wake:
                self._pending -= 1
            if event.done is not None:
                try:
                    event.done(error_code, message)
                except Exception:
                    log.exception("Asynchronous invocation of %s: its watcher failed", event.function_arn)

    def _dead_letter(self, target_arn: str, event: _Event, message: str) -> None:
        """Send the event to the function's dead-letter queue or topic, as Lambda does."""
        body = json.dumps(event.payload)
        attributes = {
            "RequestID": {"DataType": "String", "StringValue": event.request_id},
            "ErrorCode": {"DataType": "Number", "StringValue": "200"},
            "ErrorMessage": {"DataType": "String", "StringValue": message[:1024] or "Unhandled"},
        }
        service = target_arn.split(":")[2]
        if service == "sqs":
            sqs = client("sqs", endpoint_url=self.endpoint_url, region=self.region)
            account, name = target_arn.split(":")[4:6]
            url = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody=body, MessageAttributes=attributes)
        elif service == "sns":
            sns = client("sns", endpoint_url=self.endpoint_url, region=self.region)
            sns.publish(TopicArn=target_arn, Message=body, MessageAttributes=attributes)
        else:
            raise EmbeddedAwsError(
                f"DeadLetterConfig target {target_arn} is neither an SQS queue nor an SNS topic."
            )

    def stop(self) -> None:
        """Stop scheduling; queued events are abandoned (the embedded AWS is going away)."""
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        self._thread.join(5)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def join(self) -> None:
        """Wait for running invocations to end (after `stop` and the runtime's shutdown)."""
        self._pool.shutdown(wait=True)
