"""Lambda's rules for SQS partial batch responses, applied to one invocation's result."""

from __future__ import annotations

import json
from typing import Any

import pytest

from embedded_aws.esm import Mapping, failed_item_ids, sqs_record
from embedded_aws.runtime import InvokeResult

IDS = ["m1", "m2", "m3"]


def _result(payload: Any, error: dict[str, Any] | None = None) -> InvokeResult:
    return InvokeResult("req", json.dumps(payload), error, 1.0, False)


@pytest.mark.parametrize(
    ("payload", "failed"),
    [
        (None, set()),
        ({}, set()),
        ({"batchItemFailures": []}, set()),
        ({"batchItemFailures": None}, set()),
        ({"batchItemFailures": [{"itemIdentifier": "m2"}]}, {"m2"}),
        ({"batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "m3"}]}, {"m1", "m3"}),
    ],
)
def test_reported_failures_return_only_the_named_items(payload: Any, failed: set[str]) -> None:
    # Given a successful invocation with this response, When the batch is settled, Then only these stay
    assert failed_item_ids(_result(payload), IDS, report_failures=True) == failed


@pytest.mark.parametrize(
    "payload",
    [
        {"batchItemFailures": [{"itemIdentifier": ""}]},
        {"batchItemFailures": [{"itemIdentifier": None}]},
        {"batchItemFailures": [{"itemId": "m1"}]},
        {"batchItemFailures": [{"itemIdentifier": "not-in-batch"}]},
        {"batchItemFailures": "m1"},
        ["m1"],
        "a string",
    ],
)
def test_malformed_reports_fail_the_whole_batch(payload: Any) -> None:
    # Given a report Lambda cannot read, When the batch is settled, Then every message stays
    assert failed_item_ids(_result(payload), IDS, report_failures=True) == set(IDS)


def test_a_response_that_is_not_json_fails_the_whole_batch() -> None:
    result = InvokeResult("req", "not json", None, 1.0, False)
    assert failed_item_ids(result, IDS, report_failures=True) == set(IDS)


def test_a_function_error_fails_the_whole_batch_either_way() -> None:
    # Given an invocation that raised
    result = _result({"errorType": "ValueError"}, {"errorType": "ValueError", "errorMessage": "x"})
    # Then nothing is deleted, with or without ReportBatchItemFailures
    assert failed_item_ids(result, IDS, report_failures=True) == set(IDS)
    assert failed_item_ids(result, IDS, report_failures=False) == set(IDS)


def test_without_report_batch_item_failures_a_success_deletes_everything() -> None:
    # Given a function that returns a report although the mapping does not ask for one
    result = _result({"batchItemFailures": [{"itemIdentifier": "m1"}]})
    # Then the report is ignored, as on AWS
    assert failed_item_ids(result, IDS, report_failures=False) == set()


def test_sqs_record_has_the_shape_lambda_delivers() -> None:
    # Given a message as ReceiveMessage returns it
    message = {
        "MessageId": "m1",
        "ReceiptHandle": "rh",
        "Body": "hello",
        "MD5OfBody": "5d41402abc4b2a76b9719d911017c592",
        "Attributes": {"ApproximateReceiveCount": "1"},
        "MessageAttributes": {"kind": {"DataType": "String", "StringValue": "photo"}},
    }
    # When it becomes an event record
    record = sqs_record(message, "arn:aws:sqs:us-east-1:123456789012:q", "us-east-1")
    # Then it carries Lambda's camelCase fields
    assert record["messageId"] == "m1"
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == "arn:aws:sqs:us-east-1:123456789012:q"
    assert record["messageAttributes"]["kind"]["stringValue"] == "photo"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"


def test_mapping_defaults_follow_lambda() -> None:
    # Given a mapping as the Lambda API lists it, with no batching window or scaling config
    mapping = Mapping.from_api(
        {"UUID": "u", "FunctionArn": "f", "EventSourceArn": "q", "BatchSize": 5, "FunctionResponseTypes": []}
    )
    # Then there is no window, no partial reports, and two pollers
    assert (mapping.batch_size, mapping.window_s, mapping.report_failures, mapping.max_concurrency) == (
        5,
        0,
        False,
        2,
    )
