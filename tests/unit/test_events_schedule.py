"""Schedule expressions as EventBridge reads them, and the clock schedules run on (no network)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from embedded_aws.scheduler import At, Clock, Rate, ScheduleExpressionError, parse

FRIDAY_1PM = datetime(2024, 5, 3, 13, 0, tzinfo=UTC)  # Friday 3 May 2024


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [("rate(1 minute)", 60), ("rate(5 minutes)", 300), ("rate(1 hour)", 3600), ("rate(2 days)", 172800)],
)
def test_rates_are_read_in_seconds_and_first_fire_one_period_after_creation(
    expression: str, seconds: int
) -> None:
    # Given a rate expression
    # When it is parsed
    schedule = parse(expression)

    # Then it fires one period after creation, then every period
    assert schedule == Rate(seconds)
    assert schedule.first_after(FRIDAY_1PM) == FRIDAY_1PM + timedelta(seconds=seconds)
    assert schedule.next_after(FRIDAY_1PM) == FRIDAY_1PM + timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("cron(0 12 ? * MON-FRI *)", datetime(2024, 5, 6, 12, 0, tzinfo=UTC)),  # next weekday noon
        ("cron(15 10 L * ? *)", datetime(2024, 5, 31, 10, 15, tzinfo=UTC)),  # last day of the month
        ("cron(0 9 ? * 6#3 *)", datetime(2024, 5, 17, 9, 0, tzinfo=UTC)),  # third Friday
        ("cron(0 9 ? * 6L *)", datetime(2024, 5, 31, 9, 0, tzinfo=UTC)),  # last Friday
        ("cron(0 8 1W * ? *)", datetime(2024, 6, 3, 8, 0, tzinfo=UTC)),  # 1 June is a Saturday: Monday 3rd
        ("cron(0/15 * * * ? *)", datetime(2024, 5, 3, 13, 15, tzinfo=UTC)),
        ("cron(0 0 1 JAN ? 2025)", datetime(2025, 1, 1, 0, 0, tzinfo=UTC)),
        ("cron(30 13 * * ? *)", datetime(2024, 5, 3, 13, 30, tzinfo=UTC)),
    ],
)
def test_cron_expressions_fire_when_aws_documents(expression: str, expected: datetime) -> None:
    # Given an AWS six-field cron expression
    # When the next firing after Friday 13:00 UTC is computed
    # Then it is the documented time
    assert parse(expression).next_after(FRIDAY_1PM) == expected


def test_cron_in_a_time_zone_fires_at_local_time() -> None:
    # Given a Scheduler cron at 09:00 in New York (EDT in May, UTC-4)
    schedule = parse("cron(0 9 * * ? *)", timezone="America/New_York")

    # When the next firing is computed
    # Then it is 13:00 UTC the next day
    assert schedule.next_after(FRIDAY_1PM) == datetime(2024, 5, 4, 13, 0, tzinfo=UTC)


def test_a_one_time_schedule_fires_once() -> None:
    # Given an at() expression (EventBridge Scheduler only)
    schedule = parse("at(2024-05-04T10:00:00)", allow_at=True)

    # Then it fires at that time and never again
    assert schedule == At(datetime(2024, 5, 4, 10, 0, tzinfo=UTC))
    assert schedule.next_after(datetime(2024, 5, 4, 10, 0, tzinfo=UTC)) is None


@pytest.mark.parametrize(
    "expression",
    [
        "rate(1 minutes)",  # plural with 1
        "rate(5 minute)",  # singular with 5
        "rate(0 minutes)",
        "rate(1 week)",
        "cron(0 12 * * *)",  # five fields
        "cron(0 12 * * MON *)",  # neither day field is ?
        "cron(0 12 ? * ? *)",  # both are
        "cron(61 12 * * ? *)",
        "cron(0 12 ? * 9 *)",
        "at(2024-05-04T10:00:00)",  # not for EventBridge rules
        "every minute",
    ],
)
def test_expressions_aws_refuses_are_refused(expression: str) -> None:
    # Given an expression AWS would refuse
    # When it is parsed
    # Then it is refused
    with pytest.raises(ScheduleExpressionError):
        parse(expression)


def test_an_accelerated_clock_runs_faster_and_never_goes_back() -> None:
    # Given a clock at the wall clock's pace
    clock = Clock(1)
    before = clock.now()

    # When it is accelerated, then slowed again
    clock.set_scale(3600)
    accelerated = clock.now()
    clock.set_scale(1)

    # Then time moved on without jumping back, and durations convert to wall-clock seconds
    assert before <= accelerated <= clock.now()
    assert Clock(60).real_seconds(60) == 1
    with pytest.raises(ValueError, match="positive"):
        clock.set_scale(0)
