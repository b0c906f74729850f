"""The basic wires as AWS delivers them: SNS → Lambda, S3 → Lambda/SNS/SQS, asynchronous retries."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote_plus

from embedded_aws.stack import EmbeddedAws, poll_until
from tests.compat.conftest import DeployCompat

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def _objects(aws: EmbeddedAws, bucket: str, prefix: str = "") -> dict[str, bytes]:
    s3 = aws.client("s3")
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {item["Key"]: s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read() for item in listing}


def _drain(aws: EmbeddedAws, queue_url: str, count: int) -> list[dict[str, Any]]:
    sqs = aws.client("sqs")
    received: list[dict[str, Any]] = []

    def enough() -> bool:
        for message in sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"]
        ).get("Messages", []):
            received.append(message)
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        return len(received) >= count

    assert poll_until(enough, timeout_s=30 if count else 1), received
    return received


def test_sns_delivers_to_lambda_the_event_aws_documents(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given a function subscribed to a topic
    stack = deploy_compat("wire_sns_lambda")
    sns, topic = aws.client("sns"), stack.outputs["TopicArn"]

    # When one message is published with a subject and attributes, and one with neither
    with_all = sns.publish(
        TopicArn=topic,
        Message="hello",
        Subject="Greeting",
        MessageAttributes={
            "kind": {"DataType": "String", "StringValue": "greeting"},
            "count": {"DataType": "Number", "StringValue": "3"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        },
    )["MessageId"]
    bare = sns.publish(TopicArn=topic, Message="plain")["MessageId"]

    # Then the function receives SNS's Lambda event for each
    events = poll_until(lambda: _objects(aws, stack.outputs["EventsBucketName"]), timeout_s=30)
    events = poll_until(
        lambda: len(_objects(aws, stack.outputs["EventsBucketName"])) == 2, timeout_s=30
    ) and (_objects(aws, stack.outputs["EventsBucketName"]))
    first = json.loads(events[f"events/{with_all}.json"])["event"]["Records"]
    [record] = first
    assert record["EventSource"] == "aws:sns"
    assert record["EventVersion"] == "1.0"
    assert record["EventSubscriptionArn"].startswith(f"{topic}:")
    subscriptions = aws.client("sns").list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert record["EventSubscriptionArn"] == subscriptions[0]["SubscriptionArn"]
    message = record["Sns"]
    assert set(message) == {
        "Type", "MessageId", "TopicArn", "Subject", "Message", "Timestamp", "SignatureVersion", "Signature",
        "SigningCertUrl", "UnsubscribeUrl", "MessageAttributes",
    }  # fmt: skip
    assert (message["Type"], message["MessageId"], message["TopicArn"]) == ("Notification", with_all, topic)
    assert (message["Subject"], message["Message"], message["SignatureVersion"]) == ("Greeting", "hello", "1")
    assert TIMESTAMP.match(message["Timestamp"])
    assert message["MessageAttributes"] == {
        "kind": {"Type": "String", "Value": "greeting"},
        "count": {"Type": "Number", "Value": "3"},
        "blob": {"Type": "Binary", "Value": "AAE="},
    }
    # ...and a message without a subject has a null Subject and empty attributes
    [plain] = json.loads(events[f"events/{bare}.json"])["event"]["Records"]
    assert (plain["Sns"]["Subject"], plain["Sns"]["MessageAttributes"]) == (None, {})


def test_s3_notifies_lambda_for_filtered_keys_with_s3s_event_shape(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given a versioned bucket notifying a function for incoming/*.csv (created and removed)
    stack = deploy_compat("wire_s3_lambda_filters")
    s3, inbox, records = (
        aws.client("s3"),
        stack.outputs["InboxBucketName"],
        stack.outputs["RecordsBucketName"],
    )

    # When matching and non-matching objects are put, and a matching one deleted
    put = s3.put_object(Bucket=inbox, Key="incoming/a b+ü.csv", Body=b"id,x\n1,2\n")
    s3.put_object(Bucket=inbox, Key="incoming/notes.txt", Body=b"x")
    s3.put_object(Bucket=inbox, Key="elsewhere/b.csv", Body=b"x")
    s3.delete_object(Bucket=inbox, Key="incoming/a b+ü.csv")

    # Then only the matching key is delivered, once created and once removed, in S3's shape
    def delivered() -> list[dict[str, Any]]:
        found = [json.loads(body) for body in _objects(aws, records).values()]
        return found if len(found) >= 2 else []

    assert poll_until(delivered, timeout_s=30)
    assert poll_until(aws.async_idle, timeout_s=30)
    found = sorted(delivered(), key=lambda r: r["s3"]["object"]["sequencer"])
    assert [r["eventName"] for r in found] == ["ObjectCreated:Put", "ObjectRemoved:DeleteMarkerCreated"]
    created, removed = found
    assert (created["eventVersion"], created["eventSource"], created["awsRegion"]) == (
        "2.1",
        "aws:s3",
        "us-east-1",
    )
    assert TIMESTAMP.match(created["eventTime"])
    assert created["s3"]["s3SchemaVersion"] == "1.0"
    assert created["s3"]["bucket"]["name"] == inbox
    assert created["s3"]["bucket"]["arn"] == f"arn:aws:s3:::{inbox}"
    obj = created["s3"]["object"]
    assert obj["key"] == quote_plus("incoming/a b+ü.csv", safe="/") == "incoming/a+b%2B%C3%BC.csv"
    assert (obj["size"], obj["eTag"], obj["versionId"]) == (9, put["ETag"].strip('"'), put["VersionId"])
    assert re.fullmatch(r"[0-9A-F]+", obj["sequencer"])
    # ...and a delete marker's record names the marker's version, with no size or eTag
    assert set(removed["s3"]["object"]) == {"key", "versionId", "sequencer"}


def test_s3_notifies_sns_and_sqs_raw_and_enveloped(aws: EmbeddedAws, deploy_compat: DeployCompat) -> None:
    # Given a bucket notifying a topic for *.json (fanned out raw and enveloped) and a queue for direct/*
    stack = deploy_compat("wire_s3_sns_sqs")
    s3, bucket = aws.client("s3"), stack.outputs["BucketName"]

    # When one object matches each filter and one matches neither
    s3.put_object(Bucket=bucket, Key="reports/r1.json", Body=b"{}")
    s3.put_object(Bucket=bucket, Key="direct/d1.txt", Body=b"x")
    s3.put_object(Bucket=bucket, Key="other/o1.txt", Body=b"x")

    # Then the raw queue holds the S3 event itself (after S3's test event, if it was subscribed in time)
    [raw] = _s3_events(aws, stack.outputs["RawQueueUrl"], 1)
    assert [r["s3"]["object"]["key"] for r in raw["Records"]] == ["reports/r1.json"]
    # ...the enveloped queue holds SNS's JSON envelope around it
    [envelope] = _s3_events(aws, stack.outputs["EnvelopedQueueUrl"], 1, enveloped=True)
    assert envelope["Type"] == "Notification"
    assert envelope["TopicArn"] == stack.outputs["TopicArn"]
    # moto signs envelopes with SHA256, i.e. SignatureVersion 2 (AWS's default for a topic is 1)
    assert envelope["SignatureVersion"] in {"1", "2"}
    assert {"MessageId", "Timestamp", "Signature", "SigningCertURL", "UnsubscribeURL"} <= set(envelope)
    assert json.loads(envelope["Message"]) == raw
    # ...and the queue notified directly got only its prefix's object
    [direct] = _s3_events(aws, stack.outputs["DirectQueueUrl"], 1)
    assert [r["s3"]["object"]["key"] for r in direct["Records"]] == ["direct/d1.txt"]
    # ...and nothing else arrived anywhere
    for url in ("RawQueueUrl", "EnvelopedQueueUrl", "DirectQueueUrl"):
        assert _s3_events(aws, stack.outputs[url], 0) == []


def _s3_events(aws: EmbeddedAws, queue_url: str, count: int, enveloped: bool = False) -> list[dict[str, Any]]:
    """The next `count` S3 event messages on a queue; S3's test events (checked for shape) are skipped."""
    found: list[dict[str, Any]] = []

    def events() -> bool:
        for message in _drain(aws, queue_url, 0):
            body = json.loads(message["Body"])
            inner = json.loads(body["Message"]) if enveloped else body
            if inner.get("Event") == "s3:TestEvent":
                assert inner["Service"] == "Amazon S3" and TIMESTAMP.match(inner["Time"]), inner
            else:
                found.append(body)
        return len(found) >= count

    poll_until(events, timeout_s=30)
    return found


