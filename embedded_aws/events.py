"""EventBridge in the embedded AWS: PutEvents, rules, targets, S3 events and schedules, delivered as AWS does.

moto keeps the buses, rules and targets (so every EventBridge API reads them back), but its `PutEvents`
delivers synchronously inside the request and raises `NotImplementedError` (an HTML 500) for a Lambda or Step
Functions target; its S3 → EventBridge path swallows that error, so nothing runs. Here:

- `PutEvents` validates entries as AWS does (10 entries, 256 KB, `Source`/`DetailType`/`Detail`, `aws.`
  sources, unknown buses) and answers at once; matching rules (event patterns by `embedded_aws.patterns`) hand
  the event to targets asynchronously: Lambda (an asynchronous invocation of the local runtime), SQS (standard
  and FIFO with `SqsParameters.MessageGroupId`), SNS, Step Functions (`StartExecution`), another bus, and
  CloudWatch Logs; with `Input`, `InputPath` or `InputTransformer`.
- A target that cannot be reached is retried (`RetryPolicy`: attempts and event age; the backoff is shortened
  to seconds) and then sent to its `DeadLetterConfig` queue with AWS's message attributes; without one it is
  logged and recorded in `EventBridge.undelivered`, never dropped silently. A missing target or a missing
  permission is not retried, as on AWS.
- Resource policies are enforced as on AWS: a Lambda target needs a permission for `events.amazonaws.com`, an
  SQS or SNS target a queue or topic policy that lets the rule send; a Step Functions target needs `RoleArn`.
- S3 buckets with `EventBridgeConfiguration` send `Object Created` / `Object Deleted` (and tag, ACL, restore)
  events to the default bus in AWS's shape.
- `ScheduleExpression` rules and `AWS::Scheduler::Schedule` fire from a scheduler thread (see
  `embedded_aws.scheduler` for the clock and how tests accelerate it).
- What cannot be honoured (API destinations, Kinesis/ECS/Batch/... targets, cross-account buses, archives,
  replays, Pipes) is refused: at deploy by `check_template`, and by `PutTargets`, naming it.
"""

from __future__ import annotations

import copy
import functools
import heapq
import itertools
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError
from moto.core.common_models import CloudFormationModel
from moto.events.exceptions import (
    InvalidEventPatternException,
    ResourceNotFoundException,
    ValidationException,
)
from moto.events.models import EventBus, EventsBackend, Rule, events_backends
from moto.events.responses import EventsHandler
from moto.s3 import notifications as s3_notifications
from moto.scheduler.models import scheduler_backends

from embedded_aws import patterns, scheduler
from embedded_aws.clients import client
from embedded_aws.errors import UnsupportedResourceError
from embedded_aws.formats import iso_millis
from embedded_aws.patches import next_sequencer
from embedded_aws.policy import compile_policy, decide, service_principal

log = logging.getLogger(__name__)

MAX_ENTRIES = 10
MAX_REQUEST_BYTES = 256 * 1024
#: Classic event bus defaults (AWS: 24 hours, 185 attempts).
DEFAULT_MAX_ATTEMPTS = 185
DEFAULT_MAX_AGE_S = 86400
#: AWS backs off exponentially over minutes; locally the first retry comes after this, doubling, capped.
RETRY_BASE_S = 0.5
RETRY_CAP_S = 8.0
ENABLED_STATES = ("ENABLED", "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS")
#: Target services the embedded AWS delivers to.
SUPPORTED_TARGETS = ("lambda", "sqs", "sns", "states", "events (event bus)", "logs (log group)")
#: Target parameters for target kinds the embedded AWS cannot run.
UNSUPPORTED_TARGET_PARAMETERS = {
    "HttpParameters": "API destination / API Gateway HTTP parameters",
    "EcsParameters": "ECS tasks",
    "KinesisParameters": "Kinesis streams",
    "RunCommandParameters": "SSM Run Command",
    "BatchParameters": "AWS Batch jobs",
    "RedshiftDataParameters": "Redshift Data API",
    "SageMakerPipelineParameters": "SageMaker pipelines",
    "AppSyncParameters": "AppSync",
}
#: EventBridge resource types moto's CloudFormation would accept but the embedded AWS cannot honour.
REFUSED_TYPES = {
    "AWS::Events::Archive": "event archives and replays are not supported by the embedded AWS",
    "AWS::Events::ApiDestination": "API destinations (HTTP targets) are not supported by the embedded AWS",
    "AWS::Events::Connection": "connections for API destinations are not supported by the embedded AWS",
    "AWS::Events::Endpoint": "global endpoints (multi-region failover) are not supported by the embedded AWS",
    "AWS::Events::EventBusPolicy": "cross-account event bus permissions: the embedded AWS has one account",
    "AWS::Pipes::Pipe": "EventBridge Pipes are not supported by the embedded AWS",
}


class Router(Protocol):
    """What EventBridge needs from the running embedded AWS."""

    endpoint_url: str
    region: str

    def invoke_async(self, function_arn: str, event: Any, source: str) -> None: ...


# --- entries and envelopes ------------------------------------------------------------------------------
def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def entry_size(entry: dict[str, Any]) -> int:
    """A PutEvents entry's size as AWS counts it (Time 14 bytes, then UTF-8 bytes of the text fields)."""
    size = 14 if entry.get("Time") is not None else 0
    for name in ("Source", "DetailType", "Detail"):
        size += len(str(entry.get(name) or "").encode())
    size += sum(len(str(resource).encode()) for resource in entry.get("Resources") or [])
    return size


