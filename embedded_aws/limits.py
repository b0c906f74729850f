"""Limits as AWS enforces them, and template properties the embedded AWS cannot honour.

Payload limits (AWS API reference, as botocore 1.44 carries it):

- SNS `Publish`: "By default, a message can be at most 256 KiB in size (262,144 bytes, not 262,144
  characters). When you publish to a topic, the maximum size is determined by the topic's
  MaximumMessageSize attribute, which supports values up to 1 MiB (1,048,576 bytes). Amazon SNS validates
  the combined size of the message body and message attributes against this value and returns an
  InvalidParameter error". AWS's words: `InvalidParameter`, "Invalid parameter: Message too long".
  moto counted characters, ignored attributes and the topic attribute, and doubled the message.
- SNS `PublishBatch`: "The combined size of all messages in the batch, including each message's body and
  attributes, must not exceed the topic's MaximumMessageSize" → `BatchRequestTooLong`. moto had no total.
- SQS `SendMessage`: `MaximumMessageSize` "from 1,024 bytes (1 KiB) to 1,048,576 bytes (1 MiB). Default:
  1,048,576 bytes (1 MiB)" (raised from 256 KiB in 2025); message attributes count toward it
  (SQS Developer Guide, "Amazon SQS message attributes"). moto compared characters of the body alone.
- SQS `SendMessageBatch`: "the maximum total payload size (the sum of the individual lengths of all of the
  batched messages) [is] 1 MiB" → `BatchRequestTooLong`; moto counted characters of bodies alone.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from moto.sns import models as sns_models
from moto.sns.exceptions import SNSException
from moto.sns.models import SNSBackend
from moto.sqs.exceptions import BatchRequestTooLong, InvalidParameterValue
from moto.sqs.models import SQSBackend

#: SNS's default topic MaximumMessageSize, and the largest a topic may set.
SNS_DEFAULT_MAX_BYTES = 262_144
SNS_MAX_BYTES = 1_048_576
#: SQS's largest message and largest batch (the sum of its messages).
SQS_MAX_BYTES = 1_048_576

_originals: dict[str, Any] = {}


class SnsMessageTooLong(SNSException):  # type: ignore[misc]  # moto is untyped here
    code = "InvalidParameter"
    message = "Invalid parameter: Message too long"


class SnsBatchRequestTooLong(SNSException):  # type: ignore[misc]  # moto is untyped here
    code = "BatchRequestTooLong"
    message = "The length of all the batch messages put together is more than the limit."


def _value_size(value: Any) -> int:
    if isinstance(value, bytes):
        return len(value)
    return len(str(value).encode("utf-8"))


def _binary_size(value: Any) -> int:
    if isinstance(value, bytes):
        return len(value)
    try:
        return len(base64.b64decode(str(value), validate=True))
    except (binascii.Error, ValueError):
        return _value_size(value)


def attribute_size(name: str, attribute: dict[str, Any]) -> int:
    """Bytes one message attribute adds to a message: its name, data type and value.

    Takes both shapes moto passes on: SNS's (`Type`, `Value`) and SQS's (`DataType`, `StringValue`,
    `BinaryValue`).
    """
    data_type = str(attribute.get("DataType", attribute.get("Type", "")))
    if "BinaryValue" in attribute:
        value_size = _binary_size(attribute["BinaryValue"])
    elif "StringValue" in attribute:
        value_size = _value_size(attribute["StringValue"])
    elif data_type.startswith("Binary"):
        value_size = _binary_size(attribute.get("Value", ""))
    else:
        value_size = _value_size(attribute.get("Value", ""))
    return len(name.encode("utf-8")) + len(data_type.encode("utf-8")) + value_size


def message_size(body: str | bytes, attributes: dict[str, Any] | None = None) -> int:
    """A message's size as SNS and SQS count it: UTF-8 bytes of the body plus every attribute."""
    return _value_size(body) + sum(attribute_size(n, a) for n, a in (attributes or {}).items())


def _topic_limit(backend: SNSBackend, arn: str | None) -> int | None:
    topic = backend.topics.get(arn) if arn else None
    if topic is None:
        return None  # SMS and platform endpoints have limits of their own
    return int(getattr(topic, "maximum_message_size", None) or SNS_DEFAULT_MAX_BYTES)


def _sns_publish(self: SNSBackend, message: str, arn: str | None = None, *args: Any, **kwargs: Any) -> str:
    limit = _topic_limit(self, arn)
    attributes = kwargs.get("message_attributes", args[2] if len(args) > 2 else None)
    if limit is not None and message_size(message, attributes) > limit:
        raise SnsMessageTooLong()
    result: str = _originals["sns_publish"](self, message, arn, *args, **kwargs)
    return result


def _sns_publish_batch(
    self: SNSBackend, topic_arn: str, publish_batch_request_entries: list[dict[str, Any]]
) -> Any:
    limit = _topic_limit(self, topic_arn)
    total = sum(
        message_size(entry.get("Message", ""), entry.get("MessageAttributes"))
        for entry in publish_batch_request_entries
    )
    if limit is not None and total > limit:
        raise SnsBatchRequestTooLong()
    return _originals["sns_publish_batch"](self, topic_arn, publish_batch_request_entries)


def _sqs_send_message(self: SQSBackend, queue_name: str, message_body: str, *args: Any, **kwargs: Any) -> Any:
    queue = self.get_queue(queue_name)
    limit = int(queue.maximum_message_size)
    attributes = kwargs.get("message_attributes", args[0] if args else None)
    if message_size(message_body, attributes) > limit:
        raise InvalidParameterValue(
            f"One or more parameters are invalid. Reason: Message must be shorter than {limit} bytes."
        )
    return _originals["sqs_send_message"](self, queue_name, message_body, *args, **kwargs)


