"""`pipeline dlq`'s pure parts: what a parked message concerns and why, and how its workflow starts again."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from pipeline.cli.dlq import (
    FAILED_WORK,
    RETRIES_EXHAUSTED,
    UNREADABLE,
    DlqError,
    FailureQueue,
    Parked,
    age,
    parse_parked,
    queue_name,
    redrive,
    restart,
    workflow_error,
)
from pipeline.cli.uploads import Stack
from pipeline.logic import changes, keys
from pipeline.models import ObjectRef

SOURCE = {"bucket": "ingest", "key": "uploads/cats/tom.jpg", "version_id": "v1", "size": 3}
ITEM = keys.item_id("ingest", "uploads/cats/tom.jpg")
CHANGE = {
    "schema_version": 1,
    "source": "shop",
    "entity": "product",
    "id": "p-1",
    "op": "upsert",
    "sequence": 7,
    "occurred_at": "2026-11-23T10:10:00+01:00",
    "data": {"title": "Mug"},
}
S3_EVENT = {
    "Records": [
        {
            "eventName": "ObjectCreated:Put",
            "s3": {
                "bucket": {"name": "ingest"},
                "object": {"key": "uploads/cats/tom.jpg", "versionId": "v1"},
            },
        }
    ]
}


def _lambda_cause(error_type: str, message: str) -> str:
    """A Lambda task's Cause as Step Functions carries it."""
    return json.dumps({"errorMessage": message, "errorType": error_type, "stackTrace": ["  File ..."]})


def test_a_failed_upload_names_its_item_key_and_the_pipelines_reason() -> None:
    # Given the FileWorkflow's state as its Failed state sends it, after a TransientError
    state = {
        "source": SOURCE,
        "validated": {"upload": {}},
        "error": {
            "Error": "TransientError",
            "Cause": _lambda_cause("TransientError", "transient_error: DynamoDB PutItem failed: throttled"),
        },
    }
    # When it is read
    parked = parse_parked(json.dumps(state))
    # Then it concerns that item, with the pipeline's reason code and sentence
    assert parked == Parked(
        "upload", ITEM, "uploads/cats/tom.jpg", "transient_error", "DynamoDB PutItem failed: throttled"
    )


def test_a_failed_change_names_its_record_and_an_unforeseen_error_keeps_its_name() -> None:
    # Given the ChangeWorkflow's failed state after an error that is not the pipeline's own
    cause = _lambda_cause("ValidationError", "1 validation error for Settings\nmax_pixels\n  not an integer")
    state = {"raw": json.dumps(CHANGE), "error": {"Error": "ValidationError", "Cause": cause}}
    # When it is read
    parked = parse_parked(json.dumps(state))
    # Then it names the record and sequence, the error's type as reason, and its message on one line
    assert (parked.concerns, parked.subject, parked.label) == (
        "change",
        "product/p-1",
        "upsert product/p-1 #7",
    )
    assert parked.reason == "ValidationError"
    assert parked.detail == "1 validation error for Settings max_pixels not an integer"


def test_a_states_error_without_a_lambda_cause_keeps_the_states_name() -> None:
    # Given errors Step Functions raises itself, with and without a Cause
    # Then the error's name is the reason, and there is always a sentence
    assert workflow_error({"Error": "States.Timeout", "Cause": "Task timed out."}) == (
        "States.Timeout",
        "Task timed out.",
    )
    assert workflow_error({"Error": "States.Runtime"}) == (
        "States.Runtime",
        "The workflow failed with States.Runtime.",
    )


def test_a_dead_lettered_upload_event_raw_or_in_an_sns_envelope_names_its_item() -> None:
    # Given an S3 event moved to a DLQ from a raw-delivery queue, and one in an SNS envelope (the audit queue)
    raw = json.dumps(S3_EVENT)
    envelope = json.dumps({"Type": "Notification", "Message": raw, "TopicArn": "arn:aws:sns:r:1:t"})
    source = "arn:aws:sqs:us-east-1:123456789012:stack-UploadsQueue-X"
    # When each is read
    for body in (raw, envelope):
        parked = parse_parked(body, source_queue=source)
        # Then it names the item and key, and says its consumer gave up, from which queue
        assert (parked.concerns, parked.subject, parked.label) == ("upload", ITEM, "uploads/cats/tom.jpg")
        assert parked.reason == RETRIES_EXHAUSTED
        assert "from stack-UploadsQueue-X" in parked.detail


def test_a_dead_lettered_change_event_names_its_record() -> None:
    parked = parse_parked(json.dumps(CHANGE))
    assert (parked.concerns, parked.subject, parked.reason) == ("change", "product/p-1", RETRIES_EXHAUSTED)


def test_a_message_its_consumer_parked_itself_carries_its_reason_in_attributes() -> None:
    # Given an item event Notify could not read, parked with its reason as message attributes
    body = json.dumps({"event": "exploded", "item_id": "abc"})
    # When it is read
    parked = parse_parked(body, {"reason": "unknown_event", "error": "Not an item event: event"})
    # Then the attributes' reason and sentence are the message's
    assert parked == Parked(
        "item-event", "abc", "exploded event of abc", "unknown_event", "Not an item event: event"
    )


def test_a_body_that_is_not_json_is_unreadable_not_an_error() -> None:
    parked = parse_parked("hello\nworld")
    assert (parked.concerns, parked.label, parked.reason) == ("unknown", "hello world", UNREADABLE)