def _entry_time(value: Any) -> datetime:
    if value is None or value == "":
        return datetime.now(UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), UTC)
    text = str(value)
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except ValueError:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))


def envelope(
    source: str,
    detail_type: str,
    detail: dict[str, Any],
    *,
    account: str,
    region: str,
    resources: list[str] | None = None,
    moment: datetime | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """An event as EventBridge hands it to targets."""
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": account,
        "time": _iso(moment or datetime.now(UTC)),
        "region": region,
        "resources": list(resources or []),
        "detail": detail,
    }


def _entry_error(code: str, message: str) -> dict[str, Any]:
    return {"ErrorCode": code, "ErrorMessage": message}


def _check_entry(entry: dict[str, Any]) -> dict[str, Any] | None:
    """The AWS error of a PutEvents entry, or None when it is valid."""
    for name in ("Source", "DetailType", "Detail"):
        if not entry.get(name):
            return _entry_error(
                "InvalidArgument", f"Parameter {name} is not valid. Reason: {name} is a required argument."
            )
    if str(entry["Source"]).startswith("aws."):
        return _entry_error("NotAuthorizedForSourceException", "Not authorized for the source.")
    try:
        detail = json.loads(entry["Detail"])
    except ValueError:
        return _entry_error("MalformedDetail", "Detail is malformed.")
    if not isinstance(detail, dict):
        return _entry_error("MalformedDetail", "Detail is malformed.")
    return None


# --- JSON paths and input transformation -----------------------------------------------------------------
_PATH_TOKEN = re.compile(r"\.([^.\[\]]+)|\[(\d+|\*)\]")
_NOT_FOUND: Any = object()


def json_path(document: Any, path: str) -> Any:
    """Evaluate an EventBridge JSON path (`$.a.b`, `$.a[0]`, `$.a[*]`, `$.a.*`); `_NOT_FOUND` if absent."""
    path = path.strip()
    if path == "$":
        return document
    if not path.startswith("$"):
        raise ValueError(f"{path} is not a JSON path (it must start with $).")
    rest = path[1:]
    values: list[Any] = [document]
    wildcard = False
    position = 0
    while position < len(rest):
        token = _PATH_TOKEN.match(rest, position)
        if token is None:
            raise ValueError(f"{path} is not a JSON path EventBridge supports.")
        position = token.end()
        name, index = token.group(1), token.group(2)
        found: list[Any] = []
        for value in values:
            if name == "*" or index == "*":
                wildcard = True
                found.extend(
                    value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
                )
            elif name is not None and isinstance(value, dict) and name in value:
                found.append(value[name])
            elif index is not None and isinstance(value, list) and int(index) < len(value):
                found.append(value[int(index)])
        values = found
    if wildcard:
        return values
    return values[0] if values else _NOT_FOUND


_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")


def _inside_string(template: str, position: int) -> bool:
    """Whether `position` in a JSON template falls inside a string literal."""
    quoted = False
    escaped = False
    for char in template[:position]:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
    return quoted


def transform_input(
    transformer: dict[str, Any], event: dict[str, Any], *, rule_arn: str, rule_name: str, ingestion: str
) -> str:
    """Apply an `InputTransformer` as EventBridge does.

    A template that is a JSON object gets values as JSON: a string variable inside quotes is escaped, one
    outside quotes is its JSON text, objects and arrays their JSON; a variable whose path is not in the event
    is `null` (or empty inside quotes). Any other template is text: strings are put in as they are.
    """
    template = str(transformer.get("InputTemplate", ""))
    values: dict[str, Any] = {}
    for name, path in (transformer.get("InputPathsMap") or {}).items():
        values[name] = json_path(event, path)
    without_detail = {k: v for k, v in event.items() if k != "detail"}
    values.update(
        {
            "aws.events.rule-arn": rule_arn,
            "aws.events.rule-name": rule_name,
            "aws.events.event.ingestion-time": ingestion,
            "aws.events.event": without_detail,
            "aws.events.event.json": event,
        }
    )
    is_json = template.strip().startswith("{")

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            return match.group(0)
        value = values[name]
        quoted = is_json and _inside_string(template, match.start())
        if value is _NOT_FOUND:
            return "" if quoted or not is_json else "null"
        if isinstance(value, str):
            if quoted:
                return json.dumps(value)[1:-1]
            return json.dumps(value) if is_json and name.startswith("aws.events.") else value
        return json.dumps(value)

    return _PLACEHOLDER.sub(replace, template)


def target_payload(target: dict[str, Any], event: dict[str, Any], rule_arn: str, rule_name: str) -> str:
    """What a target receives: the event, `Input`, the `InputPath` selection, or the transformed input."""
    if target.get("Input") is not None:
        return str(target["Input"])
    if target.get("InputPath"):
        selected = json_path(event, str(target["InputPath"]))
        return json.dumps(None if selected is _NOT_FOUND else selected)
    if target.get("InputTransformer"):
        return transform_input(
            target["InputTransformer"], event, rule_arn=rule_arn, rule_name=rule_name, ingestion=iso_millis()
        )
    return json.dumps(event)


# --- targets: what can be delivered ----------------------------------------------------------------------
def _arn_parts(arn: str) -> list[str]:
    parts = arn.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        raise ValueError(f"{arn} is not an ARN.")
    return parts


