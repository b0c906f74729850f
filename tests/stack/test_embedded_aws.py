"""The embedded AWS runs real wiring: each test deploys a small template and drives it through AWS APIs."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from embedded_aws.errors import DeployError, EmbeddedAwsError, UnsupportedResourceError
from embedded_aws.stack import EmbeddedAws, poll_until
from tests.conftest import TEMPLATES, Deploy

pytestmark = pytest.mark.stack


def _keys(aws: EmbeddedAws, bucket: str, prefix: str = "") -> list[str]:
    listing = aws.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(item["Key"] for item in listing.get("Contents", []))


def _queue_depth(aws: EmbeddedAws, queue_url: str) -> int:
    attributes = aws.client("sqs").get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def _invoke(aws: EmbeddedAws, name: str, event: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    response = aws.client("lambda").invoke(FunctionName=name, Payload=json.dumps(event).encode())
    return json.loads(response["Payload"].read()), response.get("FunctionError")


def test_s3_put_flows_through_sns_body_filter_and_sqs_to_lambda(aws: EmbeddedAws, deploy: Deploy) -> None:
    # Given a bucket notifying a topic whose SQS subscription filters the message body on the key prefix
    stack = deploy("s3-sns-sqs-lambda.yaml")
    uploads, results = stack.outputs["UploadsBucketName"], stack.outputs["ResultsBucketName"]
    s3 = aws.client("s3")

    # When one object is put outside the prefix and then one inside it
    s3.put_object(Bucket=uploads, Key="other/ignored.txt", Body=b"x")
    s3.put_object(Bucket=uploads, Key="uploads/cats/a photo.jpg", Body=b"x")

    # Then the Lambda function behind the queue records the matching key, with "/" and spaces intact
    assert poll_until(lambda: _keys(aws, results), timeout_s=20) == ["seen/uploads/cats/a photo.jpg"]
    # ...and the filtered-out object never reached the queue (the filter is applied at publish time)
    assert _queue_depth(aws, stack.outputs["QueueUrl"]) == 0
    assert _keys(aws, results) == ["seen/uploads/cats/a photo.jpg"]


def test_partial_batch_failure_returns_only_the_failed_items(aws: EmbeddedAws, deploy: Deploy) -> None:
    # Given a function that reports bodies starting with "fail" as failed items, with a high maxReceiveCount
    stack = deploy("batch-failures.yaml", {"MaxReceiveCount": "10"})
    attempts = stack.outputs["AttemptsBucketName"]

    # When three messages arrive in one batch and one of them fails
    aws.client("sqs").send_message_batch(
        QueueUrl=stack.outputs["QueueUrl"],
        Entries=[{"Id": str(i), "MessageBody": body} for i, body in enumerate(["ok-1", "fail-1", "ok-2"])],
    )

    # Then the failed item comes back for a second receive...
    assert poll_until(lambda: "fail-1/2" in _keys(aws, attempts), timeout_s=45)
    # ...while the successful items were deleted after their first and only receive
    assert _keys(aws, attempts, "ok-") == ["ok-1/1", "ok-2/1"]


def test_the_batching_window_gathers_messages_that_arrive_within_it(aws: EmbeddedAws, deploy: Deploy) -> None:
    # Given a mapping with a 1 second batching window (and AWS's minimum of 2 pollers) on an idle queue
    stack = deploy("batch-failures.yaml", {"BatchWindow": "1"})
    sqs = aws.client("sqs")

    # When three messages arrive 0.3 s apart
    for i in range(3):
        sqs.send_message(QueueUrl=stack.outputs["QueueUrl"], MessageBody=f"window-{i}")
        time.sleep(0.3)  # the arrival spacing is the scenario itself

    # Then they are delivered in fewer invocations than messages: each poller waited out its window
    def batch_sizes() -> list[int]:
        keys = _keys(aws, stack.outputs["AttemptsBucketName"], "batches/")
        sizes = [int(key.split("/")[1]) for key in keys]
        return sizes if sum(sizes) >= 3 else []

    sizes = poll_until(batch_sizes, timeout_s=20)
    assert sum(sizes) == 3
    assert len(sizes) <= 2, sizes


def test_malformed_batch_response_fails_the_whole_batch(aws: EmbeddedAws, deploy: Deploy) -> None:
    # Given a function that reports a failure with an empty itemIdentifier for "malformed" bodies
    stack = deploy("batch-failures.yaml", {"MaxReceiveCount": "10"})
    attempts = stack.outputs["AttemptsBucketName"]

    def batch_of(body: str) -> set[str]:
        """The bodies of every batch that held `body` (SQS may split one send between two pollers)."""
        keys = _keys(aws, attempts)
        requests = {k.split("/")[1] for k in keys if k.startswith("members/") and k.endswith(f"/{body}")}
        return {k.split("/", 2)[2] for k in keys for r in requests if k.startswith(f"members/{r}/")}

    # When a malformed message shares a batch with a good one (sent again until a receive takes both)
    shared = None
    for pair in range(1, 6):
        aws.client("sqs").send_message_batch(
            QueueUrl=stack.outputs["QueueUrl"],
            Entries=[
                {"Id": "0", "MessageBody": f"malformed-{pair}"},
                {"Id": "1", "MessageBody": f"good-{pair}"},
            ],
        )
        good, malformed = f"good-{pair}", f"malformed-{pair}"

        def both_recorded(g: str = good, m: str = malformed) -> bool:
            return g in batch_of(g) and m in batch_of(m)

        assert poll_until(both_recorded, timeout_s=30)
        if {malformed, good} <= batch_of(good):
            shared = pair
            break
    assert shared is not None, "no receive took both messages of a pair"

    # Then, as on AWS, the whole batch counts as failed: the good message is received again too
    assert poll_until(lambda: f"good-{shared}/2" in _keys(aws, attempts), timeout_s=45)


def test_a_delete_with_an_earlier_receipt_handle_succeeds_and_leaves_the_message(aws: EmbeddedAws) -> None:
    # Given a message received twice (its visibility ended in between), so with two receipt handles
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName="stale-receipts")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="twice")
    first = sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)["Messages"][0]
    second = sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)["Messages"][0]
    assert first["ReceiptHandle"] != second["ReceiptHandle"]

    # When it is deleted with the first receive's handle
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])

    # Then the request succeeded but the message is still there, as AWS documents
    third = sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)["Messages"]
    assert [m["Body"] for m in third] == ["twice"]
    # And a delete with the latest handle removes it
    sqs.delete_message(QueueUrl=url, ReceiptHandle=third[0]["ReceiptHandle"])
    assert sqs.receive_message(QueueUrl=url).get("Messages", []) == []
    sqs.delete_queue(QueueUrl=url)


def test_poison_message_reaches_the_dlq_after_max_receive_count(aws: EmbeddedAws, deploy: Deploy) -> None:
    # Given a queue whose RedrivePolicy allows 3 receives
    stack = deploy("batch-failures.yaml", {"MaxReceiveCount": "3"})
    sqs = aws.client("sqs")

    # When a message fails every time
    sqs.send_message(QueueUrl=stack.outputs["QueueUrl"], MessageBody="fail-poison")

    # Then it lands in the dead-letter queue, body intact, after exactly 3 attempts
    def dead_letter() -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = sqs.receive_message(
            QueueUrl=stack.outputs["DeadLetterQueueUrl"], WaitTimeSeconds=1
        ).get("Messages", [])
        return messages

    moved = poll_until(dead_letter, timeout_s=90)
    assert [m["Body"] for m in moved] == ["fail-poison"]
    assert _keys(aws, stack.outputs["AttemptsBucketName"], "fail-poison/") == [
        "fail-poison/1",
        "fail-poison/2",
        "fail-poison/3",
    ]
    assert _queue_depth(aws, stack.outputs["QueueUrl"]) == 0


def _run(aws: EmbeddedAws, workflow_arn: str, name: str, payload: dict[str, Any]) -> dict[str, Any]:
    sfn = aws.client("stepfunctions")
    execution_arn = sfn.start_execution(stateMachineArn=workflow_arn, name=name, input=json.dumps(payload))[
        "executionArn"
    ]

    def finished() -> dict[str, Any] | None:
        description: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        return None if description["status"] == "RUNNING" else description

    result: dict[str, Any] | None = poll_until(finished, timeout_s=30, interval_s=0.2)
    assert result is not None, f"execution {name} still running after 30 s"
    return result


def test_step_functions_retry_a_named_lambda_error_then_succeed(aws: EmbeddedAws, deploy: Deploy) -> None:
    # Given a workflow that retries TransientFault up to 3 times
    stack = deploy("workflow.yaml")

    # When the function fails twice with TransientFault and then succeeds
    execution = _run(
        aws, stack.outputs["WorkflowArn"], "retry-then-succeed", {"id": "item-1", "fail_times": 2}
    )

    # Then the execution succeeds on the third attempt, and the direct-ARN task ran too
    assert execution["status"] == "SUCCEEDED", execution
    output = json.loads(execution["output"])
    assert output["attempts"] == 3
    assert output["direct"] == {"id": "item-1-direct", "attempts": 1}


def test_step_functions_catch_a_named_lambda_error(aws: EmbeddedAws, deploy: Deploy) -> None:
    # Given a workflow that catches PoisonInput
    stack = deploy("workflow.yaml")

    # When the function raises PoisonInput
    execution = _run(aws, stack.outputs["WorkflowArn"], "poison", {"id": "item-2", "poison": True})

    # Then the Catch routes to the Quarantined state with the error name and message, without retrying
    assert execution["status"] == "SUCCEEDED", execution
    output = json.loads(execution["output"])
    assert output["outcome"] == "quarantined"
    assert output["error"]["Error"] == "PoisonInput"
    assert "item-2 can never succeed" in output["error"]["Cause"]
    counter = aws.client("s3").get_object(Bucket=stack.outputs["CountersBucketName"], Key="item-2")
    assert counter["Body"].read() == b"1"


def test_step_functions_sdk_integrations_reach_dynamodb_sns_and_sqs(aws: EmbeddedAws, deploy: Deploy) -> None:
    # Given a workflow that puts an item, publishes to a topic and sends to a queue
    stack = deploy("sdk-integrations.yaml")

    # When it runs
    execution = _run(aws, stack.outputs["WorkflowArn"], "sdk", {"id": "item-9", "title": "Tom"})

    # Then each service received its call
    assert execution["status"] == "SUCCEEDED", execution
    output = json.loads(execution["output"])
    assert output["published"]["MessageId"]
    item = aws.client("dynamodb").get_item(TableName=stack.outputs["TableName"], Key={"id": {"S": "item-9"}})
    assert item["Item"]["title"] == {"S": "Tom"}
    messages = aws.client("sqs").receive_message(QueueUrl=stack.outputs["QueueUrl"])["Messages"]
    assert [m["Body"] for m in messages] == ["item-9"]


def test_functions_have_their_own_modules_environment_and_warm_globals(
    aws: EmbeddedAws, deploy: Deploy
) -> None:
    # Given two functions whose code dirs both hold app.py and helper.py, and that set SHARED_NAME differently
    stack = deploy("isolation.yaml")
    alpha, beta = stack.outputs["AlphaName"], stack.outputs["BetaName"]

    # When each is invoked twice
    a1, _ = _invoke(aws, alpha, {})
    b1, _ = _invoke(aws, beta, {})
    a2, _ = _invoke(aws, alpha, {})

    # Then each sees only its own module and variable, in its own process
    assert (a1["module"], a1["variable"]) == ("alpha-module", "alpha")
    assert (b1["module"], b1["variable"]) == ("beta-module", "beta")
    assert a1["pid"] != b1["pid"]
    # ...module globals survive between warm invocations of one function, and are not shared across functions
    assert (a1["calls"], a2["calls"], b1["calls"]) == (1, 2, 1)
    assert a2["pid"] == a1["pid"]
    # ...and the context and environment look like Lambda's
    assert a1["function_name"] == alpha
    assert (a1["memory"], b1["memory"]) == ("128", "256")  # a string on Lambda too
    assert 0 < a1["remaining_ms"] <= 5000
    assert a1["request_id"] != a2["request_id"]
    assert a1["endpoint"] == aws.endpoint_url
    stats = aws.runtime.stats()
    assert (stats[alpha][1].invocations, stats[alpha][1].cold_starts) == (2, 1)


def test_a_handler_that_sleeps_past_its_timeout_is_stopped_and_reported(
    aws: EmbeddedAws, deploy: Deploy
) -> None:
    # Given a function with a 1 second timeout, and its warm worker
    stack = deploy("isolation.yaml")
    sleeper = stack.outputs["SleeperName"]
    _invoke(aws, sleeper, {"seconds": 0})
    [pid] = aws.runtime.pool(sleeper).worker_pids()

    # When it is asked to sleep for 30 seconds
    started = time.monotonic()
    payload, function_error = _invoke(aws, sleeper, {"seconds": 30})
    elapsed = time.monotonic() - started

    # Then the call fails as a Lambda timeout soon after the limit, not after 30 seconds
    assert function_error == "Unhandled"
    assert payload["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in payload["errorMessage"]
    assert elapsed < 10
    # ...the worker process is gone, so the next call is a cold start that succeeds
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    again, again_error = _invoke(aws, sleeper, {"seconds": 0})
    assert (again, again_error) == ({"slept": 0}, None)
    assert pid not in aws.runtime.pool(sleeper).worker_pids()
    stats = aws.runtime.stats()[sleeper][1]
    assert (stats.timeouts, stats.cold_starts) == (1, 2)


def test_an_unsupported_resource_type_fails_the_deploy_with_a_clear_message(
    aws: EmbeddedAws, deploy: Deploy
) -> None:
    # Given a template with an AppSync API, which the embedded AWS cannot create
    # When it is deployed
    with pytest.raises(UnsupportedResourceError) as refused:
        deploy(TEMPLATES / "unsupported.yaml")

    # Then the error names the type and the resource, and nothing was created
    assert "AWS::AppSync::GraphQLApi (Api)" in refused.value.message
    assert refused.value.reason == "unsupported_resource"
    stacks = aws.client("cloudformation").list_stacks()["StackSummaries"]
    assert not [s for s in stacks if "unsupported" in s["StackName"]]


def test_email_and_sms_deliveries_land_in_the_outbox_by_filter_policy(
    aws: EmbeddedAws, deploy: Deploy
) -> None:
    # Given an email subscriber for "cats" and an SMS subscriber for "dogs"
    stack = deploy("notifications.yaml")
    sns = aws.client("sns")

    # When one message is published for each collection
    for collection in ("cats", "dogs"):
        sns.publish(
            TopicArn=stack.outputs["TopicArn"],
            Subject=f"New {collection}",
            Message=f"A new item in {collection}",
            MessageAttributes={"collection": {"DataType": "String", "StringValue": collection}},
        )

    # Then each subscriber received only its own, with nothing sent anywhere
    mine = [e for e in aws.outbox.entries() if e["topic_arn"] == stack.outputs["TopicArn"]]
    assert [(e["protocol"], e["endpoint"], e["subject"], e["message"]) for e in mine] == [
        ("email", "ada@example.com", "New cats", "A new item in cats"),
        ("sms", "+15555550100", None, "A new item in dogs"),
    ]
    on_disk = [json.loads(line) for line in aws.outbox.path.read_text().splitlines()]
    assert [e for e in on_disk if e["topic_arn"] == stack.outputs["TopicArn"]] == mine


def test_a_busy_port_is_a_clear_error_and_leaves_the_running_stack_alone(
    aws: EmbeddedAws, tmp_path: Path
) -> None:
    # Given the embedded AWS already listening on its port
    # When a second one is started on the same port
    with pytest.raises(EmbeddedAwsError, match=r"Cannot listen on 127\.0\.0\.1:\d+ .*--port"):
        EmbeddedAws(aws.port, state_dir=tmp_path).start()
    # Then the first one still answers
    assert "Buckets" in aws.client("s3").list_buckets()


def test_a_queue_that_hides_messages_for_less_than_the_function_timeout_is_refused(
    aws: EmbeddedAws, deploy: Deploy
) -> None:
    # Given a mapping whose queue's visibility timeout (1 s) is below the function's timeout (2 s)
    # When it is deployed, Then it fails as Lambda's CreateEventSourceMapping does, and nothing is left
    with pytest.raises(
        DeployError, match="Queue visibility timeout: 1 seconds is less than Function timeout: 2"
    ):
        deploy(TEMPLATES / "short-visibility.yaml")
    stacks = aws.client("cloudformation").list_stacks(StackStatusFilter=["CREATE_COMPLETE"])["StackSummaries"]
    assert not [s for s in stacks if "short" in s["StackName"] or "visibility" in s["StackName"]]


def test_updating_a_function_lets_its_running_invocation_finish(aws: EmbeddedAws, deploy: Deploy) -> None:
    # Given a function with room to sleep, warm, and an invocation of it running in another thread
    stack = deploy("isolation.yaml")
    sleeper = stack.outputs["SleeperName"]
    lam = aws.client("lambda")
    lam.update_function_configuration(FunctionName=sleeper, Timeout=30)
    _invoke(aws, sleeper, {"seconds": 0})
    log = aws.runtime.log_dir / f"{sleeper}.log"
    results: list[tuple[dict[str, Any], str | None]] = []
    running = threading.Thread(target=lambda: results.append(_invoke(aws, sleeper, {"seconds": 3})))
    running.start()
    assert poll_until(lambda: log.read_text().count("START RequestId") >= 2, timeout_s=30)

    # When its configuration is updated while that invocation runs (as a deploy of a new version does)
    lam.update_function_configuration(FunctionName=sleeper, Environment={"Variables": {"V": "2"}})
    running.join(60)

    # Then the running invocation finishes on its old worker as Lambda lets it, and the next call succeeds
    assert results == [({"slept": 3}, None)]
    assert _invoke(aws, sleeper, {"seconds": 0}) == ({"slept": 0}, None)


def test_a_cancelled_transaction_leaves_items_and_stream_as_they_were(aws: EmbeddedAws) -> None:
    # Given a table with a stream, one existing item among many, and the stream's records so far
    dynamodb = aws.client("dynamodb")
    table = f"tx-{time.monotonic_ns()}"
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    for n in range(50):
        item = {"pk": {"S": "item"}, "sk": {"S": f"{n:03}"}, "v": {"N": "1"}}
        dynamodb.put_item(TableName=table, Item=item)
    streams = aws.client("dynamodbstreams")
    stream_arn = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]

    def stream_length() -> int:
        iterator = streams.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        return len(streams.get_records(ShardIterator=iterator)["Records"])

    records_before = stream_length()

    # When a transaction updates an item, puts a new one and deletes a third, then fails its last condition
    writes: list[dict[str, Any]] = [
        {
            "Update": {
                "TableName": table,
                "Key": {"pk": {"S": "item"}, "sk": {"S": "000"}},
                "UpdateExpression": "SET v = :two",
                "ExpressionAttributeValues": {":two": {"N": "2"}},
            }
        },
        {"Put": {"TableName": table, "Item": {"pk": {"S": "item"}, "sk": {"S": "new"}}}},
        {"Delete": {"TableName": table, "Key": {"pk": {"S": "item"}, "sk": {"S": "001"}}}},
    ]
    with pytest.raises(dynamodb.exceptions.TransactionCanceledException) as cancelled:
        dynamodb.transact_write_items(
            TransactItems=[
                *writes,
                {
                    "ConditionCheck": {
                        "TableName": table,
                        "Key": {"pk": {"S": "item"}, "sk": {"S": "002"}},
                        "ConditionExpression": "v = :nine",
                        "ExpressionAttributeValues": {":nine": {"N": "9"}},
                    }
                },
            ]
        )

    # Then AWS's reasons name the failed check, and no write of the transaction is left in table or stream
    reasons = [reason["Code"] for reason in cancelled.value.response["CancellationReasons"]]
    assert reasons == ["None", "None", "None", "ConditionalCheckFailed"]
    items = dynamodb.query(
        TableName=table, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": "item"}}
    )["Items"]
    assert [item["sk"]["S"] for item in items] == [f"{n:03}" for n in range(50)]
    assert {item["v"]["N"] for item in items} == {"1"}
    assert stream_length() == records_before

    # And when the same transaction's condition holds, every write lands
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "item"}, "sk": {"S": "002"}, "v": {"N": "9"}})
    dynamodb.transact_write_items(TransactItems=writes)
    first = dynamodb.get_item(TableName=table, Key={"pk": {"S": "item"}, "sk": {"S": "000"}})["Item"]
    assert first["v"]["N"] == "2"
    assert "Item" in dynamodb.get_item(TableName=table, Key={"pk": {"S": "item"}, "sk": {"S": "new"}})
    assert "Item" not in dynamodb.get_item(TableName=table, Key={"pk": {"S": "item"}, "sk": {"S": "001"}})
