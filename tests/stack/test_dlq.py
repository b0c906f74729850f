"""`pipeline dlq` on the project's stack: work parked in each kind of failure queue is shown with its reason,
and a redrive, once the cause is fixed, brings it to its normal outcome."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image
from typer.testing import CliRunner

from embedded_aws.stack import DeployedStack, EmbeddedAws, poll_until
from pipeline.cli.app import app
from pipeline.cli.dlq import failure_queues
from pipeline.cli.uploads import Stack, upload, wait
from pipeline.client import ChangeClient
from pipeline.logic.keys import item_id
from tests.conftest import ROOT, update_function

pytestmark = pytest.mark.stack

STACK = "dlq"
#: Queues whose consumer fails in the test, and their consumer.
CONSUMERS = {
    "UploadsQueue": "StartWorkflowFunction",
    "ChangesQueue": "StartChangeWorkflowFunction",
    "AuditQueue": "ArchiveFunction",
}
#: Their visibility timeout in the test (for a crash before a consumer sets its redelivery delay): 2 s.
RETRY_S = 2


@pytest.fixture(scope="module")
def deployed(aws: EmbeddedAws) -> Iterator[DeployedStack]:
    yield aws.deploy(ROOT / "template.yaml", STACK, {"ThumbnailWidths": "64"})
    aws.delete(STACK)


def _jpeg(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (80, 60), (seed * 40 % 256, 120, 200)).save(buffer, "JPEG")
    return buffer.getvalue()


def _change(record: str, sequence: int) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "source": "shop",
        "entity": "product",
        "id": record,
        "op": "upsert",
        "sequence": sequence,
        "occurred_at": "2026-11-23T10:00:00Z",
        "data": {"title": record},
    }


def _retry_every(aws: EmbeddedAws, deployed: DeployedStack, seconds: int, window_s: int) -> None:
    """Set the consumer queues' visibility timeout (a failed message is received again after it) and their
    mappings' batching window. Updating a mapping restarts its pollers, so that they receive with the new
    timeout (a long poll in progress keeps the timeout it started with)."""
    sqs, lam = aws.client("sqs"), aws.client("lambda")
    for queue, function in CONSUMERS.items():
        sqs.set_queue_attributes(
            QueueUrl=deployed.physical_id(queue), Attributes={"VisibilityTimeout": str(seconds)}
        )
        mappings = lam.list_event_source_mappings(FunctionName=deployed.physical_id(function))
        for mapping in mappings["EventSourceMappings"]:
            lam.update_event_source_mapping(UUID=mapping["UUID"], MaximumBatchingWindowInSeconds=window_s)


def _depths(stack: Stack) -> dict[str, int]:
    return {q.name: q.depth + q.in_flight for q in failure_queues(stack)}


def _cli(aws: EmbeddedAws, *args: str, answer: str | None = None, exit_code: int = 0) -> str:
    """`pipeline dlq ARGS` against the test's stack; its output."""
    where = ["--stack-name", STACK, "--endpoint-url", aws.endpoint_url]
    result = CliRunner().invoke(app, ["dlq", *args, *where], input=answer)
    assert result.exit_code == exit_code, result.output
    return result.stdout


def _archived(stack: Stack) -> str:
    """Every archived event's text, concatenated."""
    s3 = stack.client("s3")
    bucket = stack.outputs["ArchiveBucketName"]
    listing = s3.list_objects_v2(Bucket=bucket, Prefix="archive/").get("Contents", [])
    return "".join(s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read().decode() for o in listing)


