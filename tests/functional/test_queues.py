"""The SQS adapter hides received messages, ten per call, and reports what SQS refused (moto SQS)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from pipeline.adapters.queues import Queue


@pytest.fixture
def sqs() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("sqs")


def test_twelve_received_messages_are_hidden_and_a_stale_receipt_is_reported(sqs: Any) -> None:
    # Given twelve messages received from a queue, hidden for 5 minutes
    url = sqs.create_queue(QueueName="work")["QueueUrl"]
    for n in range(12):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{n}")
    received: list[dict[str, Any]] = []
    while len(received) < 12:
        received += sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=300)[
            "Messages"
        ]

    # When all are set to be seen again now (two calls of ten at most), with one receipt that is not SQS's
    failures = Queue(url, sqs).hide([(m["ReceiptHandle"], 0) for m in received] + [("not-a-receipt", 0)])

    # Then all twelve are visible, and the bad receipt is reported by SQS's error code
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    assert attributes == {"ApproximateNumberOfMessages": "12", "ApproximateNumberOfMessagesNotVisible": "0"}
    assert len(failures) == 1 and failures[0].startswith("ReceiptHandleIsInvalid"), failures
