"""The resource types moto's CloudFormation skips, created by ours, checked through the AWS APIs (moto)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from embedded_aws import cfn_models, patches

TEMPLATE: dict[str, Any] = {
    "Resources": {
        "Topic": {"Type": "AWS::SNS::Topic"},
        "Queue": {"Type": "AWS::SQS::Queue"},
        "Bucket": {
            "Type": "AWS::S3::Bucket",
            "DependsOn": "TopicPolicy",
            "Properties": {
                "VersioningConfiguration": {"Status": "Enabled"},
                "PublicAccessBlockConfiguration": {"BlockPublicAcls": True, "RestrictPublicBuckets": True},
                "NotificationConfiguration": {
                    "TopicConfigurations": [
                        {
                            "Topic": {"Ref": "Topic"},
                            "Event": "s3:ObjectCreated:*",
                            "Filter": {"S3Key": {"Rules": [{"Name": "prefix", "Value": "uploads/"}]}},
                        }
                    ]
                },
            },
        },
        "TopicPolicy": {
            "Type": "AWS::SNS::TopicPolicy",
            "Properties": {
                "Topics": [{"Ref": "Topic"}],
                "PolicyDocument": {
                    "Statement": [{"Effect": "Allow", "Action": "sns:Publish", "Resource": "*"}]
                },
            },
        },
        "QueuePolicy": {
            "Type": "AWS::SQS::QueuePolicy",
            "Properties": {
                "Queues": [{"Ref": "Queue"}],
                "PolicyDocument": {
                    "Statement": [{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"}]
                },
            },
        },
        "Subscription": {
            "Type": "AWS::SNS::Subscription",
            "Properties": {
                "TopicArn": {"Ref": "Topic"},
                "Protocol": "sqs",
                "Endpoint": {"Fn::GetAtt": ["Queue", "Arn"]},
                "RawMessageDelivery": "true",
                "FilterPolicy": {"Records": {"eventName": [{"prefix": "ObjectCreated:"}]}},
                "FilterPolicyScope": "MessageBody",
            },
        },
        "Mail": {
            "Type": "AWS::SNS::Subscription",
            "Properties": {
                "TopicArn": {"Ref": "Topic"},
                "Protocol": "email",
                "Endpoint": "ops@example.com",
                "FilterPolicy": {"kind": ["alert"]},
            },
        },
        "Alarm": {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "Namespace": "AWS/SQS",
                "MetricName": "ApproximateNumberOfMessagesVisible",
                "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["Queue", "QueueName"]}}],
                "Statistic": "Maximum",
                "Period": 60,
                "EvaluationPeriods": 1,
                "Threshold": 0,
                "ComparisonOperator": "GreaterThanThreshold",
            },
        },
    },
    "Outputs": {
        "Bucket": {"Value": {"Ref": "Bucket"}},
        "QueueUrl": {"Value": {"Ref": "Queue"}},
        "TopicArn": {"Value": {"Ref": "Topic"}},
        "Subscription": {"Value": {"Ref": "Subscription"}},
    },
}


class FakeRouter:
    """Records what the patched seams hand over, instead of running anything."""

    def __init__(self) -> None:
        self.delivered: list[dict[str, Any]] = []

    def invoke_sync(self, function_arn: str, event: Any) -> tuple[str, dict[str, Any] | None]:
        return "null", None

    def invoke_async(self, function_arn: str, event: Any, source: str) -> None:
        return None

    def deliver(self, entry: dict[str, Any]) -> None:
        self.delivered.append(entry)


@pytest.fixture
def router() -> Iterator[FakeRouter]:
    fake = FakeRouter()
    cfn_models.install()
    patches.install(fake)
    with mock_aws():
        yield fake
    patches.uninstall()


def _deploy() -> dict[str, str]:
    cfn = boto3.client("cloudformation")
    cfn.create_stack(StackName="models", TemplateBody=json.dumps(TEMPLATE))
    stack = cfn.describe_stacks(StackName="models")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


def test_subscription_policies_and_alarm_are_created_as_declared(router: FakeRouter) -> None:
    # Given the template deployed through moto's CloudFormation
    outputs = _deploy()
    sns, sqs = boto3.client("sns"), boto3.client("sqs")

    # Then the subscription has its filter, scope and raw delivery
    attributes = sns.get_subscription_attributes(SubscriptionArn=outputs["Subscription"])["Attributes"]
    assert attributes["RawMessageDelivery"] == "true"
    assert attributes["FilterPolicyScope"] == "MessageBody"
    assert json.loads(attributes["FilterPolicy"]) == {
        "Records": {"eventName": [{"prefix": "ObjectCreated:"}]}
    }
    # ...the topic and queue policies are set
    topic_policy = sns.get_topic_attributes(TopicArn=outputs["TopicArn"])["Attributes"]["Policy"]
    assert json.loads(topic_policy)["Statement"][0]["Action"] == "sns:Publish"
    queue_policy = sqs.get_queue_attributes(QueueUrl=outputs["QueueUrl"], AttributeNames=["Policy"])
    assert json.loads(queue_policy["Attributes"]["Policy"])["Statement"][0]["Action"] == "sqs:SendMessage"
    # ...and the alarm watches the queue
    alarms = boto3.client("cloudwatch").describe_alarms()["MetricAlarms"]
    assert [(a["MetricName"], a["Dimensions"][0]["Value"]) for a in alarms] == [
        ("ApproximateNumberOfMessagesVisible", outputs["QueueUrl"].rsplit("/", 1)[-1])
    ]


def test_bucket_versioning_and_notifications_deliver_s3_events_as_s3_writes_them(router: FakeRouter) -> None:
    # Given the deployed bucket, versioned and notifying the topic for uploads/
    outputs = _deploy()
    s3, sqs = boto3.client("s3"), boto3.client("sqs")
    assert s3.get_bucket_versioning(Bucket=outputs["Bucket"])["Status"] == "Enabled"
    block = s3.get_public_access_block(Bucket=outputs["Bucket"])["PublicAccessBlockConfiguration"]
    assert block["BlockPublicAcls"] is True

    # When two objects are put under the prefix (the first twice) and one outside it
    first = s3.put_object(Bucket=outputs["Bucket"], Key="uploads/a b/c.jpg", Body=b"1")
    s3.put_object(Bucket=outputs["Bucket"], Key="uploads/a b/c.jpg", Body=b"2")
    s3.put_object(Bucket=outputs["Bucket"], Key="elsewhere/x.jpg", Body=b"3")

    # Then the queue holds two raw S3 events: "/" kept, spaces as "+", a version id and a growing sequencer
    messages = sqs.receive_message(QueueUrl=outputs["QueueUrl"], MaxNumberOfMessages=10)["Messages"]
    records = [json.loads(m["Body"])["Records"][0]["s3"]["object"] for m in messages]
    assert [r["key"] for r in records] == ["uploads/a+b/c.jpg", "uploads/a+b/c.jpg"]
    assert records[0]["versionId"] == first["VersionId"]
    assert records[0]["versionId"] != records[1]["versionId"]
    assert records[0]["sequencer"] < records[1]["sequencer"]


def test_email_subscription_deliveries_go_to_the_outbox_by_filter(router: FakeRouter) -> None:
    # Given the deployed email subscription for kind=alert
    outputs = _deploy()
    sns = boto3.client("sns")

    # When an alert and a non-alert are published
    for kind in ("alert", "info"):
        sns.publish(
            TopicArn=outputs["TopicArn"],
            Subject=f"A {kind}",
            Message=json.dumps({"default": f"{kind} text", "email": f"{kind} email text"}),
            MessageStructure="json",
            MessageAttributes={"kind": {"DataType": "String", "StringValue": kind}},
        )
    # ...and one SMS is sent directly to a phone number
    sns.publish(PhoneNumber="+15555550123", Message="direct text")

    # Then the outbox holds the email's protocol-specific text, and the SMS
    assert [(e["protocol"], e["endpoint"], e["subject"], e["message"]) for e in router.delivered] == [
        ("email", "ops@example.com", "A alert", "alert email text"),
        ("sms", "+15555550123", None, "direct text"),
    ]
