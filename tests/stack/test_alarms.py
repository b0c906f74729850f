"""Queue-depth alarms on the embedded AWS: a filled queue alarms its topic's subscribers, an emptied one
says OK."""

from __future__ import annotations

import json
from typing import Any

import pytest

from embedded_aws.alarms import subject
from embedded_aws.stack import DeployedStack, EmbeddedAws, poll_until
from tests.conftest import Deploy

pytestmark = pytest.mark.stack

REGION_TITLE = "US East (N. Virginia)"  # the tests' region, as CloudWatch names it


def _notifications(aws: EmbeddedAws, stack: DeployedStack, state: str) -> dict[str, dict[str, Any]]:
    """The outbox entries of the stack's alert topic for one new state, by protocol."""
    expected = subject(stack.outputs["AlarmName"], state, aws.region)
    return {
        entry["protocol"]: entry
        for entry in aws.outbox.entries()
        if entry["topic_arn"] == stack.outputs["TopicArn"] and entry["subject"] == expected
    }


def _state(aws: EmbeddedAws, name: str) -> str:
    alarms = aws.client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"]
    return str(alarms[0]["StateValue"])


def test_a_filled_queue_alarms_by_email_and_an_emptied_one_says_ok(aws: EmbeddedAws, deploy: Deploy) -> None:
    # Given a queue whose depth alarm (≥ 1 message) notifies a topic with email and email-json subscribers
    stack = deploy("queue-depth-alarm.yaml")
    sqs = aws.client("sqs")
    name = stack.outputs["AlarmName"]
    assert _state(aws, name) == "OK"

    # When a message waits in the queue
    sqs.send_message(QueueUrl=stack.outputs["QueueUrl"], MessageBody="stuck")

    # Then the alarm goes to ALARM and both subscribers are told, with CloudWatch's subject and message
    alarmed = poll_until(lambda: len(_notifications(aws, stack, "ALARM")) == 2, timeout_s=30)
    assert alarmed, f"no ALARM notification in the outbox: {aws.outbox.entries()}"
    assert _state(aws, name) == "ALARM"
    sent = _notifications(aws, stack, "ALARM")
    assert sent["email"]["subject"].startswith('ALARM: "t')  # the name, shortened to keep under 100 chars
    assert sent["email"]["subject"].endswith(f'..." in {REGION_TITLE}')
    envelope = json.loads(sent["email-json"]["message"])
    alarm = json.loads(envelope["Message"])
    assert alarm["AlarmName"] == name
    assert alarm["AlarmDescription"] == "Messages wait in the queue."
    assert (alarm["OldStateValue"], alarm["NewStateValue"]) == ("OK", "ALARM")
    assert alarm["NewStateReason"].startswith("Threshold Crossed: 1 out of the last 1 datapoints [1.0 (")
    assert alarm["Region"] == REGION_TITLE
    assert alarm["AlarmArn"].endswith(f":alarm:{name}")
    assert alarm["AlarmActions"] == alarm["OKActions"] == [stack.outputs["TopicArn"]]
    trigger = alarm["Trigger"]
    assert trigger["Namespace"] == "AWS/SQS"
    assert trigger["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert trigger["Dimensions"] == [{"value": stack.outputs["QueueName"], "name": "QueueName"}]
    assert (trigger["Statistic"], trigger["Threshold"]) == ("MAXIMUM", 1.0)
    assert trigger["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    email = sent["email"]
    assert email["endpoint"] == "ops@example.com"
    assert email["message"].startswith(
        f'You are receiving this email because your Amazon CloudWatch Alarm "{name}"'
    )
    assert "has entered the ALARM state" in email["message"]
    # ... and the alarm on a metric the embedded AWS does not evaluate stays as it was created
    assert _state(aws, stack.outputs["OtherAlarmName"]) == "OK"

    # When the message is received and deleted
    received = sqs.receive_message(QueueUrl=stack.outputs["QueueUrl"], WaitTimeSeconds=1)["Messages"]
    sqs.delete_message(QueueUrl=stack.outputs["QueueUrl"], ReceiptHandle=received[0]["ReceiptHandle"])

    # Then the alarm goes back to OK and the subscribers are told once
    recovered = poll_until(lambda: len(_notifications(aws, stack, "OK")) == 2, timeout_s=30)
    assert recovered, f"no OK notification in the outbox: {aws.outbox.entries()}"
    assert _state(aws, name) == "OK"
    ok = json.loads(json.loads(_notifications(aws, stack, "OK")["email-json"]["message"])["Message"])
    assert (ok["OldStateValue"], ok["NewStateValue"]) == ("ALARM", "OK")
    assert "was not greater than or equal to the threshold (1.0)" in ok["NewStateReason"]
    assert len(_notifications(aws, stack, "ALARM")) == 2  # no second ALARM while the queue was full


def test_a_topic_whose_policy_shuts_out_cloudwatch_gets_no_notification(
    aws: EmbeddedAws, deploy: Deploy
) -> None:
    # Given the same stack, its topic's policy then replaced by one that admits only this account's principals
    stack = deploy("queue-depth-alarm.yaml")
    topic = stack.outputs["TopicArn"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                "Action": "sns:Publish",
                "Resource": topic,
            }
        ],
    }
    aws.client("sns").set_topic_attributes(
        TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(policy)
    )

    # When a message waits in the queue
    aws.client("sqs").send_message(QueueUrl=stack.outputs["QueueUrl"], MessageBody="stuck")

    # Then the alarm goes to ALARM, but CloudWatch may not publish to the topic: nobody is told
    assert poll_until(lambda: _state(aws, stack.outputs["AlarmName"]) == "ALARM", timeout_s=30)
    mark = aws.alarms.evaluations
    assert poll_until(lambda: aws.alarms.evaluations > mark, timeout_s=30)  # that evaluation's actions done
    assert _notifications(aws, stack, "ALARM") == {}
