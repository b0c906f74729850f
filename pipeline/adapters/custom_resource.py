"""CloudFormation custom resources: the response CloudFormation waits for, PUT to the ResponseURL."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

#: CloudFormation reads at most 4 KB of a response; a longer reason is cut.
MAX_REASON_CHARS = 1000


def respond(
    event: dict[str, Any],
    status: str,
    physical_id: str,
    *,
    data: dict[str, str] | None = None,
    reason: str = "",
    timeout_s: float = 10.0,
) -> None:
    """Tell CloudFormation how the request ended (`SUCCESS` or `FAILED`), in its response format."""
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason[:MAX_REASON_CHARS]
            or f"See the function's log for {event['LogicalResourceId']}.",
            "PhysicalResourceId": physical_id,
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
            "Data": data or {},
        }
    ).encode()
    # The presigned URL was signed for an empty Content-Type: a set one would break its signature.
    request = urllib.request.Request(
        event["ResponseURL"], data=body, method="PUT", headers={"Content-Type": ""}
    )
    with urllib.request.urlopen(request, timeout=timeout_s) as answer:
        answer.read()
