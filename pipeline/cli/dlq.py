"""`pipeline dlq`: what waits in the stack's dead-letter and failed-work queues, why, and bringing it back.

Two kinds of queue park failed work:
- an SQS **dead-letter queue** (`*DeadLetterQueueUrl` Outputs): a queue's RedrivePolicy moved a message there
  after its consumer failed it `maxReceiveCount` times, or the consumer put it there with a reason. Redrive is
  SQS's own `StartMessageMoveTask`, back to the source queue.
- a workflow's **failed-work queue** (`FailedUploadsQueueUrl`, `FailedChangesQueueUrl`): the workflow's
  `Failed` state sent its whole state (input and `error`) there after its retries. Redrive starts the
  workflow again with the same input, under an execution name derived from the message (DESIGN.md D7), and
  deletes the message only once the start succeeded.

Looking at messages receives them (SQS has no peek) and makes them visible again at once. Heavy imports
(boto3, pydantic, jsonschema) happen inside the functions, so that `pipeline --help` stays fast.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pipeline.cli.options import EndpointOpt, JsonOpt, RegionOpt, StackOpt, print_json
from pipeline.errors import PipelineError

if TYPE_CHECKING:
    from pipeline.cli.uploads import Stack

DLQ = "dlq"
FAILED_WORK = "failed-work"

#: Failed-work queues (by Output) and the workflow (by Output) whose Failed state sends to them.
FAILED_WORK_QUEUES = {
    "FailedUploadsQueueUrl": "FileWorkflowArn",
    "FailedChangesQueueUrl": "ChangeWorkflowArn",
}
DLQ_OUTPUT_SUFFIX = "DeadLetterQueueUrl"

#: How long a look at a queue hides the messages it read (they are made visible again right after).
PEEK_VISIBILITY_S = 30
#: Most messages one look reads from a queue.
PEEK_LIMIT = 100
#: How long a redrive keeps a failed-work message hidden while it starts the workflow again.
REDRIVE_VISIBILITY_S = 60

#: Reason codes this module gives parked messages that carry none, with their sentence.
RETRIES_EXHAUSTED = "retries_exhausted"
UNREADABLE = "unreadable"
_CODE = re.compile(r"[a-z][a-z0-9_]*")


class DlqError(PipelineError):
    """A `pipeline dlq` command could not do what was asked."""

    reason = "dlq_error"


# --- what a parked message concerns and why: pure --------------------------------------------------------
@dataclass(frozen=True)
class Parked:
    """What one parked message concerns and why it waits, read from the message itself."""

    concerns: str  # upload | change | item-event | unknown
    subject: str  # the item id (uploads, item events) or record `entity/id` (changes); "" when unknown
    label: str  # what a person recognises: the object key, the record with its sequence, the event
    reason: str  # a stable code: the pipeline's reason, the workflow's error name, or retries_exhausted
    detail: str  # the sentence


def parse_parked(
    body: str, attributes: dict[str, str] | None = None, source_queue: str | None = None
) -> Parked:
    """Read a parked message: a workflow's failed state, or an SQS event (raw or in an SNS envelope).

    `attributes` are the message's string attributes (a consumer that parks a message itself names the
    `reason` and `error` there); `source_queue` is the queue SQS moved it from, when it did.
    """
    from pipeline.logic.envelopes import sns_message

    attributes = attributes or {}
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    if isinstance(document, dict) and isinstance(document.get("error"), dict):
        concerns, subject, label = _concerns(document.get("source"), document.get("raw"))
        reason, detail = workflow_error(document["error"])
        return Parked(concerns, subject, label, reason, detail)
    try:
        message = json.loads(sns_message(body))
    except ValueError:
        message = None
    if not isinstance(message, dict):
        reason = attributes.get("reason", UNREADABLE)
        return Parked("unknown", "", _one_line(body, 60), reason, attributes.get("error", "Not JSON."))
    if "Records" in message or message.get("Event") == "s3:TestEvent":
        concerns, subject, label = _upload(message)
    elif {"source", "entity", "id"} <= message.keys():
        concerns, subject, label = _concerns(None, message)
    elif "item_id" in message and "event" in message:
        concerns, subject = "item-event", str(message["item_id"])
        label = f"{message['event']} event of {message.get('name') or message['item_id']}"
    else:
        concerns, subject, label = "unknown", "", _one_line(body, 60)
    if "reason" in attributes:
        return Parked(concerns, subject, label, attributes["reason"], attributes.get("error", ""))
    where = f" from {source_queue.rsplit(':', 1)[-1]}" if source_queue else ""
    detail = (
        f"Its consumer failed it on every receive{where} (maxReceiveCount); the consumer's log says why. "
        "Fix the cause, then redrive."
    )
    return Parked(concerns, subject, label, RETRIES_EXHAUSTED, detail)


def workflow_error(error: dict[str, Any]) -> tuple[str, str]:
    """(reason, sentence) of a workflow's caught error (`{"Error", "Cause"}`).

    A Lambda task's Cause is JSON with `errorMessage`; the pipeline's own errors read "reason: sentence".
    Anything else keeps the error's name (e.g. `States.Timeout`, `Runtime.ExitError`) as its reason.
    """
    name = str(error.get("Error") or "States.Unknown")
    cause = str(error.get("Cause") or "")
    try:
        payload = json.loads(cause)
    except ValueError:
        payload = None
    message = cause
    if isinstance(payload, dict) and "errorMessage" in payload:
        message = str(payload["errorMessage"])
        name = str(payload.get("errorType") or name)
    code, sep, sentence = message.partition(": ")
    if sep and _CODE.fullmatch(code):
        return code, _one_line(sentence)
    return name, _one_line(message) or f"The workflow failed with {name}."


def _concerns(source: Any, raw: Any) -> tuple[str, str, str]:
    from pipeline.logic.keys import item_id

    if isinstance(source, dict) and "bucket" in source and "key" in source:
        return "upload", item_id(str(source["bucket"]), str(source["key"])), str(source["key"])
    change = raw
    if isinstance(raw, str):
        try:
            change = json.loads(raw)
        except ValueError:
            return "change", "", _one_line(raw, 60)
    if isinstance(change, dict) and "entity" in change and "id" in change:
        record = f"{change['entity']}/{change['id']}"
        return "change", record, f"{change.get('op', 'change')} {record} #{change.get('sequence', '?')}"
    return "unknown", "", ""


def _upload(event: dict[str, Any]) -> tuple[str, str, str]:
    from pipeline.logic.keys import item_id, object_refs_from_s3_event

    refs = object_refs_from_s3_event(event)
    if not refs:
        return "upload", "", str(event.get("Event") or "S3 event naming no created object")
    ids = sorted({item_id(ref.bucket, ref.key) for ref in refs})
    return "upload", ",".join(ids), ", ".join(ref.key for ref in refs)


def _one_line(text: str, limit: int = 500) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def restart(body: str, message_id: str) -> tuple[str, dict[str, Any]]:
    """The (execution name, input) that starts a failed-work message's workflow again.

    The input is what the queue consumer started it with; the name is the business key and this message
    (D7): redriving the same message twice starts it once under STANDARD (the name is taken), and under
    EXPRESS the second run is a no-op by the pipeline's business-key checks.
    """
    from pipeline.errors import PermanentError
    from pipeline.logic import changes, keys
    from pipeline.models import ObjectRef

    try:
        state = json.loads(body)
    except ValueError as exc:
        raise DlqError("The message is not a workflow's state (not JSON).", reason=UNREADABLE) from exc
    delivery = f"redrive:{message_id}"
    if isinstance(state, dict) and isinstance(state.get("source"), dict):
        try:
            ref = ObjectRef.model_validate(state["source"])
        except ValueError as exc:  # pydantic's ValidationError
            raise DlqError(
                f"The message's `source` is not an object version: {exc}", reason=UNREADABLE
            ) from exc
        return keys.execution_name(ref, delivery), {"source": state["source"]}
    if isinstance(state, dict) and isinstance(state.get("raw"), str):
        raw = state["raw"]
        try:
            change = changes.parse_change(raw)
        except PermanentError:
            change = None  # started anyway, as the consumer does: the workflow rejects it with its reason
        return changes.execution_name(change, raw, delivery), {"raw": raw}
    raise DlqError("The message names no workflow input (`source` or `raw`).", reason=UNREADABLE)


# --- the queues of a stack --------------------------------------------------------------------------------
@dataclass
class ParkedMessage:
    """One message waiting in a failure queue."""

    message_id: str
    sent_at: float  # epoch seconds: when it was first sent (SQS keeps it when a message moves to a DLQ)
    receives: int
    parked: Parked
    body: str = field(repr=False)


@dataclass
class FailureQueue:
    """A dead-letter or failed-work queue of the stack, and what waits in it."""

    name: str  # e.g. uploads-dlq, failed-uploads: what the commands take
    output: str
    url: str
    arn: str
    kind: str  # dlq | failed-work
    target: list[str]  # DLQ: its source queues' ARNs; failed-work: the workflow's ARN
    depth: int = 0
    in_flight: int = 0
    oldest_s: float | None = None  # age of the oldest message read
    messages: list[ParkedMessage] = field(default_factory=list)

    def to_json(self, with_messages: bool) -> dict[str, Any]:
        """The queue for `--json`."""
        data = {k: v for k, v in asdict(self).items() if k != "messages"}
        if with_messages:
            data["messages"] = [
                {"message_id": m.message_id, "sent_at": m.sent_at, "receives": m.receives, **asdict(m.parked)}
                for m in self.messages
            ]
        return data


def queue_name(output: str) -> str:
    """A queue Output's short name: UploadsDeadLetterQueueUrl → uploads-dlq, FailedUploadsQueueUrl →
    failed-uploads."""
    stem = output.removesuffix("QueueUrl").replace("DeadLetter", "Dlq")
    return re.sub(r"(?<!^)(?=[A-Z])", "-", stem).lower()


def failure_queues(stack: Stack) -> list[FailureQueue]:
    """Every dead-letter and failed-work queue the stack's Outputs name, with depth and targets."""
    sqs = stack.client("sqs")
    found = []
    for output, url in sorted(stack.outputs.items()):
        if output in FAILED_WORK_QUEUES:
            kind, target = FAILED_WORK, [stack.outputs[FAILED_WORK_QUEUES[output]]]
        elif output.endswith(DLQ_OUTPUT_SUFFIX):
            kind = DLQ
            sources = sqs.list_dead_letter_source_queues(QueueUrl=url).get("queueUrls", [])
            target = [_attributes(sqs, source)["QueueArn"] for source in sources]
        else:
            continue
        attributes = _attributes(sqs, url)
        found.append(
            FailureQueue(
                name=queue_name(output),
                output=output,
                url=url,
                arn=attributes["QueueArn"],
                kind=kind,
                target=target,
                depth=int(attributes["ApproximateNumberOfMessages"]),
                in_flight=int(attributes["ApproximateNumberOfMessagesNotVisible"]),
            )
        )
    return found


