"""`pipeline chaos` (`make chaos`): files and change events under faults, then a redrive; nothing lost.

1. Send: files (some bad, some uploaded again as a new version) and change events (shuffled, some sent twice,
   some invalid) go in at once while the embedded AWS injects faults (`--faults`: crashes, throttles, AWS
   errors on the functions' calls, duplicate deliveries).
2. Settle: wait until the stack is idle (its work queues empty, no workflow execution running, no
   invocation under way) and either every file and record reached its outcome or nothing moved for
   `QUIET_S`: what did not make it is then parked in a failure queue.
3. Recover: faults off, every failure queue redriven (`pipeline dlq redrive --all`), wait again; again while
   something is parked (`REDRIVE_ROUNDS` at most).
4. Judge: every good file published exactly once (an item's versions in the public bucket are exactly its
   uploads, none twice), every bad one quarantined with its reason (the quarantine bucket), the public record
   documents and listing equal to the model (the highest sequence of each record wins), every failure queue
   empty, every redrive done.

Outcomes are read through the stack's APIs, as a user would; the embedded AWS itself is asked only whether
anything is under way (`EmbeddedAws.busy`) and told which faults to inject.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipeline.cli import changes, dlq, samples, uploads
from pipeline.logic.documents import item_key

if TYPE_CHECKING:
    from embedded_aws.faults import Faults
    from embedded_aws.stack import EmbeddedAws

#: What `make chaos` injects unless told otherwise.
DEFAULT_FAULTS = "crash=0.1,throttle=0.05,aws-errors=0.05,duplicate=0.1,seed=7"
COLLECTION = "chaos"
ENTITY = "part"
#: Shares of the files that are bad, and that are a new version of a file sent before.
BAD_SHARE = 1 / 6
REUPLOAD_SHARE = 1 / 10
#: Shares of the change events that are invalid, and that are a second copy of a valid one.
INVALID_SHARE = 0.05
DUPLICATE_SHARE = 0.10
#: Change events per record, on average (each record gets sequences 1, 2, 3, ...).
EVENTS_PER_RECORD = 5
#: Bad files: (name stem, extension, maker, the reason they are quarantined with).
BAD_FILES: tuple[tuple[str, str, Callable[[], bytes], str], ...] = (
    ("notes", "jpg", samples.text_named_jpg, "unsupported_type"),
    ("broken", "jpg", samples.truncated_jpeg, "corrupt_image"),
    ("empty", "png", samples.empty_file, "empty_file"),
    ("holiday", "jpg", samples.polyglot_jpeg_zip, "polyglot"),
)
#: With the stack idle, this long without progress means the rest is parked.
QUIET_S = 5.0
#: Redrives at most, each after the stack settled again.
REDRIVE_ROUNDS = 3
PUBLISHED = "published"


# --- the plan: pure ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PlannedFile:
    """One upload: its file name under uploads/chaos/, its bytes, and `published` or the refusal reason."""

    name: str
    body: bytes = field(repr=False)
    expected: str


@dataclass(frozen=True)
class PlannedChange:
    """One change event as sent (a dict, or raw text past the client's validation) and what it is."""

    event: dict[str, Any] | str
    kind: str  # valid | duplicate | invalid

    @property
    def text(self) -> str:
        return self.event if isinstance(self.event, str) else json.dumps(self.event, separators=(",", ":"))


def plan_files(count: int, seed: int) -> list[PlannedFile]:
    """`count` uploads: small camera JPEGs, a sixth of them bad, a tenth a new version of an earlier one."""
    rng = random.Random(f"{seed}:files")
    planned: list[PlannedFile] = []
    good: list[str] = []
    for n in range(count):
        roll = rng.random()
        if roll < BAD_SHARE:
            stem, extension, make, reason = BAD_FILES[n % len(BAD_FILES)]
            planned.append(PlannedFile(f"{stem}-{n:03d}.{extension}", make(), reason))
            continue
        photo = samples.photo_jpeg(320, 240, seed=seed * 10_000 + n, orientation=1, gps=False)
        if good and roll < BAD_SHARE + REUPLOAD_SHARE:
            planned.append(PlannedFile(rng.choice(good), photo, PUBLISHED))
        else:
            good.append(f"photo-{n:03d}.jpg")
            planned.append(PlannedFile(good[-1], photo, PUBLISHED))
    return planned


def _event(record: str, sequence: int, op: str, rng: random.Random) -> dict[str, Any]:
    event: dict[str, Any] = {
        "schema_version": 1,
        "source": "chaos",
        "entity": ENTITY,
        "id": record,
        "op": op,
        "sequence": sequence,
        "occurred_at": f"2026-11-30T10:{sequence // 60 % 60:02d}:{sequence % 60:02d}Z",
        "owner": "chaos",
        "collection": COLLECTION,
    }
    if op == "upsert":
        event["data"] = {"name": f"Part {record}", "price": rng.randint(1, 500), "revision": sequence}
    return event


def plan_changes(count: int, seed: int) -> list[PlannedChange]:
    """`count` change events in shuffled order: each record's sequence 1, 2, ... (a fifth of the records end
    with a delete), a tenth sent twice, a twentieth invalid (a sequence that is text)."""
    rng = random.Random(f"{seed}:changes")
    invalid = round(count * INVALID_SHARE)
    duplicates = round(count * DUPLICATE_SHARE)
    fresh = max(0, count - invalid - duplicates)
    records = [f"c-{n:03d}" for n in range(max(1, fresh // EVENTS_PER_RECORD))]
    owners = [rng.choice(records) for _ in range(fresh)]
    total = Counter(owners)
    seen: Counter[str] = Counter()
    ends_deleted = {r for r in records if rng.random() < 0.2}
    valid: list[dict[str, Any]] = []
    for record in owners:
        seen[record] += 1
        last = seen[record] == total[record]
        op = "delete" if last and record in ends_deleted and total[record] > 1 else "upsert"
        valid.append(_event(record, seen[record], op, rng))
    planned = [PlannedChange(event, "valid") for event in valid]
    planned += [PlannedChange(rng.choice(valid), "duplicate") for _ in range(duplicates if valid else 0)]
    for n in range(invalid):
        bad = {**_event(f"x-{n:03d}", 1, "upsert", rng), "sequence": "one"}
        planned.append(PlannedChange(json.dumps(bad, separators=(",", ":")), "invalid"))
    rng.shuffle(planned)
    return planned


def model(planned: list[PlannedChange]) -> dict[str, dict[str, Any]]:
    """What the public records must show: each record's valid event with the highest sequence."""
    return changes.expected_state([p.event for p in planned if isinstance(p.event, dict)])


# --- the report -------------------------------------------------------------------------------------------
@dataclass
class ChaosReport:
    """What a chaos run sent, what the faults did, and what became of it."""

    faults: str
    files: int = 0
    bad_files: int = 0
    reuploads: int = 0
    change_events: int = 0
    duplicate_events: int = 0
    invalid_events: int = 0
    records: int = 0
    injected: dict[str, int] = field(default_factory=dict)
    send_s: float = 0.0
    settle_s: float = 0.0  # from the last send until settled under faults
    files_done_s: float | None = None  # from the last send until every file had its outcome (under faults)
    records_done_s: float | None = None  # ... until the public records equalled the model
    recover_s: float = 0.0  # from the redrive until everything reached its outcome
    parked: dict[str, int] = field(default_factory=dict)  # failure queue → messages, once settled
    parked_subjects: list[str] = field(default_factory=list)
    redriven: int = 0
    redrive_failures: list[str] = field(default_factory=list)  # what a redrive could not do
    published: int = 0
    quarantined: int = 0
    lost: list[str] = field(default_factory=list)  # files with no outcome, records not as the model
    wrong: list[str] = field(default_factory=list)  # files with another outcome than expected
    duplicated: list[str] = field(default_factory=list)  # items whose versions are not exactly their uploads
    still_parked: dict[str, int] = field(default_factory=dict)  # failure queues not empty at the end
    #: When something is lost: the workflow executions that ended failed, from their log groups (why).
    failed_workflows: list[str] = field(default_factory=list)

    @property
    def recovered(self) -> int:
        """Parked messages brought back (all of them, when nothing is left parked and nothing lost)."""
        if self.still_parked or self.lost or self.redrive_failures:
            return 0
        return sum(self.parked.values())

    @property
    def ok(self) -> bool:
        """Nothing lost, nothing duplicated, nothing wrong, nothing left parked, every redrive done."""
        return not (self.lost or self.wrong or self.duplicated or self.still_parked or self.redrive_failures)

    def to_json(self) -> dict[str, Any]:
        """The report for `--json`."""
        data = {k: v for k, v in self.__dict__.items()}
        data.update(recovered=self.recovered, ok=self.ok)
        return data


# --- the run ----------------------------------------------------------------------------------------------
@dataclass
class _Look:
    pending: list[uploads.Outcome]
    differences: list[str]
    in_queues: int
    busy: int
    parked: int

    @property
    def idle(self) -> bool:
        return self.in_queues == 0 and self.busy == 0

    @property
    def done(self) -> bool:
        return not self.pending and not self.differences and self.idle

    @property
    def progress(self) -> tuple[int, int, int, int]:
        return len(self.pending), len(self.differences), self.in_queues, self.parked


class _Watch:
    """Looks at the stack through its APIs: outcomes of the files, the public records, the queues."""

    def __init__(
        self,
        stack: uploads.Stack,
        stack_name: str,
        expected: dict[str, dict[str, Any]],
        busy: Callable[[], dict[str, int]],
    ) -> None:
        self.stack = stack
        self.expected = expected
        self.busy = busy
        self._seen: dict[int, str | None] = {}  # outcome → its item document's ETag when last looked at
        failure = {q.url for q in dlq.failure_queues(stack)}
        resources = stack.client("cloudformation").get_paginator("list_stack_resources")
        summaries = [
            r for page in resources.paginate(StackName=stack_name) for r in page["StackResourceSummaries"]
        ]
        self.work_queues = [
            r["PhysicalResourceId"]
            for r in summaries
            if r["ResourceType"] == "AWS::SQS::Queue" and r["PhysicalResourceId"] not in failure
        ]
        self.workflow_logs = [
            r["PhysicalResourceId"]
            for r in summaries
            if r["ResourceType"] == "AWS::Logs::LogGroup"
            and r["LogicalResourceId"].endswith("WorkflowLogGroup")
        ]

    def failed_workflows(self) -> list[str]:
        """Each workflow execution that ended failed, timed out or aborted, as its log group says (the
        workflows log errors by default): where lost work stopped."""
        logs = self.stack.client("logs")
        found = []
        for group in self.workflow_logs:
            for page in logs.get_paginator("filter_log_events").paginate(logGroupName=group):
                for event in page.get("events", []):
                    try:
                        entry = json.loads(event["message"])
                    except ValueError:
                        continue
                    if entry.get("type") in ("ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"):
                        details = entry.get("details") or {}
                        cause = str(details.get("cause") or "")[:160]
                        found.append(
                            f"{entry['type']} {entry.get('execution_arn', '?')[-12:]}: "
                            f"{details.get('error', '?')}: {cause}"
                        )
        return found

    def in_queues(self) -> int:
        """Messages in the work queues: visible, in flight or delayed."""
        sqs = self.stack.client("sqs")
        names = [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ]
        return sum(
            int(value)
            for url in self.work_queues
            for value in sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"].values()
        )

    def _listing(self, bucket_output: str, prefix: str) -> dict[str, str]:
        """Keys under `prefix` with their ETags."""
        s3 = self.stack.client("s3")
        pages = s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.stack.outputs[bucket_output], Prefix=prefix
        )
        return {o["Key"]: o["ETag"] for page in pages for o in page.get("Contents", [])}

    def _pending(self, outcomes: list[uploads.Outcome]) -> list[uploads.Outcome]:
        """Files without an outcome yet. A file is looked at (`uploads.check`, two reads or more) only when
        its quarantine record appeared or its item document changed since its last look: two listings a look
        instead of hundreds of reads, so that watching does not slow the stack it watches."""
        quarantined = self._listing("QuarantineBucketName", f"quarantine/uploads/{COLLECTION}/")
        items = self._listing("PublicBucketName", "items/")
        pending = []
        for outcome in (o for o in outcomes if o.state == "pending"):
            seen = items.get(item_key(outcome.item_id))
            record = f"quarantine/{outcome.key}/{outcome.version_id}/error.json"
            if (record in quarantined or seen != self._seen.get(id(outcome))) and (
                uploads.check(self.stack, outcome).state != "pending"
            ):
                continue
            self._seen[id(outcome)] = seen
            pending.append(outcome)
        return pending

    def look(self, outcomes: list[uploads.Outcome]) -> _Look:
        pending = self._pending(outcomes)
        documents, listing = changes.public_records(self.stack, ENTITY)
        differences = changes.state_differences(self.expected, documents, listing)
        parked = sum(q.depth + q.in_flight for q in dlq.failure_queues(self.stack))
        return _Look(pending, differences, self.in_queues(), sum(self.busy().values()), parked)

    def wait(
        self,
        outcomes: list[uploads.Outcome],
        timeout_s: float,
        *,
        quiet_s: float | None,
        report: ChaosReport | None = None,
        since: float = 0.0,
    ) -> _Look:
        """Until the stack is idle and everything reached its outcome, or (with `quiet_s`) it is idle and
        nothing moved for `quiet_s`, or the deadline. With `report`, notes when the files, then the records,
        were all done (seconds after `since`)."""
        deadline = time.monotonic() + timeout_s
        last, moved = self.look(outcomes), time.monotonic()
        interval = 0.5
        while True:
            if report is not None:
                if report.files_done_s is None and not last.pending:
                    report.files_done_s = time.monotonic() - since
                if report.records_done_s is None and not last.differences:
                    report.records_done_s = time.monotonic() - since
            if last.done or time.monotonic() >= deadline:
                break
            if quiet_s is not None and last.idle and time.monotonic() - moved >= quiet_s:
                break
            time.sleep(min(interval, max(0.0, deadline - time.monotonic())))
            look = self.look(outcomes)
            if look.progress != last.progress:
                moved, interval = time.monotonic(), 0.5
            else:
                interval = min(2.0, interval * 1.5)
            if not look.idle:
                moved = time.monotonic()
            last = look
        return last


def _send(
    stack: uploads.Stack, files: list[PlannedFile], events: list[PlannedChange]
) -> list[uploads.Outcome]:
    """Upload the files and emit the events at the same time (the events one by one, in their order)."""
    from pipeline.adapters.topics import Topic
    from pipeline.client import ChangeClient
    from pipeline.errors import PipelineError

    refused: list[str] = []

    def emit() -> None:
        client = ChangeClient(stack.outputs["ChangeEventsTopicArn"], stack.client("sns"))
        topic = Topic(stack.outputs["ChangeEventsTopicArn"], stack.client("sns"))
        for planned in events:
            if planned.kind == "invalid":  # an upstream system publishing past the client's validation
                results: list[Any] = topic.publish_all([planned.text])
                refused.extend(str(r) for r in results if isinstance(r, Exception))
            else:
                refused.extend(r.error or "" for r in client.emit([planned.event]) if not r.ok)

    emitter = threading.Thread(target=emit, name="chaos-events")
    emitter.start()
    try:
        outcomes = uploads.upload(stack, ((f.name, f.body) for f in files), COLLECTION)
    finally:
        emitter.join()
    if refused:
        raise PipelineError(f"Change events were not sent: {refused[:3]}", reason="chaos_failed")
    return outcomes


def _versions(stack: uploads.Stack, item_id: str) -> list[str]:
    """The source version ids of an item's published versions, one per version document."""
    from pipeline.adapters.objects import ObjectStore

    s3 = stack.client("s3")
    bucket = stack.outputs["PublicBucketName"]
    store = ObjectStore(s3)
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=f"items/{item_id}/versions/"
    ):
        for entry in page.get("Contents", []):
            document, _ = store.read_json(bucket, entry["Key"])
            if document is not None:
                found.append(str(document["source"]["version_id"]))
    return found


def _judge(
    stack: uploads.Stack,
    report: ChaosReport,
    files: list[PlannedFile],
    outcomes: list[uploads.Outcome],
    last: _Look,
) -> None:
    from pipeline.adapters.objects import ObjectStore

    for planned, outcome in zip(files, outcomes, strict=True):
        got = PUBLISHED if outcome.state == PUBLISHED else outcome.reason
        if outcome.state == "pending":
            report.lost.append(f"file {outcome.key} (version {outcome.version_id[:8]}): no outcome")
        elif got != planned.expected:
            report.wrong.append(f"file {outcome.key}: {got}, expected {planned.expected}")
    report.published = sum(o.state == PUBLISHED for o in outcomes)
    report.quarantined = sum(o.state == "quarantined" for o in outcomes)
    report.lost += [f"records: {difference}" for difference in last.differences]
    uploaded: dict[str, list[str]] = {}
    for planned, outcome in zip(files, outcomes, strict=True):
        if planned.expected == PUBLISHED:
            uploaded.setdefault(outcome.item_id, []).append(outcome.version_id)
    store = ObjectStore(stack.client("s3"))
    for item, version_ids in sorted(uploaded.items()):
        published = _versions(stack, item)
        document, _ = store.read_json(stack.outputs["PublicBucketName"], item_key(item))
        count = int(document["versions"]) if document is not None else 0
        if sorted(published) != sorted(version_ids) or count != len(version_ids):
            report.duplicated.append(
                f"item {item}: {count} version(s) {sorted(published)}, uploads {sorted(version_ids)}"
            )
    report.still_parked = {
        q.name: q.depth + q.in_flight for q in dlq.failure_queues(stack) if q.depth + q.in_flight
    }


def run(
    aws: EmbeddedAws,
    stack: uploads.Stack,
    stack_name: str,
    files: list[PlannedFile],
    events: list[PlannedChange],
    faults: Faults,
    *,
    timeout_s: float = 600.0,
    say: Callable[[str], None] = lambda _: None,
) -> ChaosReport:
    """Send, settle under `faults`, turn them off, redrive every failure queue, settle, judge."""
    expected = model(events)
    report = ChaosReport(
        faults=faults.describe(),
        files=len(files),
        bad_files=sum(f.expected != PUBLISHED for f in files),
        reuploads=len(files) - len({f.name for f in files}),
        change_events=len(events),
        duplicate_events=sum(e.kind == "duplicate" for e in events),
        invalid_events=sum(e.kind == "invalid" for e in events),
        records=len(expected),
    )
    watch = _Watch(stack, stack_name, expected, aws.busy)
    started = time.monotonic()
    aws.faults = faults
    try:
        say(f"Sending {len(files)} files and {len(events)} change events under faults ({faults.describe()})")
        outcomes = _send(stack, files, events)
        sent = time.monotonic()
        report.send_s = sent - started
        say("Waiting for the stack to settle under faults")
        last = watch.wait(outcomes, timeout_s, quiet_s=QUIET_S, report=report, since=sent)
        report.settle_s = time.monotonic() - sent
    finally:
        aws.faults = None
        report.injected = faults.counts()
    recovering = time.monotonic()
    for _ in range(REDRIVE_ROUNDS):
        parked = [q for q in dlq.failure_queues(stack) if q.depth + q.in_flight]
        if not parked:
            break
        for queue in parked:
            count = queue.depth + queue.in_flight
            report.parked[queue.name] = report.parked.get(queue.name, 0) + count
            dlq.peek(stack, queue)
            report.parked_subjects += [
                f"{queue.name}: {m.parked.label} ({m.parked.reason})" for m in queue.messages
            ]
            say(f"Faults off; redriving {queue.name} ({count} message(s))")
            redriven = dlq.redrive(stack, queue)
            report.redriven += redriven.moved
            report.redrive_failures += [f"{queue.name}: {failure}" for failure in redriven.failures]
        say("Waiting for the redriven work")
        last = watch.wait(outcomes, timeout_s, quiet_s=QUIET_S)
    if not last.done:
        last = watch.wait(outcomes, timeout_s, quiet_s=QUIET_S)
    report.recover_s = time.monotonic() - recovering
    _judge(stack, report, files, outcomes, last)
    if report.lost:
        report.failed_workflows = watch.failed_workflows()
    return report
