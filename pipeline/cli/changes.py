"""Client-side tools for change events: what the ChangeWorkflow made of each event, and the public records.

Used by `pipeline demo`. Outcomes are read back from the pipeline itself: each ChangeWorkflow execution's
input (the event's text) and output (recorded, duplicate, stale or rejected), from the workflow's log group.
Express executions cannot be listed or described (on AWS, and so on the embedded AWS): their history goes to
CloudWatch Logs only, when the stack logs at Level ALL with execution data. Not deployed to Lambda.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipeline.adapters.objects import ObjectStore
from pipeline.adapters.topics import Topic
from pipeline.cli.uploads import Stack
from pipeline.client import ChangeClient
from pipeline.errors import PipelineError
from pipeline.logic.changes import listing_key


@dataclass
class ChangeOutcome:
    """What the pipeline made of one emitted event."""

    text: str
    outcome: str = "pending"  # pending | recorded | duplicate | stale | rejected | failed
    detail: str = ""


@dataclass(frozen=True)
class _Execution:
    started: float
    text: str
    outcome: str
    detail: str


def _read(started: dict[str, Any], ended: dict[str, Any]) -> _Execution:
    """One execution from its ExecutionStarted and final log records (AWS's vended-log format)."""
    given = json.loads(started["details"].get("input") or "{}")
    when = int(started["event_timestamp"]) / 1000
    if ended["type"] != "ExecutionSucceeded":
        status = ended["type"].removeprefix("Execution").upper()
        return _Execution(when, str(given.get("raw", "")), "failed", status)
    output = json.loads(ended["details"].get("output") or "{}")
    if "rejected" in output:
        rejected = output["rejected"]["event"]
        return _Execution(when, output["raw"], "rejected", f"{rejected['reason']}: {rejected['detail']}")
    return _Execution(when, output["raw"], output["recorded"]["outcome"], "")


#: Stack parameters under which ChangeWorkflow logs what `ChangeOutcomes` reads.
LOGGED_OUTCOMES = {"WorkflowLogLevel": "ALL", "WorkflowLogExecutionData": "true"}
#: Log record types that end an execution.
_ENDS = ("ExecutionSucceeded", "ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted")


class ChangeOutcomes:
    """Reads finished ChangeWorkflow executions from its log group, each once."""

    def __init__(self, stack: Stack) -> None:
        workflow = stack.outputs["ChangeWorkflowArn"]
        logging = stack.client("stepfunctions").describe_state_machine(stateMachineArn=workflow)
        config = logging.get("loggingConfiguration") or {}
        if config.get("level") != "ALL" or not config.get("includeExecutionData"):
            raise PipelineError(
                "ChangeWorkflow does not log its executions' input and output, so their outcomes cannot be "
                "read. Deploy with WorkflowLogLevel=ALL and WorkflowLogExecutionData=true (`pipeline up "
                "--param WorkflowLogLevel=ALL --param WorkflowLogExecutionData=true`).",
                reason="outcomes_not_logged",
            )
        self.logs = stack.client("logs")
        self.group = stack.outputs["ChangeWorkflowLogGroupName"]
        self._since_ms = 0
        self._records: set[str] = set()
        self._starts: dict[str, dict[str, Any]] = {}
        self._ends: dict[str, dict[str, Any]] = {}
        self._seen: dict[str, _Execution] = {}

    def _finished(self) -> list[_Execution]:
        paginator = self.logs.get_paginator("filter_log_events")
        for page in paginator.paginate(logGroupName=self.group, startTime=self._since_ms):
            for event in page["events"]:
                if event["eventId"] in self._records:
                    continue
                self._records.add(event["eventId"])
                # Records can land out of order within a second; re-read that second next time.
                self._since_ms = max(self._since_ms, int(event["timestamp"]) - 1000)
                record = json.loads(event["message"])
                if record["type"] == "ExecutionStarted":
                    self._starts[record["execution_arn"]] = record
                elif record["type"] in _ENDS:
                    self._ends[record["execution_arn"]] = record
        for arn, ended in self._ends.items():
            if arn not in self._seen and arn in self._starts:  # both records read, in whichever order
                self._seen[arn] = _read(self._starts[arn], ended)
        return sorted(self._seen.values(), key=lambda e: e.started)

    def match(self, outcomes: list[ChangeOutcome]) -> None:
        """Fill in each emitted event's outcome: the n-th emission of a text gets its n-th execution."""
        by_text: dict[str, list[_Execution]] = defaultdict(list)
        for execution in self._finished():
            by_text[execution.text].append(execution)
        taken: dict[str, int] = defaultdict(int)
        for outcome in outcomes:
            runs = by_text.get(outcome.text, [])
            n = taken[outcome.text]
            taken[outcome.text] += 1
            if n < len(runs):
                outcome.outcome, outcome.detail = runs[n].outcome, runs[n].detail

    def wait(
        self,
        outcomes: list[ChangeOutcome],
        timeout_s: float,
        on_done: Callable[[ChangeOutcome], None] | None = None,
    ) -> list[ChangeOutcome]:
        """Poll until every event has an outcome or the deadline passes (then some stay pending).

        Pass every event emitted so far, in order: the n-th emission of the same text is the n-th execution.
        """
        deadline = time.monotonic() + timeout_s
        waiting = [o for o in outcomes if o.outcome == "pending"]
        while True:
            self.match(outcomes)
            for outcome in [o for o in waiting if o.outcome != "pending"]:
                waiting.remove(outcome)
                if on_done is not None:
                    on_done(outcome)
            if not waiting or time.monotonic() >= deadline:
                return outcomes
            time.sleep(0.25)


def public_records(stack: Stack, entity: str) -> tuple[dict[str, dict[str, Any]], dict[str, Any] | None]:
    """Every `records/<entity>/<id>.json` document by id, and the entity's listing."""
    s3 = stack.client("s3")
    store = ObjectStore(s3)
    bucket = stack.outputs["PublicBucketName"]
    documents: dict[str, dict[str, Any]] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"records/{entity}/"):
        for entry in page.get("Contents", []):
            document, _ = store.read_json(bucket, entry["Key"])
            if document is not None:
                documents[document["id"]] = document
    listing, _ = store.read_json(bucket, listing_key(entity))
    return documents, listing