def target_problem(target: dict[str, Any], account: str) -> str | None:
    """Why the embedded AWS cannot deliver to this target, or None when it can."""
    for parameter, what in UNSUPPORTED_TARGET_PARAMETERS.items():
        if target.get(parameter):
            return f"{parameter} ({what}) is not supported by the embedded AWS"
    arn = str(target.get("Arn", ""))
    try:
        _, _, service, _, target_account, resource = _arn_parts(arn)
    except ValueError:
        return None  # not known before deploy, or moto's own ARN validation answers it
    if service == "events" and resource.startswith("api-destination/"):
        return "API destinations (HTTP targets) are not supported by the embedded AWS"
    if service == "events" and resource.startswith("event-bus/") and target_account != account:
        return "cross-account event bus targets are not supported by the embedded AWS (it has one account)"
    supported = {"lambda", "sqs", "sns", "states"}
    if service not in supported and not (
        (service == "events" and resource.startswith("event-bus/"))
        or (service == "logs" and resource.startswith("log-group:"))
    ):
        supported_list = ", ".join(SUPPORTED_TARGETS)
        return f"{service} targets are not supported by the embedded AWS (supported: {supported_list})"
    dead_letter = (target.get("DeadLetterConfig") or {}).get("Arn")
    if isinstance(dead_letter, str) and ":sqs:" not in dead_letter:
        return f"DeadLetterConfig {dead_letter} is not an SQS queue"
    return None


