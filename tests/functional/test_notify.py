"""The Notify handler on moto: exactly one notification per item event, however often the event arrives."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError
from moto import mock_aws

from pipeline.adapters.clients import default_client
from pipeline.config import settings

EVENT: dict[str, Any] = {
    "event": "published",
    "event_id": "published:9df8eb30c8890b24c66f55f8:v1",
    "item_id": "9df8eb30c8890b24c66f55f8",
    "title": "Sunset",
    "version": 1,
    "latest": 1,
    "collection": "holidays",
    "owner": "ada",
    "url": "https://d1.cloudfront.net/items/9df8eb30c8890b24c66f55f8.json",
}


@dataclass
class Context:
    """The parts of a Lambda context the handler and Powertools read."""

    function_name: str = "notify"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:notify"
    memory_limit_in_mb: int = 512
    aws_request_id: str = "request-1"
    log_group_name: str = "/aws/lambda/notify"
    log_stream_name: str = "stream"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


@dataclass
class Notify:
    module: ModuleType
    sqs: Any
    inbox: str
    dead_letters: str

    def deliver(self, *bodies: str) -> dict[str, Any]:
        """Hand the handler one SQS batch; returns its partial-batch response."""
        records = [
            {
                "messageId": f"m-{n}",
                "receiptHandle": f"r-{n}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:notify",
                "awsRegion": "us-east-1",
            }
            for n, body in enumerate(bodies)
        ]
        response: dict[str, Any] = self.module.handler({"Records": records}, Context())
        return response

    def drain(self, url: str) -> list[dict[str, Any]]:
        """Every message waiting in a queue (received once, so each is returned once)."""
        messages: list[dict[str, Any]] = []
        while True:
            batch = self.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
            ).get("Messages", [])
            if not batch:
                return messages
            messages.extend(batch)

    def sent(self) -> list[dict[str, Any]]:
        """Every notification the topic published (its SQS subscriber's inbox)."""
        return [json.loads(m["Body"]) for m in self.drain(self.inbox)]


@pytest.fixture
def notify(monkeypatch: pytest.MonkeyPatch) -> Iterator[Notify]:
    with mock_aws():
        sns, sqs, ddb = boto3.client("sns"), boto3.client("sqs"), boto3.client("dynamodb")
        topic = sns.create_topic(Name="user-notifications")["TopicArn"]
        inbox = sqs.create_queue(QueueName="inbox")["QueueUrl"]
        inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn)
        dead_letters = sqs.create_queue(QueueName="notify-dlq")["QueueUrl"]
        ddb.create_table(
            TableName="idempotency",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        monkeypatch.setenv("USER_NOTIFICATIONS_TOPIC_ARN", topic)
        monkeypatch.setenv("IDEMPOTENCY_TABLE", "idempotency")
        monkeypatch.setenv("NOTIFY_DEAD_LETTER_QUEUE_URL", dead_letters)
        monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
        monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Pipeline")
        settings.cache_clear()
        default_client.cache_clear()
        module = importlib.reload(importlib.import_module("pipeline.handlers.notify"))
        yield Notify(module, sqs, inbox, dead_letters)
    settings.cache_clear()
    default_client.cache_clear()


def test_an_item_event_delivered_three_times_sends_one_notification(notify: Notify) -> None:
    # Given one item event, delivered twice in one batch
    body = json.dumps(EVENT)
    first = notify.deliver(body, body)
    # When the queue delivers it once more, later
    again = notify.deliver(body)
    # Then every delivery succeeds and exactly one notification went out, with filterable attributes
    assert first == {"batchItemFailures": []} and again == {"batchItemFailures": []}
    sent = notify.sent()
    assert len(sent) == 1
    assert sent[0]["Subject"] == "Published: Sunset (holidays, v1)"
    assert {k: v["Value"] for k, v in sent[0]["MessageAttributes"].items()} == {
        "event": "published",
        "owner": "ada",
        "collection": "holidays",
        "AWS.SNS.SMS.SMSType": "Transactional",
    }


def test_a_duplicate_arriving_while_the_first_is_sending_is_retried_not_sent(notify: Notify) -> None:
    # Given a notification being sent when its duplicate arrives (another Notify instance, same event)
    body = json.dumps(EVENT)
    publish = notify.module.topic.publish_per_protocol
    during: list[BaseException] = []

    def publish_while_a_duplicate_arrives(*args: Any, **kwargs: Any) -> str:
        record = {"messageId": "dup", "receiptHandle": "r", "body": body, "attributes": {}}
        try:
            notify.module.record_handler(notify.module.SQSRecord(record))
        except IdempotencyAlreadyInProgressError as exc:
            during.append(exc)
        return str(publish(*args, **kwargs))

    notify.module.topic.publish_per_protocol = publish_while_a_duplicate_arrives
    # When the first completes, and the queue later redelivers the duplicate
    first = notify.deliver(body)
    notify.module.topic.publish_per_protocol = publish
    redelivered = notify.deliver(body)
    # Then the in-flight duplicate failed (so SQS retries it) and only one notification was sent
    assert len(during) == 1
    assert first == {"batchItemFailures": []} and redelivered == {"batchItemFailures": []}
    assert len(notify.sent()) == 1


def test_different_events_of_one_item_each_send_their_own_notification(notify: Notify) -> None:
    # Given version 1 and version 2 of one item, published
    second = {**EVENT, "event_id": "published:9df8eb30c8890b24c66f55f8:v2", "version": 2, "latest": 2}
    # When both arrive
    response = notify.deliver(json.dumps(EVENT), json.dumps(second))
    # Then each is notified once
    assert response == {"batchItemFailures": []}
    assert sorted(m["Subject"] for m in notify.sent()) == [
        "Published: Sunset (holidays, v1)",
        "Published: Sunset (holidays, v2)",
    ]


def test_a_message_that_is_not_an_item_event_goes_to_the_dead_letter_queue_unretried(notify: Notify) -> None:
    # Given a malformed message and an unknown event type next to a good event
    bad = ["not json", json.dumps({**EVENT, "event": "exploded"})]
    # When they arrive in one batch
    response = notify.deliver(*bad, json.dumps(EVENT))
    # Then no record fails (no retry could fix them): both bad ones wait in the dead-letter queue with their
    # reason, and the good one is sent
    assert response == {"batchItemFailures": []}
    kept = notify.drain(notify.dead_letters)
    assert sorted(m["Body"] for m in kept) == sorted(bad)
    assert {m["MessageAttributes"]["reason"]["StringValue"] for m in kept} == {"unknown_event"}
    assert len(notify.sent()) == 1