def test_a_failed_upload_restarts_with_its_original_input_under_a_name_of_key_and_message() -> None:
    # Given a failed upload's state
    body = json.dumps({"source": SOURCE, "error": {"Error": "States.Timeout"}})
    # When its restart is derived twice from the same message, and once from another
    name, payload = restart(body, "m-1")
    again, _ = restart(body, "m-1")
    other, _ = restart(body, "m-2")
    # Then the input is what the consumer starts it with, and the name is stable per message only
    assert payload == {"source": SOURCE}
    assert name == again == keys.execution_name(ObjectRef.model_validate(SOURCE), "redrive:m-1")
    assert other != name
    assert len(name) <= 80


def test_a_failed_change_restarts_with_its_raw_event_even_when_invalid() -> None:
    # Given a valid change and an invalid one (the workflow rejects that one with its reason)
    raw = json.dumps(CHANGE)
    name, payload = restart(json.dumps({"raw": raw, "error": {}}), "m-1")
    assert payload == {"raw": raw}
    assert name == changes.execution_name(changes.parse_change(raw), raw, "redrive:m-1")
    _, payload = restart(json.dumps({"raw": "{not json", "error": {}}), "m-1")
    assert payload == {"raw": "{not json"}


@pytest.mark.parametrize("body", ["not json", json.dumps({"error": {}}), json.dumps({"source": {"key": 1}})])
def test_a_message_without_workflow_input_cannot_restart(body: str) -> None:
    with pytest.raises(DlqError) as raised:
        restart(body, "m-1")
    assert raised.value.reason == UNREADABLE


def test_queue_names_and_ages_are_short() -> None:
    assert queue_name("UploadsDeadLetterQueueUrl") == "uploads-dlq"
    assert queue_name("FailedChangesQueueUrl") == "failed-changes"
    assert [age(None), age(4.6), age(125), age(7200), age(3 * 86400)] == ["-", "5s", "2m", "2h", "3d"]


# --- redrive of failed work, against fakes of SQS and a STANDARD workflow --------------------------------
class FakeQueue:
    """One SQS queue: a received message is hidden until it is deleted or made visible again."""

    def __init__(self, bodies: list[str]) -> None:
        self.messages = {f"m-{n}": body for n, body in enumerate(bodies)}
        self.hidden: set[str] = set()
        self.failing_deletes = 0

    def receive_message(self, **_: Any) -> dict[str, Any]:
        visible = [(mid, body) for mid, body in self.messages.items() if mid not in self.hidden][:10]
        self.hidden.update(mid for mid, _ in visible)
        return {"Messages": [{"MessageId": m, "ReceiptHandle": m, "Body": b} for m, b in visible]}

    def delete_message(self, **call: str) -> None:
        if self.failing_deletes:
            self.failing_deletes -= 1
            raise ClientError({"Error": {"Code": "InternalError", "Message": "try again"}}, "DeleteMessage")
        del self.messages[call["ReceiptHandle"]]
        self.hidden.discard(call["ReceiptHandle"])

    def change_message_visibility_batch(self, **call: Any) -> None:
        self.hidden.difference_update(entry["ReceiptHandle"] for entry in call["Entries"])

    def expire_visibility(self) -> None:
        self.hidden.clear()


class FakeStandardWorkflow:
    """StartExecution as STANDARD answers it: a name already used is refused."""

    def __init__(self) -> None:
        self.started: list[tuple[str, dict[str, Any]]] = []

    def start_execution(self, **call: str) -> dict[str, str]:
        if any(call["name"] == used for used, _ in self.started):
            raise ClientError({"Error": {"Code": "ExecutionAlreadyExists"}}, "StartExecution")
        self.started.append((call["name"], json.loads(call["input"])))
        return {"executionArn": f"{call['stateMachineArn']}:{call['name']}"}


def _failed_uploads(sqs: FakeQueue, sfn: FakeStandardWorkflow) -> tuple[Stack, FailureQueue]:
    stack = Stack({}, None, _clients={"sqs": sqs, "stepfunctions": sfn})
    queue = FailureQueue("failed-uploads", "FailedUploadsQueueUrl", "url", "arn", FAILED_WORK, ["sm"], 1)
    return stack, queue


def test_a_failed_work_message_is_restarted_once_even_when_its_delete_failed() -> None:
    # Given a failed upload in its queue, and a delete that fails once after its workflow started
    sqs, sfn = FakeQueue([json.dumps({"source": SOURCE, "error": {}})]), FakeStandardWorkflow()
    sqs.failing_deletes = 1
    stack, queue = _failed_uploads(sqs, sfn)
    # When it is redriven: started, but still queued, and said so
    first = redrive(stack, queue)
    assert (first.moved, first.status, len(sfn.started)) == (1, "FAILED", 1)
    assert "started, but not deleted" in first.failures[0]
    # And redriven again once it is visible again
    sqs.expire_visibility()
    second = redrive(stack, queue)
    # Then its execution name is taken, so nothing runs twice, and the message is gone
    assert (second.moved, second.status, second.failures) == (1, "COMPLETED", [])
    assert sfn.started == [(restart(json.dumps({"source": SOURCE}), "m-0")[0], {"source": SOURCE})]
    assert sqs.messages == {}


def test_a_failed_work_message_that_cannot_restart_stays_visible_with_its_reason() -> None:
    # Given a message with no workflow input beside a good one
    sqs, sfn = FakeQueue(["{}", json.dumps({"source": SOURCE, "error": {}})]), FakeStandardWorkflow()
    stack, queue = _failed_uploads(sqs, sfn)
    # When the queue is redriven
    result = redrive(stack, queue)
    # Then the good one starts; the other stays, visible again at once, its reason reported
    assert (result.moved, result.status, len(sfn.started)) == (1, "FAILED", 1)
    assert result.failures == ["m-0: unreadable: The message names no workflow input (`source` or `raw`)."]
    assert list(sqs.messages) == ["m-0"] and not sqs.hidden