def find(stack: Stack, name: str) -> FailureQueue:
    """One failure queue by its short name (or its Output's name); a DlqError naming the choices if none."""
    queues = failure_queues(stack)
    for queue in queues:
        if name.lower() in (queue.name, queue.output.lower()):
            return queue
    names = ", ".join(q.name for q in queues) or "none"
    raise DlqError(f"No failure queue {name!r} in this stack; its queues: {names}.", reason="unknown_queue")


def _attributes(sqs: Any, url: str) -> dict[str, str]:
    names = ["QueueArn", "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes: dict[str, str] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return attributes


def peek(stack: Stack, queue: FailureQueue, limit: int = PEEK_LIMIT) -> FailureQueue:
    """Read up to `limit` messages of the queue (then visible again) into `queue.messages` and its age."""
    sqs = stack.client("sqs")
    seen: dict[str, dict[str, Any]] = {}
    while len(seen) < limit:
        batch = sqs.receive_message(
            QueueUrl=queue.url,
            MaxNumberOfMessages=min(10, limit - len(seen)),
            VisibilityTimeout=PEEK_VISIBILITY_S,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        fresh = [m for m in batch if m["MessageId"] not in seen]
        if not fresh:
            _release(sqs, queue.url, batch)
            break
        seen.update((m["MessageId"], m) for m in fresh)
    _release(sqs, queue.url, list(seen.values()))
    now = time.time()
    queue.messages = sorted((_parked(m) for m in seen.values()), key=lambda m: m.sent_at)
    queue.oldest_s = now - queue.messages[0].sent_at if queue.messages else None
    return queue


def _parked(message: dict[str, Any]) -> ParkedMessage:
    system = message.get("Attributes", {})
    attributes = {
        name: str(value["StringValue"])
        for name, value in message.get("MessageAttributes", {}).items()
        if "StringValue" in value
    }
    return ParkedMessage(
        message_id=message["MessageId"],
        sent_at=int(system.get("SentTimestamp", 0)) / 1000,
        receives=int(system.get("ApproximateReceiveCount", 0)),
        parked=parse_parked(message["Body"], attributes, system.get("DeadLetterQueueSourceArn")),
        body=message["Body"],
    )


def _release(sqs: Any, url: str, messages: list[dict[str, Any]]) -> None:
    """Make received messages visible again now."""
    for start in range(0, len(messages), 10):
        entries = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
            for i, m in enumerate(messages[start : start + 10])
        ]
        sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)


