import os
import sys

import boto3

type Payload = dict[str, object]


class Box[T]:
    def __init__(self, value: T) -> None:
        self.value = value


def first[T](items: list[T]) -> T:
    return items[0]


def lambda_handler(event: Payload, context) -> Payload:
    return {
        "version": list(sys.version_info[:2]),
        "boto3": boto3.__version__,
        "execution_env": os.environ["AWS_EXECUTION_ENV"],
        "boxed": Box(first([3, 2, 1])).value,
        "remaining_ms": context.get_remaining_time_in_millis(),
    }
