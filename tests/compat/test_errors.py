"""What the embedded AWS cannot do, and what AWS refuses, answers as AWS answers: a ClientError naming it.

- `errors_unsupported`: actions AWS has and the embedded AWS lacks → 501 `NotImplemented` naming
  `service:Action` (never werkzeug's HTML 500); an action no service has → `UnknownOperationException`.
- `limits_payloads`: SNS and SQS payload limits with AWS's codes and messages (see `embedded_aws/limits.py`
  for the AWS documentation each follows).
- `errors_unhonoured`: template properties the embedded AWS would ignore, named before anything is created.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from embedded_aws import cfn_models
from embedded_aws.errors import UnsupportedResourceError
from embedded_aws.stack import EmbeddedAws
from embedded_aws.template import plan_deploy
from tests.compat.conftest import COMPAT, DeployCompat

KIB = 1024
MIB = 1024 * KIB


def _recording(client: Any, bodies: list[bytes]) -> Any:
    """The client, with every raw response body it receives appended to `bodies`."""

    def record(response_dict: dict[str, Any], **_: Any) -> None:
        bodies.append(response_dict.get("body") or b"")

    client.meta.events.register("before-parse", record)
    return client


def _error(call: Callable[[], Any]) -> dict[str, Any]:
    with pytest.raises(ClientError) as raised:
        call()
    response = raised.value.response
    return {
        "status": response["ResponseMetadata"]["HTTPStatusCode"],
        "code": response["Error"]["Code"],
        "message": response["Error"]["Message"],
    }


def _not_implemented(action: str) -> dict[str, Any]:
    return {
        "status": 501,
        "code": "NotImplemented",
        "message": f"The embedded AWS does not implement {action} yet.",
    }


def test_actions_the_embedded_aws_lacks_answer_not_implemented_naming_them(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given a stack with a queue, a topic, a bucket, a table and a function
    stack = deploy_compat("errors_unsupported")
    out = stack.outputs
    bodies: list[bytes] = []
    lam, sns, s3, ddb, cfn = (
        _recording(aws.client(name), bodies) for name in ("lambda", "sns", "s3", "dynamodb", "cloudformation")
    )
    mark = len(aws.server_errors)

    # When the SDK calls actions AWS has and the embedded AWS does not implement, against those resources
    answers = {
        "lambda": _error(
            lambda: lam.put_provisioned_concurrency_config(
                FunctionName=out["FunctionName"], Qualifier="1", ProvisionedConcurrentExecutions=1
            )
        ),
        "sns": _error(lambda: sns.get_data_protection_policy(ResourceArn=out["TopicArn"])),
        "s3": _error(
            lambda: s3.put_bucket_metrics_configuration(
                Bucket=out["BucketName"], Id="all", MetricsConfiguration={"Id": "all"}
            )
        ),
        "dynamodb": _error(lambda: ddb.describe_contributor_insights(TableName=out["TableName"])),
        "cloudformation": _error(lambda: cfn.detect_stack_drift(StackName=stack.name)),
    }

    # Then each is a ClientError whose code and message name the service and the action
    assert answers == {
        "lambda": _not_implemented("lambda:PutProvisionedConcurrencyConfig"),
        "sns": _not_implemented("sns:GetDataProtectionPolicy"),
        "s3": _not_implemented("s3:PutBucketMetricsConfiguration"),
        "dynamodb": _not_implemented("dynamodb:DescribeContributorInsights"),
        "cloudformation": _not_implemented("cloudformation:DetectStackDrift"),
    }
    # And 501 is final: the SDK did not retry, and nothing answered HTML
    assert len(bodies) == 5
    assert not [
        b for b in bodies if b.lstrip().lower().startswith(b"<!doctype html") or b"Internal Server Error" in b
    ]
    # And the server recorded refusals, not internal failures
    assert {e.name for e in aws.server_errors.since(mark)} == {
        "lambda:PutProvisionedConcurrencyConfig",
        "sns:GetDataProtectionPolicy",
        "s3:PutBucketMetricsConfiguration",
        "dynamodb:DescribeContributorInsights",
        "cloudformation:DetectStackDrift",
    }
    assert aws.server_errors.unexpected_failures(mark) == []


def test_an_action_no_service_has_is_an_unknown_operation(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given the queue, and an SQS client whose ListQueues call names an action SQS does not have
    stack = deploy_compat("errors_unsupported")
    sqs = aws.client("sqs")

    def rename(request: Any, **_: Any) -> None:
        request.headers["X-Amz-Target"] = "AmazonSQS.ListQueuesEverywhere"

    sqs.meta.events.register("before-sign.sqs.ListQueues", rename)

    # When it is called
    answer = _error(lambda: sqs.list_queues(QueueNamePrefix="errors"))

    # Then SQS's answer for an unknown operation comes back, a 400 naming the action
    assert answer == {
        "status": 400,
        "code": "UnknownOperationException",
        "message": "sqs has no operation ListQueuesEverywhere.",
    }
    # And the queue itself still answers
    queue = aws.client("sqs").get_queue_attributes(
        QueueUrl=stack.outputs["QueueUrl"], AttributeNames=["QueueArn"]
    )
    assert queue["Attributes"]["QueueArn"].endswith(stack.physical_id("Jobs").rsplit("/", 1)[-1])


def test_sqs_message_size_limits(aws: EmbeddedAws, deploy_compat: DeployCompat) -> None:
    # Given a queue with MaximumMessageSize 1024 and one with the default
    out = deploy_compat("limits_payloads").outputs
    sqs = aws.client("sqs")
    small, default = out["SmallQueueUrl"], out["DefaultQueueUrl"]
    too_long_small = {
        "status": 400,
        "code": "InvalidParameterValue",
        "message": "One or more parameters are invalid. Reason: Message must be shorter than 1024 bytes.",
    }

    # Then the template's limit and AWS's default (1 MiB since 2025) are the queues' attributes
    sizes = [
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["MaximumMessageSize"])["Attributes"]
        for url in (small, default)
    ]
    assert sizes == [{"MaximumMessageSize": "1024"}, {"MaximumMessageSize": str(MIB)}]
    # And a message of exactly the limit is accepted
    assert sqs.send_message(QueueUrl=small, MessageBody="x" * 1024)["MessageId"]
    assert sqs.send_message(QueueUrl=default, MessageBody="x" * MIB)["MessageId"]
    # And one byte more is refused with AWS's code and words, counting bytes, not characters
    assert _error(lambda: sqs.send_message(QueueUrl=small, MessageBody="x" * 1025)) == too_long_small
    assert _error(lambda: sqs.send_message(QueueUrl=small, MessageBody="é" * 600)) == too_long_small
    # And message attributes count toward the size
    attributes = {"trace": {"DataType": "String", "StringValue": "t" * 30}}
    assert (
        _error(lambda: sqs.send_message(QueueUrl=small, MessageBody="x" * 1000, MessageAttributes=attributes))
        == too_long_small
    )
    assert _error(lambda: sqs.send_message(QueueUrl=default, MessageBody="x" * (MIB + 1)))["message"] == (
        f"One or more parameters are invalid. Reason: Message must be shorter than {MIB} bytes."
    )
    # And a batch whose messages add up to more than 1 MiB is refused whole
    batch = [{"Id": str(i), "MessageBody": "x" * (200 * KIB)} for i in range(6)]
    answer = _error(lambda: sqs.send_message_batch(QueueUrl=default, Entries=batch))
    assert (answer["status"], answer["code"]) == (400, "AWS.SimpleQueueService.BatchRequestTooLong")


def test_sns_message_size_limits(aws: EmbeddedAws, deploy_compat: DeployCompat) -> None:
    # Given a topic with the default MaximumMessageSize (256 KiB)
    topic = deploy_compat("limits_payloads").outputs["TopicArn"]
    sns = aws.client("sns")
    too_long = {"status": 400, "code": "InvalidParameter", "message": "Invalid parameter: Message too long"}

    # Then a message of exactly 256 KiB is published
    assert sns.publish(TopicArn=topic, Message="x" * (256 * KIB))["MessageId"]
    # And one byte more is refused with AWS's code and words
    assert _error(lambda: sns.publish(TopicArn=topic, Message="x" * (256 * KIB + 1))) == too_long
    # And the body's bytes and its attributes count, not its characters
    assert _error(lambda: sns.publish(TopicArn=topic, Message="é" * (128 * KIB + 1))) == too_long
    attributes = {"kind": {"DataType": "String", "StringValue": "k" * 100}}
    assert (
        _error(
            lambda: sns.publish(TopicArn=topic, Message="x" * (256 * KIB - 50), MessageAttributes=attributes)
        )
        == too_long
    )
    # And a batch whose messages add up to more than the limit is refused whole
    entries = [{"Id": str(i), "Message": "x" * (60 * KIB)} for i in range(5)]
    assert _error(lambda: sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=entries)) == {
        "status": 400,
        "code": "BatchRequestTooLong",
        "message": "The length of all the batch messages put together is more than the limit.",
    }


def test_a_topic_may_raise_its_limit_to_1_mib(aws: EmbeddedAws, deploy_compat: DeployCompat) -> None:
    # Given the topic with MaximumMessageSize raised to 1 MiB (a SetTopicAttributes AWS documents)
    topic = deploy_compat("limits_payloads").outputs["TopicArn"]
    sns = aws.client("sns")
    sns.set_topic_attributes(TopicArn=topic, AttributeName="MaximumMessageSize", AttributeValue=str(MIB))

    # When a 512 KiB message is published, Then it is accepted
    assert sns.publish(TopicArn=topic, Message="x" * (512 * KIB))["MessageId"]
    # And more than 1 MiB is still refused
    assert _error(lambda: sns.publish(TopicArn=topic, Message="x" * (MIB + 1)))["code"] == "InvalidParameter"


def test_stream_triggers_the_embedded_aws_would_ignore_are_refused_by_name(tmp_path: Path) -> None:
    # Given a SAM template with DynamoDB and Kinesis stream triggers, as SAM translates it
    template = COMPAT / "errors_unhonoured" / "template.yaml"

    # When it is planned for deploy, Then it is refused before anything is created, naming each mapping
    with pytest.raises(UnsupportedResourceError) as refused:
        plan_deploy(template, supported=cfn_models.supported_types(), work_dir=tmp_path)
    why = "(only SQS queues are polled locally)"
    assert f"Event source mapping StreamFunctionClickStream: a kinesis event source {why}" in str(
        refused.value
    )
    assert f"Event source mapping StreamFunctionOrderChanges: a dynamodb event source {why}" in str(
        refused.value
    )


def test_a_bug_inside_the_embedded_aws_answers_internal_failure_and_is_logged(
    aws: EmbeddedAws,
    deploy_compat: DeployCompat,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given the queue, and a fault inside moto's SQS backend (a stand-in for any bug in moto or a patch)
    from moto.sqs.models import SQSBackend

    queue_url = deploy_compat("errors_unsupported").outputs["QueueUrl"]

    def broken(self: SQSBackend, *args: Any, **kwargs: Any) -> None:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(SQSBackend, "purge_queue", broken)
    sqs = aws.client("sqs")
    bodies: list[bytes] = []
    _recording(sqs, bodies)
    mark = len(aws.server_errors)

    # When a call reaches it (inside expect(): this failure is provoked on purpose)
    with aws.server_errors.expect(), caplog.at_level(logging.ERROR, logger="embedded_aws.server"):
        answer = _error(lambda: sqs.purge_queue(QueueUrl=queue_url))

    # Then the SDK gets an AWS-shaped 500 carrying the exception, never werkzeug's HTML page
    assert answer == {
        "status": 500,
        "code": "InternalFailure",
        "message": "The embedded AWS failed on sqs:PurgeQueue: ZeroDivisionError: division by zero",
    }
    assert bodies and not [b for b in bodies if b"<!doctype html" in b.lower()]
    # And each attempt (the SDK retries a 500, as against AWS) was logged with its traceback
    logged = [r for r in caplog.records if r.name == "embedded_aws.server" and r.exc_info]
    assert len(logged) == len(bodies)
    assert all(r.exc_info is not None and r.exc_info[0] is ZeroDivisionError for r in logged)
    # And the server recorded them as expected internal failures
    recorded = aws.server_errors.since(mark)
    assert [(e.name, e.internal, e.expected) for e in recorded] == [("sqs:PurgeQueue", True, True)] * len(
        bodies
    )