# --- redrive and purge ------------------------------------------------------------------------------------
@dataclass
class Redriven:
    """What a redrive of one queue did."""

    name: str
    kind: str
    moved: int = 0  # DLQ: messages moved back; failed-work: workflows started (or already started)
    to_move: int = 0
    status: str = "COMPLETED"  # a move task's status (RUNNING when not waited for), or COMPLETED / FAILED
    failures: list[str] = field(default_factory=list)  # "message id: reason: sentence"


def redrive(stack: Stack, queue: FailureQueue, wait_s: float = 60.0) -> Redriven:
    """Bring a queue's messages back to their normal path; see the module docstring."""
    if queue.kind == DLQ:
        return _move_back(stack, queue, wait_s)
    return _restart_all(stack, queue)


def _move_back(stack: Stack, queue: FailureQueue, wait_s: float) -> Redriven:
    from botocore.exceptions import ClientError

    sqs = stack.client("sqs")
    result = Redriven(queue.name, queue.kind, to_move=queue.depth)
    if queue.depth + queue.in_flight == 0:
        return result
    request = {"SourceArn": queue.arn}
    if len(queue.target) == 1:
        # One source queue: named, so that messages a consumer sent to the DLQ itself (with no source SQS
        # recorded) go back there too; SQS returns moved ones to their own source either way.
        request["DestinationArn"] = queue.target[0]
    try:
        sqs.start_message_move_task(**request)
    except ClientError as exc:  # e.g. a move task of this queue still running
        error = exc.response["Error"]
        result.status = "FAILED"
        result.failures.append(f"StartMessageMoveTask: {error.get('Code')}: {error.get('Message')}")
        return result
    deadline = time.monotonic() + wait_s
    while True:
        task = sqs.list_message_move_tasks(SourceArn=queue.arn, MaxResults=1)["Results"][0]
        if task["Status"] != "RUNNING" or time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    result.moved = int(task.get("ApproximateNumberOfMessagesMoved", 0))
    result.to_move = int(task.get("ApproximateNumberOfMessagesToMove", result.to_move))
    result.status = str(task["Status"])
    if "FailureReason" in task:
        result.failures.append(f"move task: {task['FailureReason']}")
    return result


