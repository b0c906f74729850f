"""Fault injection settings: read from `--faults`, refused with a sentence to act on, seeded, counted.

The middleware test drives `AwsErrorMiddleware` with a stand-in moto app (no network) and parses its answer
with botocore's own parsers, as a function's SDK would.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any

import botocore.session
import pytest
from botocore.parsers import create_parser
from werkzeug.test import EnvironBuilder

from embedded_aws import faults
from embedded_aws.errors import EmbeddedAwsError, ThrottledError
from embedded_aws.faults import KINDS, Faults, FaultsError
from embedded_aws.server import ErrorLog
from tests.unit.test_server_errors import call

FUNCTION_UA = "Boto3/1.40.0 md/Botocore#1.40.0 os/linux lang/python#3.12 exec-env/AWS_Lambda_python3.12"
HOST_UA = "Boto3/1.40.0 md/Botocore#1.40.0 ua/2.1 os/linux lang/python#3.11"


def test_the_option_string_sets_each_kind_and_the_seed() -> None:
    # Given the option as `pipeline up --faults` takes it
    text = "crash=0.1, throttle=0.05,aws-errors=0.05,duplicate=1,seed=7"

    # When it is read
    parsed = Faults.parse(text)

    # Then every kind has its probability and the seed is kept
    assert parsed.probabilities == {"crash": 0.1, "throttle": 0.05, "aws-errors": 0.05, "duplicate": 1.0}
    assert parsed.seed == 7
    assert parsed.enabled
    assert parsed.describe() == "crash 10%, throttle 5%, aws-errors 5%, duplicate 100%, seed 7"


def test_kinds_not_named_are_off_and_an_empty_setting_is_off() -> None:
    # Given settings naming one kind, and none
    one, none = Faults.parse("crash=0.5"), Faults.parse("")

    # Then the others are off, and with none nothing is on
    assert one.on() == [("crash", 0.5)]
    assert (one.seed, none.enabled, none.describe()) == (0, False, "off")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("crash=0.1,explode=0.2", "'explode' is not a kind of fault. Write KIND=PROBABILITY pairs"),
        ("crash=1.5", "crash=1.5 is not a probability. Write a number from 0 to 1"),
        ("throttle=-0.1", "throttle=-0.1 is not a probability"),
        ("duplicate=often", "duplicate=often is not a probability"),
        ("crash", "'crash' is not KIND=PROBABILITY. Write, e.g., crash=0.1,"),
        ("seed=seven", "seed=seven is not a whole number. Write, e.g., seed=7."),
        ("crash=0.1,crash=0.2", "crash is set twice"),
    ],
)
def test_a_setting_that_cannot_be_read_is_refused_with_what_to_write(text: str, says: str) -> None:
    # When an unreadable setting is given
    with pytest.raises(FaultsError) as raised:
        Faults.parse(text)

    # Then it is one of the embedded AWS's errors, with a stable reason and a sentence saying what to write
    assert isinstance(raised.value, EmbeddedAwsError)
    assert raised.value.reason == "invalid_faults"
    assert says in raised.value.message


def test_the_same_seed_makes_the_same_decisions_and_another_seed_others() -> None:
    # Given two settings with one seed and a third with another
    first, second, other = (Faults({"duplicate": 0.5}, seed=s) for s in (7, 7, 8))

    # When each decides 200 times
    def decisions(f: Faults) -> list[bool]:
        return [f.duplicate(f"sqs:q{i}") for i in range(200)]

    # Then the same seed repeats the sequence exactly, another seed differs
    assert decisions(first) == decisions(second)
    assert decisions(first) != decisions(other)


def test_each_kind_draws_on_its_own_so_turning_one_on_changes_no_other() -> None:
    # Given the same seed, with and without crashes on
    alone, together = Faults({"throttle": 0.3}, seed=3), Faults({"throttle": 0.3, "crash": 0.5}, seed=3)

    # When both decide throttles, the second also deciding crashes in between
    def throttles(f: Faults) -> list[bool]:
        hits = []
        for _ in range(100):
            f.crash_after("fn")
            try:
                f.check_throttle("fn")
            except ThrottledError:
                hits.append(True)
            else:
                hits.append(False)
        return hits

    # Then the throttle decisions are the same
    assert throttles(alone) == throttles(together)


def test_probability_zero_never_hits_and_one_always_hits() -> None:
    # Given one kind always on and the others off
    always = Faults({"crash": 1.0})

    # Then every crash decision hits, within the crash window; nothing else ever does
    delays = [always.crash_after("fn") for _ in range(50)]
    assert all(d is not None and 0.0 <= d <= faults.CRASH_WINDOW_S for d in delays)
    assert not any(always.duplicate("sns:t") for _ in range(50))
    assert always.aws_error("s3", FUNCTION_UA) is None
    always.check_throttle("fn")  # does not raise


def test_a_throttle_raises_the_runtimes_throttled_error_and_is_counted_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given throttles always on
    f = Faults({"throttle": 1.0})

    # When an invocation is checked
    with caplog.at_level(logging.INFO, logger="embedded_aws.faults"), pytest.raises(ThrottledError):
        f.check_throttle("my-function")

    # Then it is counted by kind and logged with its kind and target
    assert f.counts() == {"crash": 0, "throttle": 1, "aws-errors": 0, "duplicate": 0}
    assert "Fault injected: throttle on my-function" in caplog.text


def test_aws_errors_hit_only_requests_made_by_functions_and_use_the_services_own_errors() -> None:
    # Given AWS errors always on
    f = Faults({"aws-errors": 1.0}, seed=1)

    # When requests from a function and from the host ask
    def codes(service: str) -> set[str]:
        answers = [f.aws_error(service, FUNCTION_UA) for _ in range(60)]
        return {answer[1] for answer in answers if answer is not None}

    s3, dynamodb, unknown = codes("s3"), codes("dynamodb"), codes("kinesis")
    host = f.aws_error("s3", HOST_UA)

    # Then the host's request passes, and a function's gets each service's retryable errors
    assert host is None
    assert s3 == {"InternalError", "SlowDown", "ServiceUnavailable"}
    assert dynamodb == {
        "InternalServerError",
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
    }
    assert unknown == {"InternalFailure", "ServiceUnavailable", "ThrottlingException"}


def test_decisions_and_counts_hold_under_threads() -> None:
    # Given duplicates on half the time, decided from 8 threads at once
    f = Faults({"duplicate": 0.5}, seed=11)
    hits: list[int] = []
    lock = threading.Lock()

    def decide() -> None:
        mine = sum(f.duplicate("sqs:q") for _ in range(500))
        with lock:
            hits.append(mine)

    threads = [threading.Thread(target=decide) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then every hit was counted once, and the seeded sequence as a whole is the single-threaded one
    assert f.counts()["duplicate"] == sum(hits)
    serial = Faults({"duplicate": 0.5}, seed=11)
    assert sum(serial.duplicate("sqs:q") for _ in range(4000)) == sum(hits)


def test_install_keeps_only_faults_that_are_on() -> None:
    # Given settings with nothing on, and with something on
    try:
        faults.install(Faults())
        off = faults.current()
        on = Faults({"duplicate": 0.1})
        faults.install(on)

        # Then the seams see none for the first and the second as it is
        assert off is None
        assert faults.current() is on
    finally:
        faults.install(None)
    assert faults.current() is None
    assert set(KINDS) == {"crash", "throttle", "aws-errors", "duplicate"}


# --- the server's hook ------------------------------------------------------------------------------------
class Counting:
    """A stand-in moto app that answers 200 and counts the requests it saw."""

    def __init__(self) -> None:
        self.seen = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        self.seen += 1
        start_response("200 OK", [("Content-Type", "application/xml"), ("Content-Length", "0")])
        return [b""]


def _request(service: str, user_agent: str, **kwargs: Any) -> dict[str, Any]:
    credential = f"Credential=testing/20250101/us-east-1/{service}/aws4_request"
    headers = [
        ("Authorization", f"AWS4-HMAC-SHA256 {credential}, SignedHeaders=host, Signature=0"),
        ("User-Agent", user_agent),
        *kwargs.pop("headers", []),
    ]
    environ: dict[str, Any] = EnvironBuilder(headers=headers, **kwargs).get_environ()
    return environ


def _botocore_error(service: str, operation: str, status: int, headers: dict[str, str], body: bytes) -> Any:
    model = botocore.session.get_session().get_service_model(service)
    shape = model.operation_model(operation).output_shape
    assert shape is not None
    parsed = create_parser(model.protocol).parse(
        {"status_code": status, "headers": headers, "body": body}, shape
    )
    return parsed["Error"]


@pytest.mark.parametrize(
    ("service", "operation", "request_args"),
    [
        ("s3", "PutObject", {"method": "PUT", "path": "/bucket/key", "data": b"hello"}),
        (
            "dynamodb",
            "PutItem",
            {
                "method": "POST",
                "path": "/",
                "data": b"{}",
                "headers": [
                    ("X-Amz-Target", "DynamoDB_20120810.PutItem"),
                    ("Content-Type", "application/x-amz-json-1.0"),
                ],
            },
        ),
        (
            "sqs",
            "SendMessage",
            {
                "method": "POST",
                "path": "/",
                "data": b"{}",
                "headers": [
                    ("X-Amz-Target", "AmazonSQS.SendMessage"),
                    ("Content-Type", "application/x-amz-json-1.0"),
                ],
            },
        ),
    ],
)
def test_a_functions_request_gets_the_services_error_as_its_sdk_parses_it_and_the_hosts_passes(
    service: str, operation: str, request_args: dict[str, Any]
) -> None:
    # Given AWS errors always on, and a moto app that would answer 200
    app, errors = Counting(), ErrorLog()
    injecting = Faults({"aws-errors": 1.0}, seed=5)
    faults.install(injecting)
    try:
        # When a function makes the request, and then the host does
        status, headers, body = call(app, _request(service, FUNCTION_UA, **dict(request_args)), errors)
        host_status, _, _ = call(app, _request(service, HOST_UA, **dict(request_args)), errors)
    finally:
        faults.install(None)

    # Then the function's request never reached moto and got one of the service's own errors, which botocore
    # reads as that code; the host's request reached moto untouched
    expected = {(s, c) for s, c, _ in faults.SERVICE_ERRORS[service]}
    error = _botocore_error(service, operation, status, headers, body)
    assert (status, error["Code"]) in expected
    assert (host_status, app.seen) == (200, 1)
    # And it is counted, named by its operation, and recorded as a refusal, not a bug
    assert injecting.counts()["aws-errors"] == 1
    assert errors.unexpected_failures() == []
