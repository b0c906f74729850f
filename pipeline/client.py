"""A small client for upstream systems: validate change events against the contract, then publish them.

    from pipeline.client import ChangeClient
    client = ChangeClient(topic_arn)
    for result in client.emit([{"schema_version": 1, "source": "shop", ...}]):
        print(result.ok, result.message_id or result.error)

Invalid events are refused before anything is sent, with the schema path and message. Valid ones go out with
SNS PublishBatch, 10 per call; entries SNS reports as failed are retried with backoff.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pipeline.adapters.topics import Topic
from pipeline.errors import PipelineError
from pipeline.logic.changes import parse_change
from pipeline.models import ChangeEvent


@dataclass(frozen=True)
class EmitResult:
    """One event's outcome: sent with a message id, or refused/failed with a reason."""

    index: int
    event: dict[str, Any] | str
    message_id: str | None = None
    reason: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.message_id is not None


class ChangeClient:
    """Emits change events to the ChangeEvents topic."""

    def __init__(self, topic_arn: str, sns_client: Any | None = None, attempts: int = 5) -> None:
        self.topic = Topic(topic_arn, sns_client, attempts=attempts)

    def emit(self, events: Iterable[dict[str, Any] | str | ChangeEvent]) -> list[EmitResult]:
        """Validate each event, then publish the valid ones; results are in input order."""
        results: dict[int, EmitResult] = {}
        to_send: list[tuple[int, str, dict[str, Any] | str]] = []
        for index, event in enumerate(events):
            original: dict[str, Any] | str = (
                event.model_dump(exclude_none=True) if isinstance(event, ChangeEvent) else event
            )
            text = original if isinstance(original, str) else json.dumps(original, separators=(",", ":"))
            try:
                parse_change(text)
            except PipelineError as refused:
                results[index] = EmitResult(index, original, reason=refused.reason, error=refused.message)
                continue
            to_send.append((index, text, original))
        sent = self.topic.publish_all([text for _, text, _ in to_send])
        for (index, _, original), outcome in zip(to_send, sent, strict=True):
            if isinstance(outcome, str):
                results[index] = EmitResult(index, original, message_id=outcome)
            else:
                results[index] = EmitResult(index, original, reason="publish_failed", error=str(outcome))
        return [results[i] for i in sorted(results)]
