"""Event patterns (Lambda event filtering, EventBridge): every comparison operator, as AWS documents it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from embedded_aws.patterns import PatternError, matches, parse, validate

EVENT: dict[str, Any] = {
    "source": "aws.ec2",
    "detail-type": "EC2 Instance State-change Notification",
    "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-0001"],
    "detail": {
        "state": "running",
        "c-count": 5,
        "x-limit": 301.8,
        "source-ip": "10.0.0.33",
        "ipv6": "2001:db8::1",
        "user": None,
        "empty": "",
        "flag": True,
        "file": "photos/cat.PNG",
        "tags": ["blue", "green"],
        "nested": {"deep": "yes"},
        "employees": [{"first": "John", "last": "Doe"}, {"first": "Anna", "last": "Smith"}],
    },
}


def _match(pattern: dict[str, Any]) -> bool:
    return matches(pattern, EVENT)


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        # Exact strings, numbers, booleans, null, empty
        ({"detail": {"state": ["running"]}}, True),
        ({"detail": {"state": ["stopped"]}}, False),
        ({"detail": {"state": ["stopped", "running"]}}, True),  # OR within a field
        ({"detail": {"c-count": [5]}}, True),
        ({"detail": {"c-count": [5.0]}}, True),  # numbers compare by value
        ({"detail": {"c-count": ["5"]}}, False),  # a string never equals a number
        ({"detail": {"flag": [True]}}, True),
        ({"detail": {"flag": [1]}}, False),  # a boolean is not the number 1
        ({"detail": {"user": [None]}}, True),
        ({"detail": {"state": [None]}}, False),
        ({"detail": {"empty": [""]}}, True),
        ({"detail": {"state": [""]}}, False),
        # Arrays in the event: match when any element matches
        ({"resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-0001"]}, True),
        ({"detail": {"tags": ["green"]}}, True),
        ({"detail": {"tags": ["red"]}}, False),
        # AND across fields
        ({"source": ["aws.ec2"], "detail": {"state": ["running"]}}, True),
        ({"source": ["aws.ec2"], "detail": {"state": ["stopped"]}}, False),
        # Nested objects
        ({"detail": {"nested": {"deep": ["yes"]}}}, True),
        ({"detail": {"nested": {"deep": ["no"]}}}, False),
    ],
)
def test_exact_matching(rule: dict[str, Any], expected: bool) -> None:
    # Given a pattern of exact values, When matched against the event, Then the result is AWS's
    assert _match(rule) is expected


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"source": [{"prefix": "aws."}]}, True),
        ({"source": [{"prefix": "custom."}]}, False),
        ({"source": [{"prefix": {"equals-ignore-case": "AWS."}}]}, True),
        ({"detail": {"file": [{"suffix": ".PNG"}]}}, True),
        ({"detail": {"file": [{"suffix": ".png"}]}}, False),
        ({"detail": {"file": [{"suffix": {"equals-ignore-case": ".png"}}]}}, True),
        ({"detail": {"c-count": [{"prefix": "5"}]}}, False),  # string operators only match strings
        ({"detail": {"state": [{"equals-ignore-case": "RUNNING"}]}}, True),
        ({"detail": {"state": [{"equals-ignore-case": "stopped"}]}}, False),
        ({"detail": {"file": [{"wildcard": "photos/*.PNG"}]}}, True),
        ({"detail": {"file": [{"wildcard": "*/dog.*"}]}}, False),
        ({"detail-type": [{"wildcard": "EC2*Notification"}]}, True),
        ({"detail": {"state": [{"wildcard": "run\\*"}]}}, False),  # an escaped star is a star
    ],
)
def test_string_operators(rule: dict[str, Any], expected: bool) -> None:
    # Given prefix, suffix, equals-ignore-case and wildcard rules, Then they match strings as AWS does
    assert _match(rule) is expected


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"detail": {"state": [{"anything-but": "stopped"}]}}, True),
        ({"detail": {"state": [{"anything-but": "running"}]}}, False),
        ({"detail": {"state": [{"anything-but": ["stopped", "pending"]}]}}, True),
        ({"detail": {"state": [{"anything-but": ["running", "pending"]}]}}, False),
        ({"detail": {"c-count": [{"anything-but": [1, 2, 3]}]}}, True),
        ({"detail": {"c-count": [{"anything-but": 5}]}}, False),
        ({"detail": {"state": [{"anything-but": {"prefix": "run"}}]}}, False),
        ({"detail": {"state": [{"anything-but": {"prefix": "stop"}}]}}, True),
        ({"detail": {"file": [{"anything-but": {"suffix": ".PNG"}}]}}, False),
        ({"detail": {"file": [{"anything-but": {"suffix": ".jpg"}}]}}, True),
        ({"detail": {"state": [{"anything-but": {"equals-ignore-case": ["RUNNING", "x"]}}]}}, False),
        ({"detail": {"state": [{"anything-but": {"equals-ignore-case": "STOPPED"}}]}}, True),
        ({"detail": {"file": [{"anything-but": {"wildcard": "photos/*"}}]}}, False),
        ({"detail": {"file": [{"anything-but": {"wildcard": "*/lib/*"}}]}}, True),
        ({"detail": {"missing": [{"anything-but": "x"}]}}, False),  # an absent field is not "anything"
    ],
)
def test_anything_but(rule: dict[str, Any], expected: bool) -> None:
    # Given anything-but in each of its forms, Then it matches every present value but those named
    assert _match(rule) is expected


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"detail": {"c-count": [{"numeric": ["=", 5]}]}}, True),
        ({"detail": {"c-count": [{"numeric": ["=", 6]}]}}, False),
        ({"detail": {"c-count": [{"numeric": [">", 0, "<=", 5]}]}}, True),
        ({"detail": {"c-count": [{"numeric": [">", 0, "<", 5]}]}}, False),
        ({"detail": {"x-limit": [{"numeric": [">=", 301.8]}]}}, True),
        ({"detail": {"x-limit": [{"numeric": ["<", 3.018e2]}]}}, False),
        ({"detail": {"state": [{"numeric": [">", 0]}]}}, False),  # only JSON numbers
        ({"detail": {"flag": [{"numeric": [">", 0]}]}}, False),  # a boolean is not a number
    ],
)
def test_numeric(rule: dict[str, Any], expected: bool) -> None:
    # Given numeric equality and ranges, Then only numbers within them match
    assert _match(rule) is expected


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"detail": {"state": [{"exists": True}]}}, True),
        ({"detail": {"user": [{"exists": True}]}}, True),  # null is a value
        ({"detail": {"missing": [{"exists": True}]}}, False),
        ({"detail": {"missing": [{"exists": False}]}}, True),
        ({"detail": {"state": [{"exists": False}]}}, False),
        ({"detail": {"nested": [{"exists": True}]}}, False),  # exists works on leaf nodes only
        ({"detail": {"nested": [{"exists": False}]}}, True),
        ({"nowhere": {"deeper": [{"exists": False}]}}, True),
    ],
)
def test_exists(rule: dict[str, Any], expected: bool) -> None:
    # Given exists true/false, Then it tests whether a leaf field is present
    assert _match(rule) is expected


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"detail": {"source-ip": [{"cidr": "10.0.0.0/24"}]}}, True),
        ({"detail": {"source-ip": [{"cidr": "10.0.1.0/24"}]}}, False),
        ({"detail": {"ipv6": [{"cidr": "2001:db8::/32"}]}}, True),
        ({"detail": {"ipv6": [{"cidr": "10.0.0.0/8"}]}}, False),
        ({"detail": {"state": [{"cidr": "10.0.0.0/8"}]}}, False),  # not an IP address
    ],
)
def test_cidr(rule: dict[str, Any], expected: bool) -> None:
    # Given IP address rules, Then addresses inside the network match (IPv4 and IPv6)
    assert _match(rule) is expected


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"$or": [{"source": ["nope"]}, {"detail": {"state": ["running"]}}]}, True),
        ({"$or": [{"source": ["nope"]}, {"detail": {"state": ["stopped"]}}]}, False),
        ({"source": ["aws.ec2"], "$or": [{"detail": {"c-count": [1]}}, {"detail": {"c-count": [5]}}]}, True),
        ({"detail": {"$or": [{"state": ["x"]}, {"c-count": [{"numeric": [">", 4]}]}]}}, True),
    ],
)
def test_or(rule: dict[str, Any], expected: bool) -> None:
    # Given $or over several fields, Then one alternative matching is enough
    assert _match(rule) is expected


def test_arrays_of_objects_match_within_one_element() -> None:
    # Given an event with an array of objects
    # Then a sub-pattern matches when one element satisfies all of it, never across elements
    assert _match({"detail": {"employees": {"first": ["Anna"]}}})
    assert _match({"detail": {"employees": {"first": ["Anna"], "last": ["Smith"]}}})
    assert not _match({"detail": {"employees": {"first": ["Anna"], "last": ["Doe"]}}})


def test_a_pattern_may_be_json_text_and_so_may_the_event() -> None:
    # Given the pattern and the event as JSON strings, Then they match as their parsed forms do
    assert matches(json.dumps({"source": ["aws.ec2"]}), json.dumps(EVENT))
    assert not matches('{"source": ["aws.s3"]}', EVENT)


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", "Filter is not an object"),
        ({}, "Empty objects are not allowed"),
        ({"a": {}}, "Empty objects are not allowed"),
        ({"a": []}, "Empty arrays are not allowed"),
        ({"a": "x"}, "must be an object or an array"),
        ({"a": [["x"]]}, "Match value must be"),
        ({"a": [{"bogus": 1}]}, "Unrecognized match type bogus"),
        ({"a": [{"prefix": "x", "suffix": "y"}]}, "exactly one operator"),
        ({"a": [{"prefix": 1}]}, "prefix match pattern must be a string"),
        ({"a": [{"suffix": {"other": "x"}}]}, "suffix match pattern must be a string"),
        ({"a": [{"equals-ignore-case": 1}]}, "equals-ignore-case match pattern must be a string"),
        ({"a": [{"exists": "yes"}]}, "exists match pattern must be either true or false"),
        ({"a": [{"numeric": [">", "1"]}]}, "Value of > must be a number"),
        ({"a": [{"numeric": ["!=", 1]}]}, "Unrecognized numeric range operator"),
        ({"a": [{"numeric": [">", 1, "<"]}]}, "one or two comparisons"),
        ({"a": [{"numeric": ["<", 1, ">", 0]}]}, "Bad numeric range"),
        ({"a": [{"numeric": [">", 5, "<", 1]}]}, "Bottom must be less than top"),
        ({"a": [{"anything-but": []}]}, "Empty arrays are not allowed"),
        ({"a": [{"anything-but": ["x", 1]}]}, "all strings or all numbers"),
        ({"a": [{"anything-but": {"numeric": [">", 1]}}]}, "Unsupported anything-but pattern"),
        ({"a": [{"anything-but": {"prefix": 1}}]}, "anything-but prefix must be a string"),
        ({"a": [{"anything-but": True}]}, "Value of anything-but must be"),
        ({"a": [{"wildcard": "a**b"}]}, "Consecutive wildcard characters"),
        ({"a": [{"wildcard": "a\\b"}]}, "Invalid escape character"),
        ({"a": [{"cidr": "10.0.0.0/99"}]}, "Nonsensical CIDR"),
        ({"$or": [{"a": ["x"]}]}, "Unrecognized match type a"),  # one alternative: not the OR primitive
    ],
)
def test_invalid_patterns_are_refused_with_a_reason(pattern: Any, reason: str) -> None:
    # Given an invalid pattern, When it is validated, Then PatternError (a ValueError) names the problem
    with pytest.raises(PatternError, match=reason):
        validate(pattern)
    with pytest.raises(ValueError, match=reason):
        matches(pattern, EVENT)


def test_parse_returns_the_pattern_as_a_dict() -> None:
    # Given a valid pattern as text, Then parse returns it as a dict
    assert parse('{"a": [{"numeric": [">", 0, "<=", 5]}]}') == {"a": [{"numeric": [">", 0, "<=", 5]}]}