def expected_state(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each record's latest change among valid events: the highest sequence wins, a delete included."""
    latest: dict[str, dict[str, Any]] = {}
    for event in events:
        current = latest.get(event["id"])
        if current is None or event["sequence"] > current["sequence"]:
            latest[event["id"]] = event
    return latest


def state_differences(
    expected: dict[str, dict[str, Any]],
    documents: dict[str, dict[str, Any]],
    listing: dict[str, Any] | None,
) -> list[str]:
    """How the public JSON differs from the latest non-deleted state; empty when it matches exactly."""
    problems = []
    if set(documents) != set(expected):
        problems.append(f"record documents {sorted(documents)}, expected {sorted(expected)}")
    for record_id, event in sorted(expected.items()):
        document = documents.get(record_id)
        if document is None:
            continue
        deleted = event["op"] == "delete"
        if (document["sequence"], document["deleted"], document.get("data")) != (
            event["sequence"],
            deleted,
            event.get("data"),
        ):
            problems.append(
                f"{record_id}: public sequence {document['sequence']}, deleted {document['deleted']}, "
                f"data {document.get('data')}; expected {event['sequence']}, {deleted}, {event.get('data')}"
            )
    live = {i: e["sequence"] for i, e in expected.items() if e["op"] != "delete"}
    gone = {i: e["sequence"] for i, e in expected.items() if e["op"] == "delete"}
    listed = {e["id"]: e["sequence"] for e in (listing or {}).get("items", [])}
    if (
        listed != live
        or (listing or {}).get("deleted", {}) != gone
        or (listing or {}).get("count") != len(live)
    ):
        problems.append(f"listing {listing}; expected items {live} and deleted {gone}")
    return problems


@dataclass(frozen=True)
class DemoEvent:
    """One event of the demo's burst: what it is, the event, and what the pipeline should make of it."""

    label: str
    event: dict[str, Any] | str
    expected: str

    @property
    def text(self) -> str:
        if isinstance(self.event, str):
            return self.event
        return json.dumps(self.event, separators=(",", ":"))


def _product(record_id: str, sequence: int, op: str = "upsert", **data: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "schema_version": 1,
        "source": "shop-db",
        "entity": "product",
        "id": record_id,
        "op": op,
        "sequence": sequence,
        "occurred_at": f"2026-11-24T09:00:{sequence:02d}Z",
        "owner": "demo",
        "collection": "catalog",
    }
    if op == "upsert":
        event["data"] = data
    return event


#: Three waves, each sent at once and let settle before the next, so that "duplicate" and "stale" are what a
#: reader expects: the second copy and the older update arrive after the newer change is recorded.
DEMO_WAVES: list[list[DemoEvent]] = [
    [
        DemoEvent("insert", _product("p-100", 1, name="Kettle", price=25), "recorded"),
        DemoEvent("insert", _product("p-200", 1, name="Teapot", price=18), "recorded"),
        DemoEvent("insert", _product("p-300", 1, name="Mug", price=6), "recorded"),
        DemoEvent("insert", _product("p-400", 1, name="Tray", price=12), "recorded"),
        DemoEvent(
            "invalid: sequence is text (sent around the client)",
            json.dumps({**_product("p-500", 1, name="Cup", price=4), "sequence": "one"}),
            "rejected",
        ),
    ],
    [
        DemoEvent("update", _product("p-100", 2, name="Kettle", price=22), "recorded"),
        DemoEvent("update", _product("p-200", 3, name="Teapot", price=20, colour="blue"), "recorded"),
        DemoEvent("delete", _product("p-300", 2, op="delete"), "recorded"),
    ],
    [
        DemoEvent(
            "duplicate of the p-100 update", _product("p-100", 2, name="Kettle", price=22), "duplicate"
        ),
        DemoEvent("out-of-order older update", _product("p-200", 2, name="Teapot", price=19), "stale"),
        DemoEvent("late upsert after the delete", _product("p-300", 1, name="Mug", price=5), "stale"),
    ],
]


def run_demo(
    stack: Stack, timeout_s: float, on_done: Callable[[ChangeOutcome], None] | None = None
) -> list[tuple[DemoEvent, ChangeOutcome]]:
    """Emit DEMO_WAVES one wave at a time, each let settle; returns every event with its outcome."""
    client = ChangeClient(stack.outputs["ChangeEventsTopicArn"], stack.client("sns"))
    topic = Topic(stack.outputs["ChangeEventsTopicArn"], stack.client("sns"))
    reader = ChangeOutcomes(stack)
    sent: list[tuple[DemoEvent, ChangeOutcome]] = []
    for wave in DEMO_WAVES:
        results = client.emit([e.event for e in wave if isinstance(e.event, dict)])
        # An upstream system publishing straight to the topic, past the client's validation:
        raw = topic.publish_all([e.text for e in wave if isinstance(e.event, str)])
        refused = [r.error for r in results if not r.ok] + [str(r) for r in raw if isinstance(r, Exception)]
        if refused:
            raise PipelineError(f"The demo's change events were not sent: {refused}", reason="demo_failed")
        sent.extend((e, ChangeOutcome(e.text)) for e in wave)
        reader.wait([o for _, o in sent], timeout_s, on_done=on_done)
    return sent