def test_parked_work_is_shown_with_its_reason_and_redriven_to_its_normal_outcome(
    aws: EmbeddedAws, deployed: DeployedStack
) -> None:
    stack = Stack(deployed.outputs, aws.endpoint_url, aws.region)
    changes = ChangeClient(deployed.outputs["ChangeEventsTopicArn"], aws.client("sns"))
    gone = "arn:aws:states:us-east-1:123456789012:stateMachine:gone"
    # Given a workflow step of each workflow failing on every attempt (a bad environment)
    originals = {
        fn: update_function(aws, deployed, fn, env)
        for fn, env in {
            "ValidateFunction": {"MAX_PIXELS": "not-a-number"},
            "RecordChangeFunction": {"METADATA_TABLE": "no-such-table"},
        }.items()
    }
    # When a photo and a change go through, their workflows give up and park them in the failed-work queues
    failed_upload = upload(stack, [("failed.jpg", _jpeg(1))], "dlq")
    assert all(r.ok for r in changes.emit([_change("p-failed", 1)]))
    assert poll_until(lambda: _depths(stack)["failed-uploads"] == _depths(stack)["failed-changes"] == 1, 60)
    # And when the queues' consumers fail too (their redelivery delays 1, 2, 4 s... here, not 8, 16, 32 s...),
    # another photo and change wait in the DLQs of the uploads, changes and audit queues
    _retry_every(aws, deployed, RETRY_S, window_s=0)
    quick = {"REDELIVERY_BASE_SECONDS": "1"}
    for fn, env in {
        "StartWorkflowFunction": {"FILE_WORKFLOW_ARN": gone, **quick},
        "StartChangeWorkflowFunction": {"CHANGE_WORKFLOW_ARN": gone, **quick},
        "ArchiveFunction": {"ARCHIVE_BUCKET": "no-such-bucket", **quick},
    }.items():
        originals[fn] = update_function(aws, deployed, fn, env)
    dead_upload = upload(stack, [("dead.jpg", _jpeg(2))], "dlq")
    assert all(r.ok for r in changes.emit([_change("p-dead", 1)]))
    expected = {"uploads-dlq": 1, "changes-dlq": 1, "audit-dlq": 2, "failed-uploads": 1, "failed-changes": 1}
    assert poll_until(lambda: {k: v for k, v in _depths(stack).items() if v} == expected or None, 60), (
        _depths(stack)
    )

    # Then `pipeline dlq` lists each queue with its reasons, in 80 columns
    table = _cli(aws)
    assert all(len(line) <= 80 for line in table.splitlines()), table
    assert "retries_exhausted" in table and "transient_error" in table
    # And per message, the item or record it concerns and why it failed
    queues = {q["name"]: q for q in json.loads(_cli(aws, "--json"))}
    concerns = {
        name: sorted((m["concerns"], m["subject"], m["reason"]) for m in q.get("messages", []))
        for name, q in queues.items()
    }
    ingest = deployed.outputs["IngestBucketName"]
    failed_item, dead_item = (item_id(ingest, o[0].key) for o in (failed_upload, dead_upload))
    assert concerns["failed-uploads"] == [("upload", failed_item, "ValidationError")]
    assert concerns["failed-changes"] == [("change", "product/p-failed", "transient_error")]
    assert concerns["uploads-dlq"] == [("upload", dead_item, "retries_exhausted")]
    assert concerns["changes-dlq"] == [("change", "product/p-dead", "retries_exhausted")]
    assert concerns["audit-dlq"] == [
        ("change", "product/p-dead", "retries_exhausted"),
        ("upload", dead_item, "retries_exhausted"),
    ]
    shown = _cli(aws, "show", "failed-changes")
    assert "DynamoDB GetItem failed" in shown and "upsert product/p-failed #1" in shown
    assert all(len(line) <= 80 for line in shown.splitlines()), shown

    # When the causes are fixed and every queue is redriven
    for fn, env in originals.items():
        update_function(aws, deployed, fn, env)
    _retry_every(aws, deployed, 60, window_s=1)  # the template's
    redriven = {r["name"]: r for r in json.loads(_cli(aws, "redrive", "--all", "--json"))}

    # Then each queue's messages went back: DLQs by a completed move task, failed work by new executions
    assert {name: (r["moved"], r["status"]) for name, r in redriven.items()} == {
        "audit-dlq": (2, "COMPLETED"),
        "changes-dlq": (1, "COMPLETED"),
        "failed-changes": (1, "COMPLETED"),
        "failed-uploads": (1, "COMPLETED"),
        "uploads-dlq": (1, "COMPLETED"),
    }
    # And each reaches its normal outcome: photos published, changes recorded, events archived
    outcomes = wait(stack, failed_upload + dead_upload, timeout_s=60)
    assert [(o.state, o.version) for o in outcomes] == [("published", 1), ("published", 1)]
    public = deployed.outputs["PublicBucketName"]

    def recorded(record: str) -> bool:
        listing = aws.client("s3").list_objects_v2(Bucket=public, Prefix=f"records/product/{record}.json")
        return bool(listing.get("KeyCount"))

    assert poll_until(lambda: recorded("p-failed") and recorded("p-dead"), timeout_s=60)
    assert poll_until(
        lambda: all(key in _archived(stack) for key in ("p-failed", "p-dead", "failed.jpg", "dead.jpg")), 60
    )
    # And every failure queue is empty; a second redrive has nothing to do
    assert poll_until(lambda: sum(_depths(stack).values()) == 0 or None, timeout_s=30)
    assert "Nothing waits" in _cli(aws, "redrive", "--all")


def test_a_message_its_consumer_parked_shows_its_reason_and_is_purged_only_when_confirmed(
    aws: EmbeddedAws, deployed: DeployedStack
) -> None:
    stack = Stack(deployed.outputs, aws.endpoint_url, aws.region)
    # Given an item event Notify cannot turn into a notification: it parks it itself, with its reason
    event = {"event": "exploded", "item_id": "item-1"}
    aws.client("sns").publish(TopicArn=deployed.outputs["ItemEventsTopicArn"], Message=json.dumps(event))
    assert poll_until(lambda: _depths(stack)["notify-dlq"] == 1 or None, timeout_s=30)
    # When its queue is shown, the reason Notify gave is the message's
    shown = json.loads(_cli(aws, "show", "notify-dlq", "--json"))
    assert [(m["concerns"], m["subject"], m["reason"]) for m in shown["messages"]] == [
        ("item-event", "item-1", "unknown_event")
    ]
    # And when a purge of it is not confirmed, nothing is deleted
    _cli(aws, "purge", "notify-dlq", answer="n\n", exit_code=1)
    assert _depths(stack)["notify-dlq"] == 1
    # But when it is, the queue is empty
    assert "1 message(s) purged" in _cli(aws, "purge", "notify-dlq", answer="y\n")
    assert _depths(stack)["notify-dlq"] == 0
