"""How AWS writes a few small things: timestamps with milliseconds, function names from ARNs, S3's errors."""

from __future__ import annotations

import datetime
import uuid
from xml.sax.saxutils import escape

#: S3's `HostId` in the embedded AWS's answers.
S3_HOST_ID = "embedded-aws"


def iso_millis(moment: datetime.datetime | str | None = None) -> str:
    """A UTC timestamp with milliseconds as AWS writes them in events and logs: `2024-05-01T12:00:00.123Z`.

    `moment` defaults to now; a naive datetime is taken as UTC; a string is read as ISO 8601.
    """
    if moment is None:
        moment = datetime.datetime.now(datetime.UTC)
    elif isinstance(moment, str):
        moment = datetime.datetime.fromisoformat(moment.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    utc = moment.astimezone(datetime.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def function_name(name_or_arn: str) -> str:
    """A Lambda function's name from its name, its ARN, or a qualified ARN (`…:function:f:alias`)."""
    return name_or_arn.rsplit(":function:", maxsplit=1)[-1].split(":", maxsplit=1)[0]


def s3_error_xml(code: str, message: str, request_id: str | None = None, **extra: object) -> bytes:
    """S3's error document: `<Error>` with Code, Message, any `extra` elements (Key, Method, ProposedSize…),
    RequestId and HostId, every value escaped."""
    elements = "".join(f"<{name}>{escape(str(value))}</{name}>" for name, value in extra.items())
    request_id = request_id or uuid.uuid4().hex[:16].upper()
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{escape(code)}</Code>'
        f"<Message>{escape(message)}</Message>{elements}<RequestId>{escape(request_id)}</RequestId>"
        f"<HostId>{S3_HOST_ID}</HostId></Error>"
    ).encode()
