"""Redelivery delays of queue consumers: backoff with jitter by receive count, when a batch sets them."""

from __future__ import annotations

import random
from typing import Any

import pytest

from pipeline.handlers.batch import SQSRecord, process_partial_response
from pipeline.logic.redelivery import BASE_S, MAX_S, queue_url, redelivery_delay


@pytest.mark.parametrize("receives", [1, 2, 3, 4, 5, 6, 20])
def test_the_delay_is_between_half_and_all_of_a_ceiling_that_doubles_with_each_receive(receives: int) -> None:
    # Given many draws for one receive count
    rng = random.Random(7)
    delays = [redelivery_delay(receives, rng) for _ in range(200)]

    # Then each lies in [ceiling / 2, ceiling], the ceiling doubling from BASE_S up to MAX_S
    ceiling = min(MAX_S, BASE_S * 2 ** (receives - 1))
    assert all(ceiling / 2 - 0.5 <= d <= ceiling for d in delays), (min(delays), max(delays), ceiling)
    # And they spread (jitter), so that a batch failed together does not come back together
    assert len(set(delays)) >= 3


def test_the_delay_is_at_least_a_second_and_a_receive_count_below_one_counts_as_one() -> None:
    rng = random.Random(1)
    assert min(redelivery_delay(1, rng, base_s=1) for _ in range(50)) == 1
    assert max(redelivery_delay(0, rng) for _ in range(50)) <= BASE_S


@pytest.mark.parametrize(
    ("arn", "url"),
    [
        ("arn:aws:sqs:eu-west-1:123456789012:q", "https://sqs.eu-west-1.amazonaws.com/123456789012/q"),
        (
            "arn:aws-cn:sqs:cn-north-1:123456789012:q",
            "https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q",
        ),
        (
            "arn:aws-us-gov:sqs:us-gov-west-1:123456789012:q.fifo",
            "https://sqs.us-gov-west-1.amazonaws.com/123456789012/q.fifo",
        ),
    ],
)
def test_a_queues_url_comes_from_its_arn(arn: str, url: str) -> None:
    assert queue_url(arn) == url


def test_an_arn_that_is_not_a_queues_is_refused() -> None:
    with pytest.raises(ValueError, match="Not an SQS queue ARN"):
        queue_url("arn:aws:sns:us-east-1:123456789012:topic")


class _Context:
    def get_remaining_time_in_millis(self) -> int:
        return 9_200


def _records(*ids: str) -> dict[str, Any]:
    return {
        "Records": [{"messageId": i, "body": i, "attributes": {"ApproximateReceiveCount": "1"}} for i in ids]
    }


def test_a_batch_holds_every_message_for_the_remaining_time_first_and_the_failed_ones_again_at_the_end() -> (
    None
):
    # Given a batch of three whose second record fails, and a hold that records its calls
    held: list[tuple[list[str], int]] = []

    def hold(records: list[SQSRecord], after_s: int) -> None:
        held.append(([r.message_id for r in records], after_s))

    def handle(record: SQSRecord) -> None:
        if record.message_id == "m2":
            raise RuntimeError("no")

    # When the batch runs with 9.2 s of the invocation left
    response = process_partial_response(_records("m1", "m2", "m3"), handle, _Context(), hold)

    # Then all three were held for the rest of the invocation (rounded up) before any record ran, and the
    # failed one again for its delay alone, from when it failed
    assert held == [(["m1", "m2", "m3"], 10), (["m2"], 0)]
    assert response == {"batchItemFailures": [{"itemIdentifier": "m2"}]}


def test_without_a_context_nothing_is_held_until_a_record_fails() -> None:
    held: list[tuple[list[str], int]] = []
    process_partial_response(_records("m1"), lambda record: None, None, lambda r, s: held.append(([], s)))
    assert held == []