def _literal_arn(value: Any, account: str) -> str:
    """A target ARN as far as it is known before deploy: a string, or a `Fn::Sub` text with its placeholders
    filled (service and resource type are literal in practice); empty for a `Ref` or `Fn::GetAtt`."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        text = value["Fn::Sub"]
        text = text[0] if isinstance(text, list) else text
        if isinstance(text, str):
            return re.sub(r"\$\{[^}]+\}", "x", text.replace("${AWS::AccountId}", account))
    return value if isinstance(value, str) else ""


def check_template(
    template: dict[str, Any], conditions: dict[str, bool] | None = None, account: str = "123456789012"
) -> None:
    """Refuse, before anything is created, the EventBridge parts of a template the embedded AWS cannot honour.

    A resource whose Condition is false is not created, so it is not checked either.
    """
    problems = []
    for logical_id, resource in template.get("Resources", {}).items():
        kind = resource.get("Type")
        if "Condition" in resource and not (conditions or {}).get(resource["Condition"], True):
            continue
        props = resource.get("Properties") or {}
        if kind in REFUSED_TYPES:
            problems.append(f"{logical_id} ({kind}): {REFUSED_TYPES[kind]}")
        elif kind == "AWS::Events::Rule":
            for target in props.get("Targets") or []:
                problem = target_problem({**target, "Arn": _literal_arn(target.get("Arn"), account)}, account)
                if problem:
                    problems.append(f"{logical_id} target {target.get('Id')}: {problem}")
        elif kind == "AWS::Scheduler::Schedule":
            target = props.get("Target") or {}
            arn = _literal_arn(target.get("Arn"), account)
            if arn.startswith("arn:aws:scheduler:::aws-sdk:"):
                problems.append(
                    f"{logical_id}: universal targets (aws-sdk:...) are not supported by the embedded AWS"
                )
            else:
                problem = target_problem({**target, "Arn": arn}, account)
                if problem:
                    problems.append(f"{logical_id}: {problem}")
    if problems:
        raise UnsupportedResourceError("; ".join(problems) + ".")


# --- resource policies ---------------------------------------------------------------------------------
def policy_allows(
    policy: str | dict[str, Any] | None, action: str, resource: str, context: dict[str, str], service: str
) -> bool:
    """Whether a resource policy lets the service principal (`events.amazonaws.com`) do `action` here: IAM's
    evaluation (`embedded_aws.policy`) for a service, which only a resource-based policy can grant."""
    statements = compile_policy(policy, resource_based=True)
    principal = service_principal(service, resource.split(":")[4] if resource.count(":") >= 5 else "")
    return decide(principal, action, resource, context, resource_policy=statements).allowed


# --- delivery ------------------------------------------------------------------------------------------
class DeliveryError(Exception):
    """A target could not be reached: an EventBridge DLQ error code, and whether a retry can help."""

    def __init__(self, code: str, message: str, *, retry: bool = True) -> None:
        super().__init__(message)
        self.code = code
        self.retry = retry


@dataclass
class Delivery:
    """One event (or scheduled invocation) on its way to one target."""

    source_arn: str  # the rule's or the schedule's ARN
    source_name: str
    target: dict[str, Any]
    payload: str
    event: dict[str, Any]
    account: str
    region: str
    scheduler: bool = False
    attempts: int = 0
    started: float = field(default_factory=time.monotonic)


class _Later:
    """Run callables after a delay on one thread (retries and schedule firings)."""

    def __init__(self, run: Callable[[Callable[[], None]], None]) -> None:
        self._run = run
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._counter = itertools.count()
        self._condition = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._loop, name="events-later", daemon=True)
        self._thread.start()

    def call(self, delay_s: float, action: Callable[[], None]) -> None:
        with self._condition:
            heapq.heappush(self._heap, (time.monotonic() + delay_s, next(self._counter), action))
            self._condition.notify()

    def stop(self) -> None:
        with self._condition:
            self._stopped = True
            self._condition.notify()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while True:
            with self._condition:
                while not self._stopped and (not self._heap or self._heap[0][0] > time.monotonic()):
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._condition.wait(timeout)
                if self._stopped:
                    return
                _, _, action = heapq.heappop(self._heap)
            self._run(action)


class EventBridge:
    """Routes events to targets and fires schedules, for one running embedded AWS."""

    def __init__(self, router: Router, clock: scheduler.Clock | None = None) -> None:
        self.router = router
        self.clock = clock or scheduler.Clock()
        self.undelivered: list[dict[str, Any]] = []  # failed deliveries with no (reachable) DLQ
        self._clients: dict[tuple[str, str], Any] = {}
        self._clients_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="events-deliver")
        self._later = _Later(self._submit)
        self._schedules = _ScheduleRunner(self)

    def start(self) -> None:
        self._schedules.start()

    def stop(self) -> None:
        self._schedules.stop()
        self._later.stop()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def client(self, service: str, region: str) -> Any:
        with self._clients_lock:
            key = (service, region)
            if key not in self._clients:
                self._clients[key] = client(
                    service, endpoint_url=self.router.endpoint_url, region=region, max_attempts=1
                )
            return self._clients[key]

    def _submit(self, action: Callable[[], None]) -> None:
        try:
            self._pool.submit(self._guarded, action)
        except RuntimeError:
            log.warning("EventBridge is stopping: a pending delivery was not made")

    @staticmethod
    def _guarded(action: Callable[[], None]) -> None:
        try:
            action()
        except Exception:  # a delivery thread must survive any fault: logged with its traceback
            log.exception("EventBridge delivery failed inside the embedded AWS")

    # --- routing ---
    def put(self, backend: EventsBackend, bus_name: str, event: dict[str, Any]) -> None:
        """Match an event against the bus's rules and start delivering it to each matching rule's targets."""
        bus = backend._get_event_bus(bus_name)
        for rule in list(bus.rules.values()):
            if rule.state not in ENABLED_STATES or not rule.event_pattern.dump():
                continue
            if not patterns.matches(rule.event_pattern.dump(), event):
                continue
            for target in list(rule.targets):
                payload = target_payload(target, event, rule.arn, rule.name)
                self.deliver(
                    Delivery(
                        rule.arn, rule.name, target, payload, event, backend.account_id, backend.region_name
                    )
                )

    def fire_rule(self, rule: Rule, moment: datetime) -> None:
        """A scheduled rule's `Scheduled Event` to each of its targets."""
        event = envelope(
            "aws.events",
            "Scheduled Event",
            {},
            account=rule.account_id,
            region=rule.region_name,
            resources=[rule.arn],
            moment=moment,
        )
        for target in list(rule.targets):
            payload = target_payload(target, event, rule.arn, rule.name)
            self.deliver(
                Delivery(rule.arn, rule.name, target, payload, event, rule.account_id, rule.region_name)
            )

    def deliver(self, delivery: Delivery) -> None:
        """Deliver asynchronously (EventBridge never makes the sender wait for targets)."""
        self._submit(lambda: self._attempt(delivery))

    def _attempt(self, delivery: Delivery) -> None:
        delivery.attempts += 1
        try:
            self._send(delivery)
            return
        except DeliveryError as failure:
            error = failure
        except BotoCoreError as failure:  # connection refused, a read timeout: EventBridge retries these
            error = DeliveryError("SDK_CLIENT_ERROR", str(failure))
        except Exception as failure:  # a fault here must still reach the DLQ (or `undelivered`), never vanish
            log.exception(
                "EventBridge: delivery to %s failed inside the embedded AWS", delivery.target.get("Arn")
            )
            error = DeliveryError("INTERNAL_ERROR", f"{type(failure).__name__}: {failure}", retry=False)
        policy = delivery.target.get("RetryPolicy") or {}
        max_retries = int(policy.get("MaximumRetryAttempts", DEFAULT_MAX_ATTEMPTS))
        max_age = float(policy.get("MaximumEventAgeInSeconds", DEFAULT_MAX_AGE_S))
        age = self.clock.scale * (time.monotonic() - delivery.started)
        retries_done = delivery.attempts - 1
        if error.retry and retries_done < max_retries and age < max_age:
            delay = min(RETRY_BASE_S * 2**retries_done, RETRY_CAP_S)
            log.warning(
                "EventBridge: %s → %s failed (%s: %s); retry %d in %.1fs",
                delivery.source_arn,
                delivery.target.get("Arn"),
                error.code,
                error,
                retries_done + 1,
                delay,
            )
            self._later.call(delay, lambda: self._attempt(delivery))
            return
        exhausted = None
        if error.retry:
            exhausted = "MaximumRetryAttempts" if retries_done >= max_retries else "MaximumEventAgeInSeconds"
        self._dead_letter(delivery, error, exhausted)

    def _dead_letter(self, delivery: Delivery, error: DeliveryError, exhausted: str | None) -> None:
        record = {
            "source_arn": delivery.source_arn,
            "target_arn": delivery.target.get("Arn"),
            "error_code": error.code,
            "error_message": str(error),
            "attempts": delivery.attempts,
            "event": delivery.event,
        }
        queue_arn = (delivery.target.get("DeadLetterConfig") or {}).get("Arn")
        if not queue_arn:
            log.error(
                "EventBridge dropped an event for %s → %s (%s: %s): the target has no DeadLetterConfig",
                delivery.source_arn,
                delivery.target.get("Arn"),
                error.code,
                error,
            )
            self.undelivered.append(record)
            return
        attributes = {
            "RULE_ARN" if not delivery.scheduler else "SCHEDULE_ARN": delivery.source_arn,
            "TARGET_ARN": str(delivery.target.get("Arn")),
            "ERROR_CODE": error.code,
            "ERROR_MESSAGE": str(error)[:1000],
            "RETRY_ATTEMPTS": str(delivery.attempts - 1),
        }
        if exhausted:
            attributes["EXHAUSTED_RETRY_CONDITION"] = exhausted
        body = delivery.payload if delivery.scheduler else json.dumps(delivery.event)
        try:
            sqs = self.client("sqs", queue_arn.split(":")[3])
            url = self._queue_url(queue_arn)
            sqs.send_message(
                QueueUrl=url,
                MessageBody=body,
                MessageAttributes={
                    k: {"DataType": "String", "StringValue": v} for k, v in attributes.items() if v
                },
            )
        except (ClientError, DeliveryError) as exc:
            log.error("EventBridge could not send a failed event to its DLQ %s: %s", queue_arn, exc)
            self.undelivered.append({**record, "dead_letter_error": str(exc)})

    # --- per-service sends ---
    def _queue_url(self, queue_arn: str) -> str:
        _, _, _, region, account, name = _arn_parts(queue_arn)
        try:
            url: str = self.client("sqs", region).get_queue_url(
                QueueName=name, QueueOwnerAWSAccountId=account
            )["QueueUrl"]
        except ClientError as exc:
            raise DeliveryError(
                "RESOURCE_NOT_FOUND", f"Queue {queue_arn} does not exist.", retry=False
            ) from exc
        return url

    def _send(self, delivery: Delivery) -> None:
        arn = str(delivery.target["Arn"])
        _, _, service, region, account, resource = _arn_parts(arn)
        context = {"aws:SourceArn": delivery.source_arn, "aws:SourceAccount": delivery.account}
        try:
            if service == "lambda":
                self._send_lambda(delivery, arn, region, context)
            elif service == "sqs":
                self._send_sqs(delivery, arn, region, context)
            elif service == "sns":
                self._send_sns(delivery, arn, region, context)
            elif service == "states":
                self._send_states(delivery, arn, region)
            elif service == "events" and resource.startswith("event-bus/"):
                self._send_bus(delivery, account, region, resource.split("/", 1)[1])
            elif service == "logs" and resource.startswith("log-group:"):
                self._send_logs(delivery, resource.split(":", 1)[1].removesuffix(":*"), region)
            else:
                raise DeliveryError(
                    "UNSUPPORTED_TARGET", f"{arn}: {target_problem(delivery.target, account)}", retry=False
                )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            message = exc.response.get("Error", {}).get("Message", str(exc))
            if "NotFound" in code or "NonExistent" in code or "DoesNotExist" in code:
                raise DeliveryError("RESOURCE_NOT_FOUND", message, retry=False) from exc
            if "AccessDenied" in code or "Authorization" in code:
                raise DeliveryError("NO_PERMISSIONS", message, retry=False) from exc
            raise DeliveryError("SDK_CLIENT_ERROR", f"{code}: {message}") from exc

    def _send_lambda(self, delivery: Delivery, arn: str, region: str, context: dict[str, str]) -> None:
        lam = self.client("lambda", region)
        name, _, qualifier = arn.split(":function:", 1)[1].partition(":")
        lam.get_function(FunctionName=arn)
        if not delivery.scheduler:
            try:
                policy = lam.get_policy(FunctionName=name, **({"Qualifier": qualifier} if qualifier else {}))[
                    "Policy"
                ]
            except ClientError:
                policy = None
            if not policy_allows(policy, "lambda:InvokeFunction", arn, context, "events.amazonaws.com"):
                raise DeliveryError(
                    "NO_PERMISSIONS",
                    f"No resource-based policy on {arn} lets events.amazonaws.com invoke it for "
                    f"{delivery.source_arn} (add an AWS::Lambda::Permission).",
                    retry=False,
                )
        try:
            event: Any = json.loads(delivery.payload)
        except ValueError:
            event = delivery.payload
        source = "scheduler" if delivery.scheduler else "events"
        self.router.invoke_async(arn, event, f"{source}:{delivery.source_arn}")

    def _send_sqs(self, delivery: Delivery, arn: str, region: str, context: dict[str, str]) -> None:
        sqs = self.client("sqs", region)
        url = self._queue_url(arn)
        if not delivery.scheduler:
            policy = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"]).get("Attributes", {})
            if not policy_allows(
                policy.get("Policy"), "sqs:SendMessage", arn, context, "events.amazonaws.com"
            ):
                raise DeliveryError(
                    "NO_PERMISSIONS",
                    f"The policy of queue {arn} does not let events.amazonaws.com send messages for "
                    f"{delivery.source_arn} (add an AWS::SQS::QueuePolicy).",
                    retry=False,
                )
        kwargs: dict[str, Any] = {"QueueUrl": url, "MessageBody": delivery.payload}
        group = (delivery.target.get("SqsParameters") or {}).get("MessageGroupId")
        if group:
            kwargs["MessageGroupId"] = group
        sqs.send_message(**kwargs)

    def _send_sns(self, delivery: Delivery, arn: str, region: str, context: dict[str, str]) -> None:
        sns = self.client("sns", region)
        attributes = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
        if not delivery.scheduler and not policy_allows(
            attributes.get("Policy"), "sns:Publish", arn, context, "events.amazonaws.com"
        ):
            raise DeliveryError(
                "NO_PERMISSIONS",
                f"The policy of topic {arn} does not let events.amazonaws.com publish for "
                f"{delivery.source_arn} (add an AWS::SNS::TopicPolicy).",
                retry=False,
            )
        sns.publish(TopicArn=arn, Message=delivery.payload)

    def _send_states(self, delivery: Delivery, arn: str, region: str) -> None:
        role = delivery.target.get("RoleArn")
        if not role:
            raise DeliveryError(
                "NO_PERMISSIONS",
                f"Target {arn} has no RoleArn: EventBridge needs a role to start a state machine.",
                retry=False,
            )
        try:
            self.client("iam", region).get_role(RoleName=str(role).rsplit("/", 1)[-1])
        except ClientError as exc:
            raise DeliveryError(
                "NO_PERMISSIONS", f"Role {role} cannot be assumed: it does not exist.", retry=False
            ) from exc
        # The execution name: the event id (a retry of the same event starts nothing new), unique per target.
        suffix = uuid.uuid5(uuid.NAMESPACE_URL, delivery.source_arn + arn).hex[:8]
        name = f"{delivery.event.get('id', uuid.uuid4())}_{suffix}"
        try:
            self.client("stepfunctions", region).start_execution(
                stateMachineArn=arn, name=name[:80], input=delivery.payload
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ExecutionAlreadyExists":
                return  # a retry of a delivery that did start: at least once, not twice
            raise

    def _send_bus(self, delivery: Delivery, account: str, region: str, bus_name: str) -> None:
        backend = events_backends[account][region]
        if delivery.scheduler:  # EventBridge Scheduler's PutEvents target: Input is the detail
            parameters = delivery.target.get("EventBridgeParameters") or {}
            event = envelope(
                str(parameters.get("Source", "")),
                str(parameters.get("DetailType", "")),
                json.loads(delivery.payload),
                account=account,
                region=region,
                resources=[delivery.source_arn],
            )
        else:  # bus to bus: the same event
            event = json.loads(delivery.payload)
        try:
            self.put(backend, bus_name, event)
        except ResourceNotFoundException as exc:
            raise DeliveryError("RESOURCE_NOT_FOUND", exc.message, retry=False) from exc

    def _send_logs(self, delivery: Delivery, group: str, region: str) -> None:
        logs = self.client("logs", region)
        stream = str(delivery.event.get("id") or uuid.uuid4())
        try:
            logs.create_log_stream(logGroupName=group, logStreamName=stream)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceAlreadyExistsException":
                raise
        logs.put_log_events(
            logGroupName=group,
            logStreamName=stream,
            logEvents=[{"timestamp": int(time.time() * 1000), "message": delivery.payload}],
        )


# --- schedules -----------------------------------------------------------------------------------------
class _ScheduleRunner:
    """A thread that fires `ScheduleExpression` rules and EventBridge Scheduler schedules when due."""

    POLL_S = 0.2

    def __init__(self, bridge: EventBridge) -> None:
        self.bridge = bridge
        self._due: dict[tuple[str, ...], datetime | None] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="events-schedules", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self.POLL_S):
            try:
                self.tick()
            except Exception:  # the schedule thread must keep running: logged with its traceback
                log.exception("EventBridge schedules: a tick failed")

    def tick(self) -> None:
        """Fire whatever is due now."""
        now = self.bridge.clock.now()
        seen: set[tuple[str, ...]] = set()
        for _, regions in list(events_backends.items()):
            for _, backend in list(regions.items()):
                default = backend.event_buses.get("default")
                for rule in list(default.rules.values()) if default else []:
                    if rule.state not in ENABLED_STATES or not rule.scheduled_expression:
                        continue
                    key: tuple[str, ...] = ("rule", rule.arn, rule.scheduled_expression)
                    seen.add(key)
                    self._maybe_fire(
                        key,
                        rule.scheduled_expression,
                        None,
                        now,
                        functools.partial(self.bridge.fire_rule, rule),
                    )
        for _, regions in list(scheduler_backends.items()):
            for _, backend in list(regions.items()):
                for group in list(backend.schedule_groups.values()):
                    for schedule in list(group.schedules.values()):
                        if schedule.state != "ENABLED":
                            continue
                        key = (
                            "schedule",
                            schedule.arn,
                            schedule.schedule_expression,
                            schedule.schedule_expression_timezone,
                        )
                        seen.add(key)
                        self._maybe_fire(
                            key,
                            schedule.schedule_expression,
                            schedule.schedule_expression_timezone,
                            now,
                            functools.partial(self._fire_schedule, backend, schedule),
                            start=schedule.start_date,
                            end=schedule.end_date,
                        )
        for key in set(self._due) - seen:
            del self._due[key]

    def _maybe_fire(
        self,
        key: tuple[str, ...],
        expression: str,
        zone: str | None,
        now: datetime,
        fire: Callable[[datetime], None],
        start: Any = None,
        end: Any = None,
    ) -> None:
        try:
            parsed = scheduler.parse(expression, timezone=zone, allow_at=key[0] == "schedule")
        except scheduler.ScheduleExpressionError:
            return
        if key not in self._due:
            self._due[key] = parsed.first_after(now)
        due = self._due[key]
        if due is None or due > now:
            return
        after: datetime | None = due
        while after is not None and after <= now:  # AWS does not catch up on missed firings
            after = parsed.next_after(after)
        self._due[key] = after
        if _before(due, start) or _after(due, end):
            return
        fire(due)

    def _fire_schedule(self, backend: Any, schedule: Any, moment: datetime) -> None:
        target = schedule.target
        execution_id = str(uuid.uuid4())
        payload = str(target.get("Input") or "{}")
        for name, value in (
            ("aws.scheduler.schedule-arn", schedule.arn),
            ("aws.scheduler.scheduled-time", _iso(moment)),
            ("aws.scheduler.execution-id", execution_id),
            ("aws.scheduler.attempt-number", "1"),
        ):
            payload = payload.replace(f"<{name}>", value)
        event = {"id": execution_id, "schedule-arn": schedule.arn, "scheduled-time": _iso(moment)}
        self.bridge.deliver(
            Delivery(
                schedule.arn,
                schedule.name,
                target,
                payload,
                event,
                backend.account_id,
                backend.region_name,
                scheduler=True,
            )
        )
        if schedule.schedule_expression.startswith("at(") and schedule.action_after_completion == "DELETE":
            backend.delete_schedule(schedule.group_name, schedule.name)


