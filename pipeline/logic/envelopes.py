"""SQS bodies from SNS: the published message's text, whether the subscription delivers raw or enveloped."""

from __future__ import annotations

import json


def sns_message(body: str) -> str:
    """The message an SNS subscription delivered: the envelope's `Message`, or the body itself (raw)."""
    try:
        envelope = json.loads(body)
    except json.JSONDecodeError:
        return body
    if isinstance(envelope, dict) and envelope.get("Type") == "Notification" and "Message" in envelope:
        return str(envelope["Message"])
    return body
