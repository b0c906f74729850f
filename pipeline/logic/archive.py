"""Where archived events live: date-partitioned keys, so a replay can start at any hour. Pure."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

KINDS = ("changes", "uploads")


def archive_key(envelope: dict[str, Any], change_topic_arn: str) -> str:
    """`archive/<kind>/<yyyy>/<mm>/<dd>/<HH>/<timestamp>-<message id>.json` for one SNS notification."""
    kind = "changes" if envelope.get("TopicArn") == change_topic_arn else "uploads"
    stamp = datetime.fromisoformat(str(envelope["Timestamp"]).replace("Z", "+00:00"))
    return f"archive/{kind}/{stamp:%Y/%m/%d/%H}/{stamp:%Y%m%dT%H%M%S%f}-{envelope['MessageId']}.json"


def since_prefixes(kind: str, since: datetime, until: datetime) -> list[str]:
    """The hour prefixes from `since` to `until` (inclusive) of one kind of archived event."""
    prefixes = []
    hour = since.replace(minute=0, second=0, microsecond=0)
    while hour <= until:
        prefixes.append(f"archive/{kind}/{hour:%Y/%m/%d/%H}/")
        hour += timedelta(hours=1)
    return prefixes