def _as_datetime(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _before(moment: datetime, start: Any) -> bool:
    boundary = _as_datetime(start)
    return boundary is not None and moment < boundary


def _after(moment: datetime, end: Any) -> bool:
    boundary = _as_datetime(end)
    return boundary is not None and moment > boundary


# --- AWS::Scheduler::Schedule ----------------------------------------------------------------------------
class SchedulerSchedule(CloudFormationModel):  # type: ignore[misc]  # moto is untyped here
    """`AWS::Scheduler::Schedule` (what SAM's `ScheduleV2` makes), created in moto's Scheduler backend."""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Scheduler::Schedule"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    def __init__(self, name: str, arn: str) -> None:
        self.name = name
        self.arn = arn

    @property
    def physical_resource_id(self) -> str:
        return self.name

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return self.arn

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> SchedulerSchedule:
        props = cloudformation_json["Properties"]
        expression = props["ScheduleExpression"]
        try:
            scheduler.parse(expression, timezone=props.get("ScheduleExpressionTimezone"), allow_at=True)
        except scheduler.ScheduleExpressionError as exc:
            raise ValidationException(f"Invalid Schedule Expression {expression}. {exc}") from exc
        backend = scheduler_backends[account_id][region_name]
        group = props.get("GroupName") or "default"
        schedule = backend.create_schedule(
            description=props.get("Description"),
            end_date=props.get("EndDate"),
            flexible_time_window=props.get("FlexibleTimeWindow") or {"Mode": "OFF"},
            group_name=group,
            kms_key_arn=props.get("KmsKeyArn"),
            name=props.get("Name") or resource_name,
            schedule_expression=expression,
            schedule_expression_timezone=props.get("ScheduleExpressionTimezone"),
            start_date=props.get("StartDate"),
            state=props.get("State") or "ENABLED",
            target=copy.deepcopy(props["Target"]),
            action_after_completion=None,
        )
        return cls(schedule.name, schedule.arn)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> SchedulerSchedule:
        cls.delete_from_cloudformation_json(
            original_resource.name, cloudformation_json, account_id, region_name
        )
        return cls.create_from_cloudformation_json(
            new_resource_name, cloudformation_json, account_id, region_name
        )

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
    ) -> None:
        group = cloudformation_json.get("Properties", {}).get("GroupName")
        scheduler_backends[account_id][region_name].delete_schedule(group, resource_name)