def _sqs_send_message_batch(self: SQSBackend, queue_name: str, entries: dict[str, dict[str, Any]]) -> Any:
    total = sum(message_size(e.get("MessageBody", ""), e.get("MessageAttributes")) for e in entries.values())
    if total > SQS_MAX_BYTES:
        raise BatchRequestTooLong(total)
    return _originals["sqs_send_message_batch"](self, queue_name, entries)


def install() -> None:
    """Enforce SNS and SQS message sizes as AWS does. Idempotent."""
    if _originals:
        return
    _originals["sns_publish"] = SNSBackend.publish
    _originals["sns_publish_batch"] = SNSBackend.publish_batch
    _originals["sqs_send_message"] = SQSBackend.send_message
    _originals["sqs_send_message_batch"] = SQSBackend.send_message_batch
    SNSBackend.publish = _sns_publish
    SNSBackend.publish_batch = _sns_publish_batch
    SQSBackend.send_message = _sqs_send_message
    SQSBackend.send_message_batch = _sqs_send_message_batch
    # moto's own check counts characters against 256 KiB; a topic may allow up to 1 MiB, checked above.
    sns_models.MAXIMUM_MESSAGE_LENGTH = SNS_MAX_BYTES


# --- template properties the embedded AWS would silently ignore -------------------------------------
#: Event sources the local pollers serve: SQS only (streams, Kafka and MQ are polled by nothing here).
_POLLED_SOURCES = (":sqs:",)


def _ref_target(value: Any) -> str | None:
    """The logical id a `Ref` or `Fn::GetAtt` points at, else None."""
    if isinstance(value, dict) and len(value) == 1:
        ((name, arg),) = value.items()
        if name == "Ref" and isinstance(arg, str):
            return arg
        if name == "Fn::GetAtt":
            parts = arg.split(".", 1) if isinstance(arg, str) else arg
            return str(parts[0]) if parts else None
    return None


def _source_kind(arn: Any, resources: dict[str, Any]) -> str:
    """What an event source ARN (a literal or a reference) names: sqs, kinesis, dynamodb, kafka, ..."""
    target = _ref_target(arn)
    if target is not None and target in resources:
        kind = str(resources[target].get("Type", ""))
        if kind == "AWS::DynamoDB::Table":
            return "dynamodb"
        return kind.split("::")[1].lower() if kind.count("::") == 2 else kind
    text = str(arn)
    if any(marker in text for marker in _POLLED_SOURCES):
        return "sqs"
    for marker, kind in ((":kinesis:", "kinesis"), (":dynamodb:", "dynamodb"), (":kafka:", "kafka")):
        if marker in text:
            return kind
    if ":mq:" in text:
        return "mq"
    return "unknown"


def _mapping_problems(logical_id: str, props: dict[str, Any], resources: dict[str, Any]) -> list[str]:
    if props.get("SelfManagedEventSource") or props.get("SelfManagedKafkaEventSourceConfig"):
        return [
            f"Event source mapping {logical_id}: a self-managed Kafka source (only SQS is polled locally)"
        ]
    kind = _source_kind(props.get("EventSourceArn"), resources)
    if kind == "sqs":
        return []
    return [f"Event source mapping {logical_id}: a {kind} event source (only SQS queues are polled locally)"]


def unhonoured_properties(template: dict[str, Any], conditions: dict[str, bool] | None = None) -> list[str]:
    """Properties of a CloudFormation template that the embedded AWS would accept and silently ignore.

    One sentence per problem, naming the resource and the property; empty when everything is honoured.
    A resource whose Condition is false is not created, so it is not checked. Function properties (Layers,
    Runtime, FileSystemConfigs...) are `template.check_supported`'s; this covers what it does not.
    """
    conditions = conditions or {}
    resources: dict[str, Any] = template.get("Resources") or {}
    problems: list[str] = []
    for logical_id, resource in resources.items():
        if "Condition" in resource and not conditions.get(resource["Condition"], True):
            continue
        kind = resource.get("Type", "")
        props = resource.get("Properties") or {}
        if kind == "AWS::Lambda::EventSourceMapping":
            problems += _mapping_problems(logical_id, props, resources)
        elif kind == "AWS::DynamoDB::Table" and props.get("KinesisStreamSpecification"):
            problems.append(
                f"Table {logical_id}: KinesisStreamSpecification (no change data goes to Kinesis)"
            )
        elif kind == "AWS::SNS::Topic" and props.get("DataProtectionPolicy"):
            problems.append(
                f"Topic {logical_id}: DataProtectionPolicy (messages are neither audited nor masked)"
            )
        elif kind == "AWS::ApiGateway::RestApi":
            problems.append(
                f"REST API {logical_id}: the embedded AWS creates API Gateway resources but serves no HTTP "
                "requests to them yet"
            )
    return problems


def not_performed(template: dict[str, Any], conditions: dict[str, bool] | None = None) -> list[str]:
    """Properties the embedded AWS stores but does not act on, where that changes no delivery or outcome.

    A bucket's replication (a backup copy elsewhere) is one: the stack works the same without the copy, so it
    is accepted with a warning rather than refused.
    """
    conditions = conditions or {}
    notes: list[str] = []
    for logical_id, resource in (template.get("Resources") or {}).items():
        if "Condition" in resource and not conditions.get(resource["Condition"], True):
            continue
        props = resource.get("Properties") or {}
        if resource.get("Type") == "AWS::S3::Bucket" and props.get("ReplicationConfiguration"):
            notes.append(f"Bucket {logical_id}: ReplicationConfiguration (objects are not replicated)")
    return notes
