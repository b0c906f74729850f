"""When a queue message a consumer failed is seen again: backoff with jitter by its receive count.

A consumer of an SQS queue hides the messages it received for its invocation's remaining time plus this delay
before it works on them (and a message it fails for the delay alone, from then), so that a failed message,
or one that a crash of its process (`Runtime.ExitError`) leaves unfinished, is received again after seconds
rather than after the queue's whole visibility timeout, never while the invocation may still work on it, and
later each time it fails again. The queue's own timeout still bounds a crash that comes before the consumer
hid its messages.
"""

from __future__ import annotations

import random
import re

#: The first redelivery delay's ceiling, and the most any delay may be (the consumers' queues' own timeout).
BASE_S = 8
MAX_S = 60
_QUEUE_ARN = re.compile(
    r"^arn:(?P<partition>[^:]+):sqs:(?P<region>[^:]+):(?P<account>\d{12}):(?P<name>[^:]+)$"
)


def redelivery_delay(receive_count: int, rng: random.Random, base_s: int = BASE_S, max_s: int = MAX_S) -> int:
    """Whole seconds (SQS's unit) until the n-th receive of a message is seen again if it is not deleted.

    The ceiling doubles with each receive from `base_s` to `max_s`; the delay is half the ceiling plus a
    random part of the other half ("equal jitter"): growing with each failure, and spread so that a batch
    failed together does not come back together.
    """
    ceiling: int = min(max_s, base_s << min(max(1, receive_count) - 1, 20))
    return max(1, round(ceiling / 2 + rng.uniform(0, ceiling / 2)))


def queue_url(queue_arn: str) -> str:
    """An SQS queue's URL from its ARN (an SQS event record names its queue by ARN), in the form SQS gives in
    the aws, aws-cn and aws-us-gov partitions (the SDK sends it to its own endpoint either way)."""
    match = _QUEUE_ARN.match(queue_arn)
    if match is None:
        raise ValueError(f"Not an SQS queue ARN: {queue_arn!r}.")
    suffix = ".amazonaws.com.cn" if match["partition"] == "aws-cn" else ".amazonaws.com"
    return f"https://sqs.{match['region']}{suffix}/{match['account']}/{match['name']}"
