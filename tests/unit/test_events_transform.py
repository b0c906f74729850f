"""EventBridge's input shaping, entry sizes, resource policies and deploy-time refusals (no network)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from embedded_aws.errors import UnsupportedResourceError
from embedded_aws.events import (
    check_template,
    entry_size,
    json_path,
    policy_allows,
    target_payload,
    target_problem,
    transform_input,
)

EVENT: dict[str, Any] = {
    "version": "0",
    "id": "7bf73129-1428-4cd3-a780-95db273d1602",
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "account": "123456789012",
    "time": "2015-11-11T21:29:54Z",
    "region": "us-east-1",
    "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"],
    "detail": {"instance-id": "i-0123456789", "state": "RUNNING", "tags": [{"k": "a"}, {"k": "b"}]},
}
RULE = "arn:aws:events:us-east-1:123456789012:rule/r"


def _transform(template: str, paths: dict[str, str]) -> str:
    return transform_input(
        {"InputTemplate": template, "InputPathsMap": paths},
        EVENT,
        rule_arn=RULE,
        rule_name="r",
        ingestion="2015-11-11T21:29:55.000Z",
    )


def test_json_paths_select_as_eventbridge_supports() -> None:
    # Given EventBridge's path syntax (dots, dashes, indices, wildcards)
    # Then each selects what AWS documents
    assert json_path(EVENT, "$.detail.instance-id") == "i-0123456789"
    assert json_path(EVENT, "$.detail-type") == EVENT["detail-type"]
    assert json_path(EVENT, "$.detail.tags[1].k") == "b"
    assert json_path(EVENT, "$.detail.tags[*].k") == ["a", "b"]
    assert json_path(EVENT, "$") == EVENT


def test_the_documented_json_template_example() -> None:
    # Given AWS's documented example: strings quoted in the template, others not
    template = '{"timestamp" : <timestamp>, "instance": "<instance>", "state": "<state>", "resources": <r>}'
    paths = {
        "timestamp": "$.time",
        "instance": "$.detail.instance-id",
        "state": "$.detail.state",
        "r": "$.resources",
    }

    # When the transformer is applied
    output = _transform(template, paths)

    # Then values go in as AWS puts them (a string outside quotes stays bare text, as on AWS)
    assert output == (
        '{"timestamp" : 2015-11-11T21:29:54Z, "instance": "i-0123456789", "state": "RUNNING", '
        '"resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"]}'
    )


def test_json_templates_escape_strings_and_fill_predefined_variables() -> None:
    # Given a JSON template with a missing path, predefined variables and an object
    template = (
        '{"state": "<state> now", "missing": <nope>, "missingQuoted": "<nope>",'
        ' "rule": "<aws.events.rule-name>", "arn": "<aws.events.rule-arn>", "event": <aws.events.event>,'
        ' "full": <aws.events.event.json>,'
        ' "at": "<aws.events.event.ingestion-time>", "tags": <tags>}'
    )
    paths = {"state": "$.detail.state", "nope": "$.detail.nope", "tags": "$.detail.tags"}

    # When it is applied
    output = json.loads(_transform(template, paths))

    # Then the output is valid JSON with each value as AWS documents
    assert output["state"] == "RUNNING now" and output["missing"] is None and output["missingQuoted"] == ""
    assert output["rule"] == "r" and output["arn"] == RULE and output["at"] == "2015-11-11T21:29:55.000Z"
    assert "detail" not in output["event"] and output["event"]["id"] == EVENT["id"]
    assert output["full"] == EVENT and output["tags"] == EVENT["detail"]["tags"]


def test_text_templates_put_values_in_as_they_are() -> None:
    # Given a text template (not a JSON object)
    output = _transform(
        '"instance <instance> is in <state>"', {"instance": "$.detail.instance-id", "state": "$.detail.state"}
    )

    # Then the values are substituted into the text
    assert output == '"instance i-0123456789 is in RUNNING"'


def test_a_target_gets_the_event_input_or_input_path() -> None:
    # Given targets with no input option, constant Input, and InputPath
    # Then each gets what AWS sends
    assert json.loads(target_payload({"Id": "a"}, EVENT, RULE, "r")) == EVENT
    assert target_payload({"Id": "b", "Input": '{"fixed": 1}'}, EVENT, RULE, "r") == '{"fixed": 1}'
    assert (
        json.loads(target_payload({"Id": "c", "InputPath": "$.detail"}, EVENT, RULE, "r")) == EVENT["detail"]
    )


def test_entry_size_is_counted_as_aws_documents() -> None:
    # Given an entry with a Time, text fields and resources
    entry = {"Time": 1, "Source": "src", "DetailType": "dt", "Detail": '{"é": 1}', "Resources": ["r1", "r22"]}

    # Then its size is 14 for Time plus the UTF-8 bytes of the rest
    assert entry_size(entry) == 14 + 3 + 2 + len('{"é": 1}'.encode()) + 2 + 3


def test_resource_policies_admit_events_only_as_written() -> None:
    # Given a queue policy for events.amazonaws.com limited to one rule
    policy = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": "arn:aws:sqs:us-east-1:123456789012:q",
                "Condition": {"ArnEquals": {"aws:SourceArn": RULE}},
            }
        ]
    }
    queue = "arn:aws:sqs:us-east-1:123456789012:q"

    # Then the rule may send, another rule may not, and no policy admits nothing
    assert policy_allows(policy, "sqs:SendMessage", queue, {"aws:SourceArn": RULE}, "events.amazonaws.com")
    assert not policy_allows(
        policy, "sqs:SendMessage", queue, {"aws:SourceArn": RULE + "2"}, "events.amazonaws.com"
    )
    assert not policy_allows(None, "sqs:SendMessage", queue, {"aws:SourceArn": RULE}, "events.amazonaws.com")


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        ({"Id": "k", "Arn": "arn:aws:kinesis:us-east-1:123456789012:stream/s"}, "kinesis targets"),
        ({"Id": "a", "Arn": "arn:aws:events:us-east-1:123456789012:api-destination/d/1"}, "API destinations"),
        ({"Id": "x", "Arn": "arn:aws:events:us-east-1:999999999999:event-bus/other"}, "cross-account"),
        (
            {"Id": "e", "Arn": "arn:aws:ecs:us-east-1:123456789012:cluster/c", "EcsParameters": {}},
            "ecs targets",
        ),
        (
            {
                "Id": "d",
                "Arn": "arn:aws:sqs:us-east-1:123456789012:q",
                "DeadLetterConfig": {"Arn": "arn:aws:sns:x"},
            },
            "not an SQS",
        ),
    ],
)
def test_targets_the_embedded_aws_cannot_reach_are_named(target: dict[str, Any], problem: str) -> None:
    # Given a target of a kind the embedded AWS cannot deliver to
    # Then it is refused with a reason naming it
    assert problem in (target_problem(target, "123456789012") or "")


def test_supported_targets_pass() -> None:
    # Given the target kinds the embedded AWS delivers to
    for arn in (
        "arn:aws:lambda:us-east-1:123456789012:function:f",
        "arn:aws:sqs:us-east-1:123456789012:q.fifo",
        "arn:aws:sns:us-east-1:123456789012:t",
        "arn:aws:states:us-east-1:123456789012:stateMachine:m",
        "arn:aws:events:us-east-1:123456789012:event-bus/b",
        "arn:aws:logs:us-east-1:123456789012:log-group:/aws/events/g",
    ):
        # Then none is refused
        assert target_problem({"Id": "t", "Arn": arn}, "123456789012") is None


def test_check_template_refuses_unsupported_features_unless_their_condition_is_false() -> None:
    # Given a template with a pipe and an API destination target, one behind a false Condition
    template = {
        "Resources": {
            "Pipe": {"Type": "AWS::Pipes::Pipe", "Properties": {}},
            "Rule": {
                "Type": "AWS::Events::Rule",
                "Condition": "InCloud",
                "Properties": {
                    "Targets": [
                        {
                            "Id": "w",
                            "Arn": {
                                "Fn::Sub": "arn:aws:events:${AWS::Region}:${AWS::AccountId}:"
                                "api-destination/w/1"
                            },
                        }
                    ]
                },
            },
        }
    }

    # When it is checked with the condition false, then true
    with pytest.raises(UnsupportedResourceError) as local:
        check_template(template, {"InCloud": False})
    with pytest.raises(UnsupportedResourceError) as cloud:
        check_template(template, {"InCloud": True})

    # Then the pipe is refused either way, the API destination only where it would be created
    assert (
        "Pipe (AWS::Pipes::Pipe)" in str(local.value)
        and "api" not in str(local.value).lower().split("pipes")[-1]
    )
    assert "Rule target w: API destinations" in str(cloud.value)
