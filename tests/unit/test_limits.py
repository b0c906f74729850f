"""Message sizes as SNS and SQS count them, and template properties the embedded AWS cannot honour."""

from __future__ import annotations

from typing import Any

from embedded_aws.limits import attribute_size, message_size, not_performed, unhonoured_properties


def test_message_size_counts_utf8_bytes_not_characters() -> None:
    # Given a body of 600 two-byte characters
    body = "é" * 600

    # Then it is 1,200 bytes, as SQS and SNS count it
    assert message_size(body) == 1200


def test_message_attributes_count_name_type_and_value() -> None:
    # Given attributes in SQS's shape and SNS's shape
    sqs_attribute = {"DataType": "String", "StringValue": "abc"}
    sns_attribute = {"Type": "Number", "Value": "12"}
    binary = {"DataType": "Binary", "BinaryValue": b"\x00\x01"}

    # Then each counts its name, data type and value
    assert attribute_size("key", sqs_attribute) == 3 + 6 + 3
    assert attribute_size("n", sns_attribute) == 1 + 6 + 2
    assert attribute_size("b", binary) == 1 + 6 + 2
    assert message_size("hi", {"key": sqs_attribute, "n": sns_attribute}) == 2 + 12 + 9


def _template(resources: dict[str, Any]) -> dict[str, Any]:
    return {"Resources": resources}


def test_a_plain_sqs_function_has_nothing_unhonoured() -> None:
    # Given a Python function fed by a standard queue
    template = _template(
        {
            "Queue": {"Type": "AWS::SQS::Queue", "Properties": {}},
            "Fn": {"Type": "AWS::Lambda::Function", "Properties": {"Runtime": "python3.12"}},
            "Map": {
                "Type": "AWS::Lambda::EventSourceMapping",
                "Properties": {
                    "EventSourceArn": {"Fn::GetAtt": ["Queue", "Arn"]},
                    "FunctionName": {"Ref": "Fn"},
                },
            },
        }
    )

    # Then nothing is reported
    assert unhonoured_properties(template) == []


def test_stream_event_sources_are_named() -> None:
    # Given mappings on a DynamoDB stream, a Kinesis stream (literal ARN) and a FIFO queue (polled)
    template = _template(
        {
            "Table": {"Type": "AWS::DynamoDB::Table", "Properties": {"StreamSpecification": {}}},
            "Fifo": {"Type": "AWS::SQS::Queue", "Properties": {"FifoQueue": True}},
            "FromTable": {
                "Type": "AWS::Lambda::EventSourceMapping",
                "Properties": {"EventSourceArn": {"Fn::GetAtt": ["Table", "StreamArn"]}},
            },
            "FromKinesis": {
                "Type": "AWS::Lambda::EventSourceMapping",
                "Properties": {"EventSourceArn": "arn:aws:kinesis:us-east-1:123456789012:stream/s"},
            },
            "FromFifo": {
                "Type": "AWS::Lambda::EventSourceMapping",
                "Properties": {"EventSourceArn": {"Fn::GetAtt": "Fifo.Arn"}},
            },
        }
    )

    # Then each stream mapping is named with its source kind; the FIFO queue's is not
    assert unhonoured_properties(template) == [
        "Event source mapping FromTable: a dynamodb event source (only SQS queues are polled locally)",
        "Event source mapping FromKinesis: a kinesis event source (only SQS queues are polled locally)",
    ]


def test_other_resources_and_conditions() -> None:
    # Given a REST API, a replicated bucket behind a false Condition, and a topic with data protection
    template = _template(
        {
            "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {}},
            "Replica": {
                "Type": "AWS::S3::Bucket",
                "Condition": "InCloud",
                "Properties": {"ReplicationConfiguration": {"Role": "r", "Rules": []}},
            },
            "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"DataProtectionPolicy": {"Name": "p"}}},
        }
    )

    # Then the API and the topic are named; the bucket that is not created is not
    problems = unhonoured_properties(template, {"InCloud": False})
    assert [p.split(":")[0] for p in problems] == ["REST API Api", "Topic Topic"]


def test_replication_is_accepted_as_stored_but_not_performed() -> None:
    # Given a bucket replicating to a backup (it changes no delivery: the stack works without the copy)
    template = _template(
        {
            "Primary": {
                "Type": "AWS::S3::Bucket",
                "Properties": {"ReplicationConfiguration": {"Role": "r", "Rules": []}},
            }
        }
    )

    # Then it is not refused, and it is named among what is stored but not performed
    assert unhonoured_properties(template) == []
    assert not_performed(template) == [
        "Bucket Primary: ReplicationConfiguration (objects are not replicated)"
    ]