def _restart_all(stack: Stack, queue: FailureQueue) -> Redriven:
    from botocore.exceptions import ClientError

    from pipeline.adapters.workflows import Workflows

    sqs = stack.client("sqs")
    workflows = Workflows(stack.client("stepfunctions"))
    result = Redriven(queue.name, queue.kind, to_move=queue.depth)
    seen: set[str] = set()
    kept: list[dict[str, Any]] = []  # messages not restarted: visible again at the end, for the next try
    while batch := sqs.receive_message(
        QueueUrl=queue.url, MaxNumberOfMessages=10, VisibilityTimeout=REDRIVE_VISIBILITY_S
    ).get("Messages", []):
        fresh = [m for m in batch if m["MessageId"] not in seen]
        if not fresh:
            kept.extend(batch)
            break
        for message in fresh:
            seen.add(message["MessageId"])
            try:
                name, payload = restart(message["Body"], message["MessageId"])
                workflows.start(queue.target[0], name, payload)  # False: that name already started
            except PipelineError as exc:
                result.failures.append(f"{message['MessageId']}: {exc}")
                kept.append(message)
                continue
            result.moved += 1
            try:
                sqs.delete_message(QueueUrl=queue.url, ReceiptHandle=message["ReceiptHandle"])
            except ClientError as exc:
                # Started, but still queued: once visible again, a redrive finds its execution name taken
                # (STANDARD), or runs it again as a no-op (EXPRESS, D7).
                result.failures.append(f"{message['MessageId']}: started, but not deleted: {exc}")
    _release(sqs, queue.url, kept)
    result.to_move = max(result.to_move, len(seen))
    result.status = "FAILED" if result.failures else "COMPLETED"
    return result


