"""SNS: publish in batches of 10 (retrying the entries SNS reports as failed), or one text per protocol."""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import ClientError

from pipeline.adapters.clients import LazyClient, string_attributes
from pipeline.errors import TransientError

BATCH = 10  # SNS PublishBatch's limit


class Topic:
    """One SNS topic. The client is injectable; the default is made once per process."""

    sns = LazyClient("sns")

    def __init__(
        self, arn: str, client: Any | None = None, attempts: int = 5, backoff_s: float = 0.2
    ) -> None:
        self.arn = arn
        self.sns = client
        self.attempts = attempts
        self.backoff_s = backoff_s

    def publish_all(self, messages: list[str]) -> list[str | Exception]:
        """Publish every message; returns each one's MessageId, or the error that stopped it after retries."""
        results: list[str | Exception] = [TransientError("not sent")] * len(messages)
        for start in range(0, len(messages), BATCH):
            pending = list(range(start, min(start + BATCH, len(messages))))
            for attempt in range(self.attempts):
                entries = [{"Id": str(i), "Message": messages[i]} for i in pending]
                try:
                    response = self.sns.publish_batch(TopicArn=self.arn, PublishBatchRequestEntries=entries)
                except ClientError as exc:
                    failed_all: Exception = TransientError(f"SNS PublishBatch failed: {exc}")
                    for i in pending:
                        results[i] = failed_all
                else:
                    for ok in response.get("Successful", []):
                        results[int(ok["Id"])] = str(ok["MessageId"])
                    failures = response.get("Failed", [])
                    for failure in failures:
                        results[int(failure["Id"])] = TransientError(
                            f"SNS refused the message: {failure.get('Code')}: {failure.get('Message', '')}"
                        )
                    pending = [int(f["Id"]) for f in failures if f.get("SenderFault") is not True]
                if not pending:
                    break
                time.sleep(self.backoff_s * 2**attempt)
        return results

    def publish_per_protocol(self, message: str, subject: str, attributes: dict[str, str]) -> str:
        """Publish a `MessageStructure=json` message (one text per protocol) with filterable attributes."""
        try:
            response = self.sns.publish(
                TopicArn=self.arn,
                Message=message,
                MessageStructure="json",
                Subject=subject,
                MessageAttributes=string_attributes(attributes),
            )
        except ClientError as exc:
            raise TransientError(f"SNS Publish failed: {exc}") from exc
        return str(response["MessageId"])
