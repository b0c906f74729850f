"""Amazon EventBridge as AWS documents it: PutEvents, rules, patterns, targets, S3 events, schedules, DLQs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from embedded_aws import events
from embedded_aws.errors import UnsupportedResourceError
from embedded_aws.scheduler import Clock
from embedded_aws.stack import EmbeddedAws, poll_until
from tests.compat.conftest import DeployCompat

ENVELOPE_KEYS = {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}


def _scan(aws: EmbeddedAws, table: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = aws.client("dynamodb").scan(TableName=table, ConsistentRead=True)["Items"]
    return items


def _drain(aws: EmbeddedAws, queue_url: str, into: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Receive what is in the queue (deleting it) and return everything received so far."""
    sqs = aws.client("sqs")
    response = sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"], MessageAttributeNames=["All"]
    )
    for message in response.get("Messages", []):
        into.append(message)
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return into


@pytest.fixture
def fast_clock(aws: EmbeddedAws) -> Iterator[Clock]:
    """Schedules run 60 times faster than the wall clock: `rate(1 minute)` fires every second."""
    clock = events.engine().clock
    clock.set_scale(60)
    yield clock
    clock.set_scale(1)


# --- PutEvents → rule → Lambda ------------------------------------------------------------------------------
def test_put_events_on_a_custom_bus_invokes_the_matching_rule_s_function_with_the_aws_envelope(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given a custom bus whose rule matches large orders outside AQ, and a disabled rule on the default bus
    stack = deploy_compat("events_rule_lambda")
    bus, table = stack.outputs["EventBusName"], stack.outputs["TableName"]
    when = datetime(2024, 5, 3, 12, 30, 15, tzinfo=UTC)

    def order(amount: Any, country: str = "FR", **extra: Any) -> dict[str, Any]:
        return {
            "Source": "com.example.orders",
            "DetailType": "OrderPlaced",
            "Detail": json.dumps({"amount": amount, "country": country}),
            "EventBusName": bus,
            **extra,
        }

    # When events that must not match are put first (small, a string amount, AQ, another source, the
    # default bus whose rule is disabled), then one that matches
    ignored = aws.client("events").put_events(
        Entries=[
            order(99),
            order("500"),
            order(500, "AQ"),
            {**order(500), "Source": "com.example.billing"},
            {**order(500), "EventBusName": "default"},
        ]
    )
    matched = aws.client("events").put_events(
        Entries=[order(100, Time=when, Resources=["arn:aws:example:::order/1"])]
    )

    # Then every entry was accepted with an id of its own
    assert ignored["FailedEntryCount"] == 0 and matched["FailedEntryCount"] == 0
    assert len({entry["EventId"] for entry in ignored["Entries"] + matched["Entries"]}) == 6
    # ...and the function received the matching event only, in EventBridge's envelope
    items = poll_until(lambda: _scan(aws, table), timeout_s=30)
    assert len(items) == 1
    event = json.loads(items[0]["event"]["S"])
    assert set(event) == ENVELOPE_KEYS
    assert event == {
        "version": "0",
        "id": matched["Entries"][0]["EventId"],
        "detail-type": "OrderPlaced",
        "source": "com.example.orders",
        "account": "123456789012",
        "time": "2024-05-03T12:30:15Z",
        "region": aws.region,
        "resources": ["arn:aws:example:::order/1"],
        "detail": {"amount": 100, "country": "FR"},
    }
    assert _scan(aws, table) == items


def test_put_events_reports_each_failed_entry_and_refuses_oversized_requests(aws: EmbeddedAws) -> None:
    # Given the default bus
    client = aws.client("events")
    valid = {"Source": "com.example", "DetailType": "Thing", "Detail": "{}"}

    # When entries break each documented rule, among valid ones
    response = client.put_events(
        Entries=[
            valid,
            {"DetailType": "Thing", "Detail": "{}"},
            {"Source": "com.example", "Detail": "{}"},
            {"Source": "com.example", "DetailType": "Thing"},
            {**valid, "Detail": "not json"},
            {**valid, "Detail": "[1, 2]"},
            {**valid, "Source": "aws.s3"},
            {**valid, "EventBusName": "no-such-bus"},
        ]
    )

    # Then each failure is reported in place, and only those count as failed
    codes = [entry.get("ErrorCode") for entry in response["Entries"]]
    assert codes == [
        None,
        "InvalidArgument",
        "InvalidArgument",
        "InvalidArgument",
        "MalformedDetail",
        "MalformedDetail",
        "NotAuthorizedForSourceException",
        "ResourceNotFoundException",
    ]
    assert response["FailedEntryCount"] == 7
    assert "EventId" in response["Entries"][0]
    assert response["Entries"][1]["ErrorMessage"] == (
        "Parameter Source is not valid. Reason: Source is a required argument."
    )
    # ...and a request of 11 entries, or over 256 KB, is refused whole
    with pytest.raises(ClientError) as too_many:
        client.put_events(Entries=[valid] * 11)
    assert too_many.value.response["Error"]["Code"] == "ValidationException"
    big = {**valid, "Detail": json.dumps({"blob": "x" * (130 * 1024)})}
    with pytest.raises(ClientError) as too_big:
        client.put_events(Entries=[big, big])
    assert too_big.value.response["Error"]["Code"] == "ValidationException"


def test_test_event_pattern_answers_as_aws(aws: EmbeddedAws) -> None:
    # Given an S3-style event and patterns that do and do not match it
    event = {
        "id": "1",
        "account": "123456789012",
        "source": "aws.s3",
        "time": "2024-01-01T00:00:00Z",
        "region": "us-east-1",
        "detail-type": "Object Created",
        "resources": [],
        "detail": {"object": {"key": "incoming/a.txt", "size": 5}},
    }
    client = aws.client("events")

    # When TestEventPattern is called
    def result(pattern: dict[str, Any]) -> bool:
        answer: bool = client.test_event_pattern(EventPattern=json.dumps(pattern), Event=json.dumps(event))[
            "Result"
        ]
        return answer

    # Then it says whether the pattern matches, and refuses an invalid pattern
    assert result(
        {"detail": {"object": {"key": [{"prefix": "incoming/"}], "size": [{"numeric": ["<", 10]}]}}}
    )
    assert not result({"detail": {"object": {"key": [{"suffix": ".jpg"}]}}})
    with pytest.raises(ClientError) as invalid:
        client.test_event_pattern(EventPattern=json.dumps({"source": "aws.s3"}), Event=json.dumps(event))
    assert invalid.value.response["Error"]["Code"] == "InvalidEventPatternException"


# --- S3 → EventBridge → Step Functions (the reported case) ------------------------------------------------
def test_s3_eventbridge_notifications_start_the_workflow_and_queue_deletions(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given a versioned bucket sending its events to EventBridge, a rule starting a workflow for objects
    # created under incoming/, and a rule queueing the bucket's deletions
    stack = deploy_compat("events_s3_to_sfn")
    bucket, machine = stack.outputs["BucketName"], stack.outputs["StateMachineArn"]
    s3, sfn = aws.client("s3"), aws.client("stepfunctions")

    # When one object is put outside incoming/, then one inside it
    s3.put_object(Bucket=bucket, Key="other/skip.txt", Body=b"x")
    put = s3.put_object(Bucket=bucket, Key="incoming/a photo.jpg", Body=b"hello")

    # Then exactly one execution starts, with the S3 event as its input, in AWS's shape
    executions = poll_until(lambda: sfn.list_executions(stateMachineArn=machine)["executions"], timeout_s=30)
    assert len(executions) == 1

    def finished() -> dict[str, Any] | None:
        described: dict[str, Any] = sfn.describe_execution(executionArn=executions[0]["executionArn"])
        return described if described["status"] != "RUNNING" else None

    done = poll_until(finished, timeout_s=30)
    assert done["status"] == "SUCCEEDED"
    event = json.loads(done["input"])
    assert set(event) == ENVELOPE_KEYS
    assert (event["source"], event["detail-type"]) == ("aws.s3", "Object Created")
    assert event["resources"] == [f"arn:aws:s3:::{bucket}"]
    detail = event["detail"]
    assert set(detail) == {
        "version",
        "bucket",
        "object",
        "request-id",
        "requester",
        "source-ip-address",
        "reason",
    }
    assert detail["bucket"] == {"name": bucket} and detail["reason"] == "PutObject"
    assert detail["object"]["key"] == "incoming/a photo.jpg"
    assert detail["object"]["size"] == 5
    assert detail["object"]["etag"] == put["ETag"].strip('"')
    assert detail["object"]["version-id"] == put["VersionId"]
    assert int(detail["object"]["sequencer"], 16) > 0
    assert json.loads(done["output"]) == {"bucket": bucket, "key": "incoming/a photo.jpg", "size": 5}

    # When the object is deleted (the bucket is versioned: a delete marker is created)
    deleted = s3.delete_object(Bucket=bucket, Key="incoming/a photo.jpg")

    # Then the deletions queue gets an "Object Deleted" event saying so
    received: list[dict[str, Any]] = []
    poll_until(lambda: _drain(aws, stack.outputs["DeletionsQueueUrl"], received), timeout_s=30)
    assert len(received) == 1
    deletion = json.loads(received[0]["Body"])
    assert deletion["detail-type"] == "Object Deleted"
    assert deletion["detail"]["reason"] == "DeleteObject"
    assert deletion["detail"]["deletion-type"] == "Delete Marker Created"
    assert deletion["detail"]["object"]["version-id"] == deleted["VersionId"]
    assert len(sfn.list_executions(stateMachineArn=machine)["executions"]) == 1


# --- targets and input transformation ---------------------------------------------------------------------
def test_sqs_fifo_and_sns_targets_receive_transformed_input(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given one rule with a JSON input transformer to a queue, InputPath to a FIFO queue, and a text template
    # to a topic (copied raw to a queue)
    stack = deploy_compat("events_targets_transform")
    detail = {"shipment": 'S-1 "rush"', "delayDays": 3, "items": [{"sku": "A"}, {"sku": "B"}]}

    # When a matching event is put
    put = aws.client("events").put_events(
        Entries=[
            {"Source": "com.example.shipping", "DetailType": "Shipment Delayed", "Detail": json.dumps(detail)}
        ]
    )
    event_id = put["Entries"][0]["EventId"]

    # Then the queue gets the JSON template filled as AWS fills it: strings escaped inside quotes, numbers and
    # arrays as JSON, a missing path as null, the predefined variables, and the whole event
    transformed: list[dict[str, Any]] = []
    poll_until(lambda: _drain(aws, stack.outputs["TransformedQueueUrl"], transformed), timeout_s=30)
    body = json.loads(transformed[0]["Body"])
    rule_arn = stack.outputs["RuleArn"]
    assert body["shipment"] == 'S-1 "rush"' and body["delay"] == 3 and body["items"] == detail["items"]
    assert body["first"] == "A" and body["missing"] is None
    assert body["note"] == 'shipment S-1 "rush" is late by 3 days'
    assert body["rule"] == rule_arn.rsplit("/", 1)[-1] and body["ruleArn"] == rule_arn
    assert body["original"]["id"] == event_id and body["original"]["detail"] == detail
    assert body["at"] == body["original"]["time"]
    # ...the FIFO queue gets the detail alone, in the rule's message group
    ordered: list[dict[str, Any]] = []
    poll_until(lambda: _drain(aws, stack.outputs["OrderedQueueUrl"], ordered), timeout_s=30)
    assert json.loads(ordered[0]["Body"]) == detail
    assert ordered[0]["Attributes"]["MessageGroupId"] == "shipments"
    # ...and the topic publishes the text template as it is
    alerts: list[dict[str, Any]] = []
    poll_until(lambda: _drain(aws, stack.outputs["AlertsCopyQueueUrl"], alerts), timeout_s=30)
    assert alerts[0]["Body"] == '"Shipment S-1 "rush" is 3 days late"'


# --- failures ----------------------------------------------------------------------------------------------
def test_unreachable_targets_go_to_the_dead_letter_queue_with_aws_attributes(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given a rule whose targets cannot be reached: a missing queue, a queue whose policy does not admit
    # EventBridge, a function without a permission, a state machine without a role, a FIFO queue without
    # content-based deduplication (retried twice), and a missing queue with no DLQ
    stack = deploy_compat("events_target_failure")
    rule_arn = stack.outputs["RuleArn"]

    # When a matching event is put
    put = aws.client("events").put_events(
        Entries=[{"Source": "com.example.failures", "DetailType": "Test", "Detail": '{"n": 1}'}]
    )
    event_id = put["Entries"][0]["EventId"]

    # Then each target with a DLQ sends the event there, with the error, after its retries
    received: list[dict[str, Any]] = []
    poll_until(lambda: len(_drain(aws, stack.outputs["DeadLettersUrl"], received)) >= 5, timeout_s=30)
    assert len(received) == 5
    by_target = {
        m["MessageAttributes"]["TARGET_ARN"]["StringValue"].split(":")[-1]: {
            k: v["StringValue"] for k, v in m["MessageAttributes"].items()
        }
        for m in received
    }
    codes = {
        target.removeprefix(f"{stack.name}-").split("-")[0]: attributes["ERROR_CODE"]
        for target, attributes in by_target.items()
    }
    assert codes == {
        "missing": "RESOURCE_NOT_FOUND",
        "PrivateQueue": "NO_PERMISSIONS",
        "Unpermitted": "NO_PERMISSIONS",
        "Workflow": "NO_PERMISSIONS",
        "strict.fifo": "SDK_CLIENT_ERROR",
    }
    assert all(attributes["RULE_ARN"] == rule_arn for attributes in by_target.values())
    fifo = next(a for t, a in by_target.items() if t.endswith("strict.fifo"))
    assert fifo["RETRY_ATTEMPTS"] == "2" and fifo["EXHAUSTED_RETRY_CONDITION"] == "MaximumRetryAttempts"
    missing = next(a for t, a in by_target.items() if t.endswith("-missing"))
    assert missing["RETRY_ATTEMPTS"] == "0" and "EXHAUSTED_RETRY_CONDITION" not in missing
    assert {json.loads(m["Body"])["id"] for m in received} == {event_id}
    # ...and the target without a DLQ is not dropped silently: it is logged and recorded
    dropped = poll_until(
        lambda: [r for r in events.engine().undelivered if r["event"]["id"] == event_id], timeout_s=30
    )
    assert [r["target_arn"].rsplit(":", 1)[-1] for r in dropped] == [f"{stack.name}-also-missing"]
    assert dropped[0]["error_code"] == "RESOURCE_NOT_FOUND"


def test_unsupported_eventbridge_features_are_refused_at_deploy(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given a template with an event archive and an API destination target
    # When it is deployed
    with pytest.raises(UnsupportedResourceError) as refused:
        deploy_compat("events_unsupported")

    # Then the deploy is refused before anything is created, naming each feature
    message = str(refused.value)
    assert "OrdersArchive (AWS::Events::Archive): event archives and replays" in message
    assert "WebhookRule target Webhook: HttpParameters (API destination" in message
    # ...and PutTargets refuses a target kind the embedded AWS cannot deliver to
    client = aws.client("events")
    client.put_rule(Name="unsupported-kinesis", EventPattern=json.dumps({"source": ["x"]}))
    with pytest.raises(ClientError) as kinesis:
        client.put_targets(
            Rule="unsupported-kinesis",
            Targets=[{"Id": "stream", "Arn": "arn:aws:kinesis:us-east-1:123456789012:stream/s"}],
        )
    assert kinesis.value.response["Error"]["Code"] == "ValidationException"
    assert (
        "kinesis targets are not supported by the embedded AWS" in kinesis.value.response["Error"]["Message"]
    )
    # ...and the archive API answers that it is not implemented, naming the feature
    with pytest.raises(ClientError) as archive:
        client.create_archive(
            ArchiveName="orders", EventSourceArn=f"arn:aws:events:{aws.region}:123456789012:event-bus/default"
        )
    assert archive.value.response["Error"]["Code"] == "NotImplemented"
    assert "event archives and replays are not supported" in archive.value.response["Error"]["Message"]


# --- schedules ----------------------------------------------------------------------------------------------
def test_schedules_fire_on_the_accelerated_clock(
    aws: EmbeddedAws, deploy_compat: DeployCompat, fast_clock: Clock
) -> None:
    # Given (on a clock 60 times faster) a function on rate(1 minute) with constant input, a disabled
    # schedule, an EventBridge Scheduler cron schedule (ScheduleV2), and a cron rule whose target is a queue
    stack = deploy_compat("events_schedule")
    table = stack.outputs["TableName"]

    # When the schedules have fired a few times
    def runs() -> list[dict[str, Any]] | None:
        items = _scan(aws, table)
        jobs = [item["job"]["S"] for item in items]
        return items if jobs.count("rate") >= 2 and jobs.count("scheduler") >= 2 else None

    items = poll_until(runs, timeout_s=60)

    # Then the rate rule delivered its constant input, the Scheduler its input with context attributes filled,
    # and the disabled schedule nothing
    assert items is not None
    payloads = [json.loads(item["event"]["S"]) for item in items]
    assert {"job": "rate"} in payloads
    scheduled = [p for p in payloads if p["job"] == "scheduler"]
    assert scheduled[0]["schedule"].startswith(
        f"arn:aws:scheduler:{aws.region}:123456789012:schedule/default/"
    )
    assert all(p["job"] != "paused" for p in payloads)
    # ...and the cron rule's queue received a Scheduled Event, on an even minute
    received: list[dict[str, Any]] = []
    poll_until(lambda: _drain(aws, stack.outputs["QueueUrl"], received), timeout_s=60)
    event = json.loads(received[0]["Body"])
    assert set(event) == ENVELOPE_KEYS
    assert (event["source"], event["detail-type"], event["detail"]) == ("aws.events", "Scheduled Event", {})
    assert event["resources"] == [stack.outputs["CronRuleArn"]]
    fired = datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%SZ")
    assert fired.minute % 2 == 0 and fired.second == 0