def purge(stack: Stack, queue: FailureQueue) -> int:
    """Delete every message of the queue; returns how many there were."""
    from botocore.exceptions import ClientError

    try:
        stack.client("sqs").purge_queue(QueueUrl=queue.url)
    except ClientError as exc:
        error = exc.response["Error"]
        raise DlqError(
            f"SQS refused to purge {queue.name}: {error.get('Code')}: {error.get('Message')}",
            reason="purge_refused",
        ) from exc
    return queue.depth + queue.in_flight


# --- the commands -----------------------------------------------------------------------------------------
app = typer.Typer(
    help="Dead-letter and failed-work queues: what waits, why; redrive or purge.",
    invoke_without_command=True,
)
console = Console()
errors = Console(stderr=True)


def _stack(stack_name: str, endpoint_url: str, region: str) -> Stack:
    from pipeline.cli.uploads import Stack

    return Stack.find(stack_name, endpoint_url or None, region)


def _fail(exc: PipelineError) -> typer.Exit:
    errors.print(f"[bold red]error[/] {escape(f'[{exc.reason}] {exc.message}')}")
    return typer.Exit(code=1)


@contextmanager
def _refusals() -> Iterator[None]:
    """A refusal, the pipeline's or AWS's, as one line on stderr and exit code 1."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except PipelineError as exc:
        raise _fail(exc) from exc
    except ClientError as exc:
        error = exc.response["Error"]
        refusal = f"AWS refused {exc.operation_name}: {error.get('Code')}: {error.get('Message')}"
        raise _fail(DlqError(refusal, reason="aws_error")) from exc
    except BotoCoreError as exc:
        hint = "check credentials and --region, or pass --endpoint-url for a local stack"
        raise _fail(DlqError(f"No answer from AWS: {exc}; {hint}.", reason="aws_error")) from exc


def age(seconds: float | None) -> str:
    """A short age: 42s, 5m, 3h, 2d."""
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size:.0f}{unit}"
    return f"{max(seconds, 0):.0f}s"


def _reasons(queue: FailureQueue) -> str:
    counts: dict[str, int] = {}
    for message in queue.messages:
        counts[message.parked.reason] = counts.get(message.parked.reason, 0) + 1
    return ", ".join(f"{reason} x{n}" if n > 1 else reason for reason, n in sorted(counts.items()))


@app.callback()
def overview(
    ctx: typer.Context,
    json_out: JsonOpt = False,
    stack_name: StackOpt = "pipeline",
    endpoint_url: EndpointOpt = "http://127.0.0.1:4566",
    region: RegionOpt = "us-east-1",
) -> None:
    """Every dead-letter and failed-work queue: depth, oldest message, reasons."""
    if ctx.invoked_subcommand is not None:
        return
    with _refusals():
        stack = _stack(stack_name, endpoint_url, region)
        queues = [peek(stack, q) if q.depth else q for q in failure_queues(stack)]
    if json_out:
        print_json([q.to_json(with_messages=True) for q in queues])
        return
    waiting = sum(q.depth + q.in_flight for q in queues)
    table = Table(title=f"Failure queues: {waiting} message(s) waiting", title_justify="left")
    for column in ("Queue", "Kind", "Depth", "Oldest", "Reasons"):
        table.add_column(column, overflow="fold", justify="right" if column == "Depth" else "left")
    for queue in queues:
        depth = str(queue.depth) + (f" (+{queue.in_flight})" if queue.in_flight else "")
        table.add_row(queue.name, queue.kind, depth, age(queue.oldest_s), _reasons(queue))
    console.print(table)
    if waiting:
        console.print("`pipeline dlq show NAME`: its messages. `pipeline dlq redrive --all`: retry all.")


@app.command()
def show(
    name: Annotated[str, typer.Argument(help="A queue, e.g. failed-uploads (`pipeline dlq` lists them).")],
    limit: Annotated[int, typer.Option(min=1, help="Most messages to read.")] = PEEK_LIMIT,
    json_out: JsonOpt = False,
    stack_name: StackOpt = "pipeline",
    endpoint_url: EndpointOpt = "http://127.0.0.1:4566",
    region: RegionOpt = "us-east-1",
) -> None:
    """The messages waiting in one queue: what each concerns and why it failed."""
    with _refusals():
        stack = _stack(stack_name, endpoint_url, region)
        queue = peek(stack, find(stack, name), limit)
    if json_out:
        print_json(queue.to_json(with_messages=True))
        return
    table = Table(
        title=f"{queue.name} ({queue.kind}): {queue.depth} waiting, oldest {age(queue.oldest_s)}",
        title_justify="left",
    )
    for column in ("#", "Message", "Age", "Concerns", "Reason"):
        table.add_column(column, overflow="fold")
    now = time.time()
    for n, message in enumerate(queue.messages, 1):
        parked = message.parked
        subject = f"{parked.concerns} {parked.subject}".strip()
        table.add_row(str(n), message.message_id[:8], age(now - message.sent_at), subject, parked.reason)
    console.print(table)
    for n, message in enumerate(queue.messages, 1):
        console.print(f"[bold]{n}[/] {escape(message.parked.label)}: {escape(message.parked.detail)}")


@app.command(name="redrive")
def redrive_command(
    name: Annotated[str | None, typer.Argument(help="A queue (`pipeline dlq` lists them).")] = None,
    all_queues: Annotated[bool, typer.Option("--all", help="Redrive every queue with messages.")] = False,
    wait: Annotated[float, typer.Option(help="Seconds to wait for SQS move tasks to finish.")] = 60.0,
    json_out: JsonOpt = False,
    stack_name: StackOpt = "pipeline",
    endpoint_url: EndpointOpt = "http://127.0.0.1:4566",
    region: RegionOpt = "us-east-1",
) -> None:
    """Bring parked messages back: DLQs to their source queue, failed work to its workflow."""
    if (name is None) == (not all_queues):
        raise typer.BadParameter("Name one queue or pass --all.", param_hint="NAME")
    with _refusals():
        stack = _stack(stack_name, endpoint_url, region)
        queues = failure_queues(stack) if all_queues else [find(stack, str(name))]
        results = [redrive(stack, q, wait) for q in queues if q.depth + q.in_flight or not all_queues]
    if json_out:
        print_json([asdict(r) for r in results])
    else:
        table = Table(title="Redrive", title_justify="left")
        for column in ("Queue", "Kind", "Redriven", "Of", "Status"):
            table.add_column(column)
        for r in results:
            table.add_row(r.name, r.kind, str(r.moved), str(r.to_move), r.status)
        console.print(table if results else "Nothing waits in any failure queue.")
        for r in results:
            for failure in r.failures:
                errors.print(f"[red]✗[/] {r.name} {escape(failure)}")
    if any(r.failures for r in results):
        raise typer.Exit(code=1)


@app.command(name="purge")
def purge_command(
    name: Annotated[str, typer.Argument(help="A queue (`pipeline dlq` lists them).")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    json_out: JsonOpt = False,
    stack_name: StackOpt = "pipeline",
    endpoint_url: EndpointOpt = "http://127.0.0.1:4566",
    region: RegionOpt = "us-east-1",
) -> None:
    """Delete every message of one queue, for good."""
    with _refusals():
        stack = _stack(stack_name, endpoint_url, region)
        queue = find(stack, name)
        if not yes:
            typer.confirm(
                f"Delete the {queue.depth + queue.in_flight} message(s) of {queue.name} for good?", abort=True
            )
        deleted = purge(stack, queue)
    if json_out:
        print_json({"name": queue.name, "purged": deleted})
    else:
        console.print(f"[green]✓[/] {queue.name}: {deleted} message(s) purged.")