# --- the moto seams -----------------------------------------------------------------------------------
_engine: EventBridge | None = None
_originals: dict[str, Any] = {}


def engine() -> EventBridge:
    """The running EventBridge (its clock, its record of undelivered events)."""
    if _engine is None:
        raise RuntimeError("The embedded AWS is not running: start it with `pipeline up`.")
    return _engine


def _put_events(self: EventsBackend, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    entries = entries or []
    if len(entries) > MAX_ENTRIES:
        raise ValidationException(
            "1 validation error detected: Value '[PutEventsRequestEntry]' at 'entries' failed to satisfy "
            "constraint: Member must have length less than or equal to 10"
        )
    if sum(entry_size(entry) for entry in entries) > MAX_REQUEST_BYTES:
        raise ValidationException("Total size of the entries in the request is over the limit.")
    bridge = engine()
    results: list[dict[str, Any]] = []
    for entry in entries:
        problem = _check_entry(entry)
        if problem is not None:
            results.append(problem)
            continue
        bus_name = self._normalize_event_bus_arn(entry.get("EventBusName"))
        if bus_name not in self.event_buses:
            results.append(_entry_error("ResourceNotFoundException", f"Event bus {bus_name} does not exist."))
            continue
        event = envelope(
            entry["Source"],
            entry["DetailType"],
            json.loads(entry["Detail"]),
            account=self.account_id,
            region=self.region_name,
            resources=entry.get("Resources"),
            moment=_entry_time(entry.get("Time")),
        )
        results.append({"EventId": event["id"]})
        bridge.put(self, bus_name, event)
    return results


def _put_targets(
    self: EventsBackend, name: str, event_bus_arn: str | None, targets: list[dict[str, Any]]
) -> None:
    for target in targets:
        problem = target_problem(target, self.account_id)
        if problem:
            raise ValidationException(f"Target {target.get('Id')} ({target.get('Arn')}): {problem}.")
    _originals["put_targets"](self, name, event_bus_arn, targets)


def _put_rule(self: EventsBackend, name: str, *args: Any, **kwargs: Any) -> Rule:
    pattern = kwargs.get("event_pattern")
    if pattern:
        try:
            patterns.validate(pattern)
        except patterns.PatternError as exc:
            raise InvalidEventPatternException(reason=str(exc)) from exc
    expression = kwargs.get("scheduled_expression")
    if expression:
        try:
            scheduler.parse(expression)
        except scheduler.ScheduleExpressionError as exc:
            raise ValidationException("Parameter ScheduleExpression is not valid.") from exc
    rule: Rule = _originals["put_rule"](self, name, *args, **kwargs)
    return rule


def _test_event_pattern(self: EventsHandler) -> str:
    pattern = self._get_param("EventPattern")
    try:
        event = json.loads(self._get_param("Event"))
        patterns.validate(pattern)
    except patterns.PatternError as exc:
        raise InvalidEventPatternException(reason=str(exc)) from exc
    except ValueError as exc:
        raise ValidationException("Parameter Event is not valid.") from exc
    missing = [k for k in ("id", "account", "source", "time", "region", "detail-type") if k not in event]
    if missing:
        raise ValidationException(
            f"Parameter Event is not valid. Reason: Provided Event is missing {missing[0]}."
        )
    return json.dumps({"Result": patterns.matches(pattern, event)})


def _delete_rule_resource(
    cls: type, /, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
) -> None:
    """As CloudFormation does: remove the rule's targets, then the rule."""
    backend = events_backends[account_id][region_name]
    bus = cloudformation_json.get("Properties", {}).get("EventBusName")
    try:
        rule = backend.describe_rule(resource_name, bus)
    except ResourceNotFoundException:
        return
    rule.remove_targets([t["Id"] for t in rule.targets])
    backend.delete_rule(resource_name, bus)


# S3 → EventBridge: the event names S3 reports, as `reason` and `deletion-type`.
_S3_REASONS = {
    "s3:ObjectCreated:Put": "PutObject",
    "s3:ObjectCreated:Post": "POST Object",
    "s3:ObjectCreated:Copy": "CopyObject",
    "s3:ObjectCreated:CompleteMultipartUpload": "CompleteMultipartUpload",
    "s3:ObjectRemoved:Delete": "DeleteObject",
    "s3:ObjectRemoved:DeleteMarkerCreated": "DeleteObject",
    "s3:LifecycleExpiration:Delete": "Lifecycle Expiration",
    "s3:LifecycleExpiration:DeleteMarkerCreated": "Lifecycle Expiration",
}


def s3_event(account_id: str, bucket: Any, event_name: str, key: Any) -> dict[str, Any]:
    """The event S3 sends to EventBridge for `event_name` on `key`, in AWS's documented shape."""
    event_name = str(getattr(event_name, "value", event_name))
    detail_type = s3_notifications._detail_type(event_name)
    version_id = getattr(key, "version_id", None)
    obj: dict[str, Any] = {"key": key.name}
    if detail_type == "Object Created":
        obj.update({"size": key.size, "etag": key.etag.strip('"')})
    elif detail_type in ("Object Tags Added", "Object Tags Deleted", "Object ACL Updated"):
        obj["etag"] = key.etag.strip('"')
    if version_id and version_id != "null":
        obj["version-id"] = str(version_id)
    if detail_type in ("Object Created", "Object Deleted"):
        obj["sequencer"] = next_sequencer()
    detail: dict[str, Any] = {
        "version": "0",
        "bucket": {"name": bucket.name},
        "object": obj,
        "request-id": uuid.uuid4().hex[:16].upper(),
        "requester": account_id,
        "source-ip-address": "127.0.0.1",
    }
    if event_name in _S3_REASONS:
        detail["reason"] = _S3_REASONS[event_name]
    if detail_type == "Object Deleted":
        detail["deletion-type"] = (
            "Delete Marker Created" if event_name.endswith("DeleteMarkerCreated") else "Permanently Deleted"
        )
    return envelope(
        "aws.s3", detail_type, detail, account=account_id, region=bucket.region_name, resources=[bucket.arn]
    )


def _send_s3_to_eventbridge(account_id: str, bucket: Any, event_name: str, key: Any) -> None:
    # An S3 request never fails because of its notifications (AWS sends them after the fact).
    try:
        event = s3_event(account_id, bucket, event_name, key)
        engine().put(events_backends[account_id][bucket.region_name], "default", event)
    except Exception:  # S3 must answer its caller: the lost notification is logged with its traceback
        log.exception("S3 → EventBridge: could not send %s for s3://%s/%s", event_name, bucket.name, key.name)


_REFUSED_APIS = {
    "create_archive": "event archives and replays are not supported by the embedded AWS",
    "start_replay": "event archives and replays are not supported by the embedded AWS",
    "create_api_destination": "API destinations (HTTP targets) are not supported by the embedded AWS",
    "create_connection": "connections for API destinations are not supported by the embedded AWS",
}


def _refuse(feature: str) -> Callable[..., Any]:
    def refuse(self: EventsBackend, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(feature)

    return refuse


def _patch() -> None:
    if _originals:
        return
    _originals["put_events"] = EventsBackend.put_events
    _originals["put_targets"] = EventsBackend.put_targets
    _originals["put_rule"] = EventsBackend.put_rule
    EventsBackend.put_events = _put_events
    EventsBackend.put_targets = _put_targets
    EventsBackend.put_rule = _put_rule
    EventsHandler.test_event_pattern = _test_event_pattern
    Rule.delete_from_cloudformation_json = classmethod(_delete_rule_resource)
    s3_notifications._send_event_bridge_message = _send_s3_to_eventbridge
    # APIs whose resources would be stored but never act: answered as not implemented, naming the feature.
    for method, feature in _REFUSED_APIS.items():
        setattr(EventsBackend, method, _refuse(feature))
    # `Ref` of an AWS::Events::EventBus is its name (moto's model has no physical id, so Ref gave the object).
    EventBus.physical_resource_id = property(lambda bus: bus.name)


def install(router: Router) -> EventBridge:
    """Start EventBridge for `router` (the running embedded AWS): patch moto's seams, start the schedules."""
    global _engine  # noqa: PLW0603 - moto's models are process-wide, so is the route
    _patch()
    if _engine is not None:
        _engine.stop()
    _engine = EventBridge(router)
    _engine.start()
    return _engine


def uninstall() -> None:
    """Stop deliveries and schedules (the patches stay, and refuse work, until the next `install`)."""
    global _engine  # noqa: PLW0603
    if _engine is not None:
        _engine.stop()
    _engine = None
