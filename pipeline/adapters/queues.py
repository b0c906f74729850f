"""SQS: put a message on a queue (a dead-letter queue, for messages no retry can fix); set how long received
messages stay hidden."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

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

    def hide(self, receipts: list[tuple[str, int]]) -> list[str]:
        """Set each received message's visibility timeout (receipt handle, seconds); returns the SQS
        failures as `code: message` (a message whose receipt expired, say), which leave it as it was."""
        failures: list[str] = []
        for start in range(0, len(receipts), 10):
            entries = [
                {"Id": str(n), "ReceiptHandle": handle, "VisibilityTimeout": seconds}
                for n, (handle, seconds) in enumerate(receipts[start : start + 10])
            ]
            try:
                response = self.sqs.change_message_visibility_batch(QueueUrl=self.url, Entries=entries)
            except ClientError as exc:
                error = exc.response.get("Error", {})
                failures.append(f"{error.get('Code')}: {error.get('Message')}")
                continue
            except BotoCoreError as exc:  # no answer (connection, timeout): the same, for every entry
                failures.append(f"{type(exc).__name__}: {exc}")
                continue
            failures += [f"{f.get('Code')}: {f.get('Message')}" for f in response.get("Failed", [])]
        return failures
