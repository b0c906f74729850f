"""SQS: put a message on a queue (a dead-letter queue, for messages no retry can fix)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from pipeline.adapters.clients import LazyClient, string_attributes
from pipeline.errors import TransientError


class Queue:
    """One SQS queue. The client is injectable; the default is made once per process."""

    sqs = LazyClient("sqs")

    def __init__(self, url: str, client: Any | None = None) -> None:
        self.url = url
        self.sqs = client

    def send(self, body: str, attributes: dict[str, str] | None = None) -> str:
        """Send one message with string attributes; returns its MessageId."""
        try:
            response = self.sqs.send_message(
                QueueUrl=self.url,
                MessageBody=body,
                MessageAttributes=string_attributes(attributes or {}),
            )
        except ClientError as exc:
            raise TransientError(f"SQS SendMessage failed: {exc}") from exc
        return str(response["MessageId"])