def test_failed_async_invocations_are_retried_then_dead_lettered(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given a failing function with a dead-letter queue, and one allowed a single retry
    stack = deploy_compat("wire_async_retries")
    lam, attempts = aws.client("lambda"), stack.outputs["AttemptsBucketName"]

    # When each is invoked asynchronously
    for name, order in ((stack.outputs["FailingName"], "o-1"), (stack.outputs["OnceRetriedName"], "o-2")):
        response = lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"id": order}))
        assert response["StatusCode"] == 202

    # Then the first runs 1 + 2 retries and its event lands in the DLQ with Lambda's attributes
    [dead] = _drain(aws, stack.outputs["DeadLetterQueueUrl"], 1)
    assert json.loads(dead["Body"]) == {"id": "o-1"}
    attributes = {k: v["StringValue"] for k, v in dead["MessageAttributes"].items()}
    assert attributes["ErrorCode"] == "200"
    assert "order o-1 is rejected" in attributes["ErrorMessage"]
    assert attributes["RequestID"]
    assert len(_objects(aws, attempts, f"{stack.outputs['FailingName']}/o-1/")) == 3
    # ...and the second runs 1 + 1 retry (its EventInvokeConfig), then is given up on
    assert poll_until(aws.async_idle, timeout_s=30)
    assert len(_objects(aws, attempts, f"{stack.outputs['OnceRetriedName']}/o-2/")) == 2
