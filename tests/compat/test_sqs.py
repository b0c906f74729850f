"""SQS event sources and SQS APIs as AWS documents them: Lambda event filtering, FIFO queues, DLQ redrive."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from embedded_aws.errors import DeployError
from embedded_aws.stack import EmbeddedAws, poll_until
from tests.compat.conftest import DeployCompat


def _depth(aws: EmbeddedAws, queue_url: str) -> int:
    """Messages in the queue, visible or in flight."""
    attributes = aws.client("sqs").get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def _items(aws: EmbeddedAws, table: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = aws.client("dynamodb").scan(TableName=table)["Items"]
    return items


# --- FilterCriteria ---------------------------------------------------------------------------------------
def test_filter_criteria_deliver_only_matching_messages_and_delete_the_rest(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given a queue mapped to a function with three filters (JSON bodies, plain-text bodies, $or)
    stack = deploy_compat("sqs_filter_criteria")
    queue_url, table = stack.outputs["QueueUrl"], stack.outputs["TableName"]
    delivered = {
        json.dumps({"type": "order", "amount": 150, "id": "big"}),
        "URGENT: call the customer back",
        json.dumps({"type": "refund", "region": "us-east-1"}),
        json.dumps({"type": "refund", "region": "eu-west-1", "review": True}),
    }
    dropped = {
        json.dumps({"type": "order", "amount": 50, "id": "small"}),
        json.dumps({"type": "order", "amount": "150"}),  # a string is not a number
        json.dumps({"type": "refund", "region": "eu-west-1"}),
        "routine note",
        json.dumps({"note": "URGENT: but a JSON body"}),  # a plain-text filter never matches JSON
        "type order amount 500",  # a JSON filter never matches plain text
    }

    # When all of them are sent
    sqs = aws.client("sqs")
    for i, body in enumerate(sorted(delivered | dropped)):
        sqs.send_message(
            QueueUrl=queue_url,
            MessageBody=body,
            MessageAttributes={"n": {"DataType": "Number", "StringValue": str(i)}},
        )

    # Then the queue drains: non-matching messages are deleted without invoking the function...
    assert poll_until(lambda: _depth(aws, queue_url) == 0 and len(_items(aws, table)) >= 4, timeout_s=60)
    # ...and the function received exactly the matching ones
    assert {item["body"]["S"] for item in _items(aws, table)} == delivered
    # And the mapping reports its FilterCriteria, as Lambda's API does
    mapping = aws.client("lambda").list_event_source_mappings(FunctionName=stack.outputs["FunctionName"])
    filters = mapping["EventSourceMappings"][0]["FilterCriteria"]["Filters"]
    assert len(filters) == 3


def test_an_invalid_filter_pattern_fails_the_deploy_with_lambdas_error(deploy_compat: DeployCompat) -> None:
    # Given a template whose filter pattern is not valid (an operator Lambda does not know)
    # When it is deployed
    # Then the deploy fails with Lambda's InvalidParameterValueException message
    refusal = r"InvalidParameterValueException.*Invalid filter pattern definition\."
    with pytest.raises(DeployError, match=refusal):
        deploy_compat("sqs_filter_criteria", {"UrgentPattern": '{"body": [{"starts-with": "URGENT"}]}'})


def test_create_event_source_mapping_validates_filters(aws: EmbeddedAws, deploy_compat: DeployCompat) -> None:
    # Given a deployed function and its queue
    stack = deploy_compat("sqs_filter_criteria")
    queue_arn = aws.client("sqs").get_queue_attributes(
        QueueUrl=stack.outputs["QueueUrl"], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    lam = aws.client("lambda")
    function = stack.outputs["FunctionName"]

    # When a mapping is created with a malformed pattern, or with more filters than the default quota of 5
    bad_patterns = [
        {"Filters": [{"Pattern": '{"body": "not-a-list"}'}]},
        {"Filters": [{"Pattern": "not json"}]},
        {"Filters": [{"Pattern": json.dumps({"body": {"n": [i]}})} for i in range(6)]},
    ]
    # Then each is refused with InvalidParameterValueException
    for criteria in bad_patterns:
        with pytest.raises(ClientError) as refused:
            lam.create_event_source_mapping(
                FunctionName=function, EventSourceArn=queue_arn, FilterCriteria=criteria, Enabled=False
            )
        assert refused.value.response["Error"]["Code"] == "InvalidParameterValueException"


# --- FIFO -------------------------------------------------------------------------------------------------
def _groups(aws: EmbeddedAws, table: str) -> dict[str, list[int]]:
    return {item["groupId"]["S"]: [int(n["N"]) for n in item["seqs"]["L"]] for item in _items(aws, table)}


def test_fifo_partial_batch_failures_keep_each_group_in_order(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given a FIFO queue mapped with ReportBatchItemFailures to a function that stops at its first failure
    # and reports it with every later message (AWS's advice for FIFO)
    stack = deploy_compat("sqs_fifo_partial_batch")
    queue_url, table = stack.outputs["QueueUrl"], stack.outputs["TableName"]

    # When group A's third message fails once, and group B's messages share the queue
    entries = [
        {
            "Id": f"a{n}",
            "MessageGroupId": "A",
            "MessageBody": json.dumps({"seq": n, "fail_first_time": n == 3}),
        }
        for n in range(1, 6)
    ] + [{"Id": f"b{n}", "MessageGroupId": "B", "MessageBody": json.dumps({"seq": n})} for n in range(1, 4)]
    aws.client("sqs").send_message_batch(QueueUrl=queue_url, Entries=entries)

    # Then every message is processed exactly once, each group in its send order (the failed message and
    # those after it came back, in order, once their visibility timeout ended)
    expected = {"A": [1, 2, 3, 4, 5], "B": [1, 2, 3]}
    assert poll_until(lambda: _groups(aws, table) == expected, timeout_s=60), _groups(aws, table)
    assert poll_until(lambda: _depth(aws, queue_url) == 0, timeout_s=30)
    assert _depth(aws, stack.outputs["DeadLetterQueueUrl"]) == 0


def test_fifo_deduplicates_by_content_and_by_deduplication_id(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given a FIFO queue with ContentBasedDeduplication, whose first message was already processed and deleted
    stack = deploy_compat("sqs_fifo_partial_batch")
    queue_url, table = stack.outputs["QueueUrl"], stack.outputs["TableName"]
    sqs = aws.client("sqs")
    first = sqs.send_message(QueueUrl=queue_url, MessageGroupId="C", MessageBody=json.dumps({"seq": 1}))
    assert poll_until(lambda: _groups(aws, table) == {"C": [1]} and _depth(aws, queue_url) == 0, timeout_s=60)

    # When the same body is sent again within 5 minutes, and two bodies share a MessageDeduplicationId
    again = sqs.send_message(QueueUrl=queue_url, MessageGroupId="C", MessageBody=json.dumps({"seq": 1}))
    for seq, dedup_id in ((1, "order-7"), (2, "order-7"), (3, "order-8")):
        sqs.send_message(
            QueueUrl=queue_url,
            MessageGroupId="D",
            MessageBody=json.dumps({"seq": seq}),
            MessageDeduplicationId=dedup_id,
        )

    # Then SQS accepts the duplicates, answering with the first message's id, but delivers each id once
    assert again["MessageId"] == first["MessageId"]
    assert again["SequenceNumber"] == first["SequenceNumber"]
    expected = {"C": [1], "D": [1, 3]}
    assert poll_until(lambda: _groups(aws, table) == expected and _depth(aws, queue_url) == 0, timeout_s=60)
    assert _groups(aws, table) == expected


# --- DLQ redrive ------------------------------------------------------------------------------------------
def _bodies(aws: EmbeddedAws, table: str) -> set[str]:
    return {item["body"]["S"] for item in _items(aws, table) if item["id"]["S"] != "config"}


def _set_downstream(aws: EmbeddedAws, table: str, *, down: bool) -> None:
    aws.client("dynamodb").put_item(
        TableName=table, Item={"id": {"S": "config"}, "downstream_down": {"BOOL": down}}
    )


def test_messages_parked_in_the_dlq_are_redriven_to_their_source_queue(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given a function failing every batch, so its queue parks messages in the DLQ after 2 receives
    stack = deploy_compat("sqs_dlq_redrive")
    out = stack.outputs
    _set_downstream(aws, out["TableName"], down=True)
    sqs = aws.client("sqs")
    sent = {f"job-{n}" for n in range(3)}
    for body in sorted(sent):
        sqs.send_message(QueueUrl=out["QueueUrl"], MessageBody=body)
    assert poll_until(lambda: _depth(aws, out["DeadLetterQueueUrl"]) == 3, timeout_s=90)
    assert _depth(aws, out["QueueUrl"]) == 0

    # And each parked message names the queue it came from, as SQS records it
    parked = sqs.receive_message(
        QueueUrl=out["DeadLetterQueueUrl"], MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
    )["Messages"]
    assert {m["Attributes"]["DeadLetterQueueSourceArn"] for m in parked} == {out["QueueArn"]}
    for message in parked:  # visible again, so the move task can take them
        sqs.change_message_visibility(
            QueueUrl=out["DeadLetterQueueUrl"], ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )

    # When the fault is fixed and a move task redrives the DLQ with no destination
    _set_downstream(aws, out["TableName"], down=False)
    handle = sqs.start_message_move_task(SourceArn=out["DeadLetterQueueArn"])["TaskHandle"]

    # Then the task completes, having moved all three messages back to their source queue...
    def finished() -> dict[str, Any] | None:
        task: dict[str, Any] = sqs.list_message_move_tasks(SourceArn=out["DeadLetterQueueArn"])["Results"][0]
        return task if task["Status"] != "RUNNING" else None

    task = poll_until(finished, timeout_s=30)
    assert task is not None
    assert task["Status"] == "COMPLETED"
    assert task["ApproximateNumberOfMessagesMoved"] == task["ApproximateNumberOfMessagesToMove"] == 3
    assert "TaskHandle" not in task and "DestinationArn" not in task
    assert handle
    # ...where the function processes them, and both queues end empty
    assert poll_until(lambda: _bodies(aws, out["TableName"]) == sent, timeout_s=60)
    assert poll_until(lambda: _depth(aws, out["QueueUrl"]) + _depth(aws, out["DeadLetterQueueUrl"]) == 0, 30)


def test_a_move_task_can_be_rate_limited_listed_and_cancelled(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given ten messages in the DLQ
    stack = deploy_compat("sqs_dlq_redrive")
    out = stack.outputs
    sqs = aws.client("sqs")
    for n in range(10):
        sqs.send_message(QueueUrl=out["DeadLetterQueueUrl"], MessageBody=f"parked-{n}")

    # When a task moves them to another queue at one message per second
    handle = sqs.start_message_move_task(
        SourceArn=out["DeadLetterQueueArn"],
        DestinationArn=out["ParkingQueueArn"],
        MaxNumberOfMessagesPerSecond=1,
    )["TaskHandle"]

    # Then it is listed as RUNNING with its handle, and a second task on the same DLQ is refused
    running = sqs.list_message_move_tasks(SourceArn=out["DeadLetterQueueArn"], MaxResults=10)["Results"]
    assert [t["Status"] for t in running] == ["RUNNING"]
    assert running[0]["TaskHandle"] == handle
    assert running[0]["DestinationArn"] == out["ParkingQueueArn"]
    assert running[0]["MaxNumberOfMessagesPerSecond"] == 1
    assert running[0]["ApproximateNumberOfMessagesToMove"] == 10
    with pytest.raises(ClientError) as second:
        sqs.start_message_move_task(SourceArn=out["DeadLetterQueueArn"])
    error = second.value.response["Error"]
    assert (error["Code"], error["Message"]) == (
        "InvalidParameterValue",
        "There is already a task running. Only one active task is allowed for a source queue arn "
        "at a given time.",
    )

    # And when it is cancelled, it stops part-way, reporting what it moved
    moved = sqs.cancel_message_move_task(TaskHandle=handle)["ApproximateNumberOfMessagesMoved"]
    assert moved < 10
    cancelled = sqs.list_message_move_tasks(SourceArn=out["DeadLetterQueueArn"])["Results"][0]
    assert cancelled["Status"] == "CANCELLED"
    assert "TaskHandle" not in cancelled
    assert _depth(aws, out["ParkingQueueUrl"]) + _depth(aws, out["DeadLetterQueueUrl"]) == 10


def _error(call: Any, **kwargs: Any) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as refused:
        call(**kwargs)
    error = refused.value.response
    return error["Error"]["Code"], error["Error"]["Message"], error["ResponseMetadata"]["HTTPStatusCode"]


def test_move_task_errors_are_awss(aws: EmbeddedAws, deploy_compat: DeployCompat) -> None:
    # Given a queue with a DLQ
    stack = deploy_compat("sqs_dlq_redrive")
    out = stack.outputs
    sqs = aws.client("sqs")
    missing = out["QueueArn"].rsplit(":", 1)[0] + ":no-such-queue"

    # Then each invalid request is answered as SQS answers it
    assert _error(sqs.start_message_move_task, SourceArn=out["QueueArn"]) == (
        "InvalidParameterValue",
        "Source queue must be configured as a Dead Letter Queue.",
        400,
    )
    assert _error(sqs.start_message_move_task, SourceArn=missing) == (
        "ResourceNotFoundException",
        "The resource that you specified for the SourceArn parameter doesn't exist.",
        404,
    )
    assert _error(
        sqs.start_message_move_task, SourceArn=out["DeadLetterQueueArn"], DestinationArn=missing
    ) == (
        "ResourceNotFoundException",
        "The resource that you specified for the DestinationArn parameter doesn't exist.",
        404,
    )
    assert _error(sqs.cancel_message_move_task, TaskHandle="not-a-handle") == (
        "InvalidParameterValue",
        "Value for parameter TaskHandle is invalid.",
        400,
    )
    unknown_task = base64.b64encode(
        json.dumps(
            {"taskId": "00000000-0000-0000-0000-000000000000", "sourceArn": out["DeadLetterQueueArn"]}
        ).encode()
    ).decode()
    assert _error(sqs.cancel_message_move_task, TaskHandle=unknown_task) == (
        "ResourceNotFoundException",
        "Task does not exist.",
        404,
    )
    assert sqs.list_message_move_tasks(SourceArn=out["DeadLetterQueueArn"])["Results"] == []
