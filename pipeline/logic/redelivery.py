"""When a queue message a consumer failed is seen again: backoff with jitter by its receive count.

A consumer of an SQS queue sets the visibility of the messages it received to this delay before it works on
them, so that a message it fails, or that a crash of its process (`Runtime.ExitError`) leaves unfinished, is
received again after the delay rather than after the queue's whole visibility timeout (3 minutes), and a
message failing again and again waits longer each time. The queue's own timeout still bounds a crash that
comes before the consumer set the delay.
"""

from __future__ import annotations

import random
import re

#: The first redelivery delay's ceiling, and the most any delay may be (the queues' own timeout).
BASE_S = 8
MAX_S = 180
_QUEUE_ARN = re.compile(
    r"^arn:(?P<partition>[^:]+):sqs:(?P<region>[^:]+):(?P<account>\d{12}):(?P<name>[^:]+)$"
)


def redelivery_delay(receive_count: int, rng: random.Random, base_s: int = BASE_S, max_s: int = MAX_S) -> int:
    """Whole seconds (SQS's unit) until the n-th receive of a message is seen again if it is not deleted.

    The ceiling doubles with each receive from `base_s` to `max_s`; the delay is half the ceiling plus a
    random part of the other half ("equal jitter"): never so short that a consumer still working on a message
    sees it delivered again, and spread so that a batch failed together does not come back together.
    """
    ceiling: int = min(max_s, base_s << min(max(1, receive_count) - 1, 20))
    return max(1, round(ceiling / 2 + rng.uniform(0, ceiling / 2)))


def queue_url(queue_arn: str) -> str:
    """An SQS queue's URL from its ARN (an SQS event record names its queue by ARN)."""
    match = _QUEUE_ARN.match(queue_arn)
    if match is None:
        raise ValueError(f"Not an SQS queue ARN: {queue_arn!r}.")
    suffix = ".amazonaws.com.cn" if match["partition"] == "aws-cn" else ".amazonaws.com"
    return f"https://sqs.{match['region']}{suffix}/{match['account']}/{match['name']}"
