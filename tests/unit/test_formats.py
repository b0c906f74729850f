"""Small AWS formats the embedded AWS writes in many places."""

from __future__ import annotations

import datetime

from embedded_aws.formats import function_name, iso_millis


def test_timestamps_carry_milliseconds_in_utc() -> None:
    # Given a moment in another time zone, a naive one and an ISO string
    plus_two = datetime.timezone(datetime.timedelta(hours=2))
    moment = datetime.datetime(2024, 5, 1, 14, 0, 0, 123_456, tzinfo=plus_two)

    # Then each is written as AWS writes timestamps, in UTC with three decimals
    assert iso_millis(moment) == "2024-05-01T12:00:00.123Z"
    assert iso_millis(datetime.datetime(2024, 5, 1, 12, 0, 0, 5_000)) == "2024-05-01T12:00:00.005Z"
    assert iso_millis("2024-05-01T12:00:00.9Z") == "2024-05-01T12:00:00.900Z"
    assert iso_millis().endswith("Z") and len(iso_millis()) == len("2024-05-01T12:00:00.123Z")


def test_function_names_come_from_names_and_arns() -> None:
    arn = "arn:aws:lambda:us-east-1:123456789012:function:resize"
    assert function_name("resize") == "resize"
    assert function_name(arn) == "resize"
    assert function_name(f"{arn}:live") == "resize"
