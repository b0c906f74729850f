"""`pipeline replay`: re-emit archived events to their topics. Idempotency (D7) makes a replay safe."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from pipeline.adapters.topics import Topic
from pipeline.cli.uploads import Stack
from pipeline.logic.archive import KINDS, since_prefixes

TOPIC_OUTPUTS = {"changes": "ChangeEventsTopicArn", "uploads": "UploadEventsTopicArn"}


@dataclass(frozen=True)
class Replayed:
    """How many archived events of one kind were found, and how many were re-emitted."""

    kind: str
    found: int
    sent: int


def replay(
    stack: Stack,
    since: datetime,
    kinds: tuple[str, ...] = KINDS,
    progress: Callable[[int], None] | None = None,
) -> list[Replayed]:
    """Re-publish every event archived since `since` (oldest first) to the topic it came from."""
    s3 = stack.client("s3")
    bucket = stack.outputs["ArchiveBucketName"]
    since = since if since.tzinfo else since.replace(tzinfo=UTC)
    results = []
    for kind in kinds:
        keys: list[str] = []
        for prefix in since_prefixes(kind, since, datetime.now(UTC)):
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                keys.extend(o["Key"] for o in page.get("Contents", []))
        messages = []
        for key in sorted(keys):
            envelope = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
            if datetime.fromisoformat(str(envelope["Timestamp"]).replace("Z", "+00:00")) >= since:
                messages.append(str(envelope["Message"]))
        topic = Topic(stack.outputs[TOPIC_OUTPUTS[kind]], stack.client("sns"))
        outcomes = topic.publish_all(messages)
        if progress is not None:
            progress(len(messages))
        results.append(Replayed(kind, len(messages), sum(isinstance(o, str) for o in outcomes)))
    return results
