"""Lambda's rules for SQS partial batch responses, applied to one invocation's result."""

from __future__ import annotations

import json
from typing import Any

import pytest

from embedded_aws.esm import Mapping, failed_item_ids, filter_patterns, passes_filters, sqs_record
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


def _record(body: str, **extra: Any) -> dict[str, Any]:
    return {"messageId": "m1", "body": body, "attributes": {"ApproximateReceiveCount": "1"}, **extra}


@pytest.mark.parametrize(
    ("pattern", "body", "passes"),
    [
        # JSON body, JSON pattern: matched on the body's fields
        ({"body": {"kind": ["order"]}}, '{"kind": "order"}', True),
        ({"body": {"kind": ["order"]}}, '{"kind": "refund"}', False),
        # Plain-text body, plain-text pattern
        ({"body": [{"prefix": "URGENT"}]}, "URGENT: now", True),
        ({"body": ["hello"]}, "hello", True),
        # Mismatched forms: Lambda drops the message
        ({"body": [{"prefix": "{"}]}, '{"kind": "order"}', False),
        ({"body": {"kind": [{"exists": False}]}}, "plain text", False),
        # A JSON body that is not an object is a plain string
        ({"body": ["[1, 2]"]}, "[1, 2]", True),
        # No body rule: metadata only
        ({"attributes": {"ApproximateReceiveCount": ["1"]}}, "anything", True),
        ({"attributes": {"ApproximateReceiveCount": ["2"]}}, "anything", False),
    ],
)
def test_sqs_filters_follow_lambdas_body_rules(pattern: dict[str, Any], body: str, passes: bool) -> None:
    # Given one filter and a record, When filtered, Then it passes as Lambda's SQS filtering table says
    assert passes_filters((pattern,), _record(body)) is passes


def test_a_record_passes_if_any_filter_matches_and_with_no_filters() -> None:
    # Given two filters, Then either one matching is enough; with no filters every record passes
    filters = ({"body": {"a": [1]}}, {"body": {"b": [2]}})
    assert passes_filters(filters, _record('{"b": 2}'))
    assert not passes_filters(filters, _record('{"c": 3}'))
    assert passes_filters((), _record("x"))


@pytest.mark.parametrize(
    "criteria",
    [
        {"Filters": [{"Pattern": "{not json"}]},
        {"Filters": [{"Pattern": '{"body": "x"}'}]},
        {"Filters": [{"Pattern": json.dumps({"body": ["x" * 4100]})}]},
        {"Filters": [{}]},
        {"Filters": "nope"},
    ],
)
def test_invalid_filter_criteria_get_lambdas_message(criteria: Any) -> None:
    # Given criteria Lambda cannot parse, Then the message is Lambda's
    with pytest.raises(ValueError, match=r"^Invalid filter pattern definition\.$"):
        filter_patterns(criteria)


def test_at_most_five_filters_per_mapping() -> None:
    # Given six filters (Lambda's default quota is five), Then they are refused
    with pytest.raises(ValueError, match="limit of 5 filters"):
        filter_patterns({"Filters": [{"Pattern": json.dumps({"body": {"n": [i]}})} for i in range(6)]})
    # And five, or none, are fine
    assert len(filter_patterns({"Filters": [{"Pattern": '{"body": {"n": [1]}}'}] * 5})) == 5
    assert filter_patterns(None) == () and filter_patterns({"Filters": []}) == ()
