"""Deploys as CloudFormation does them: templates read as CloudFormation reads them, ready means ready."""

from __future__ import annotations

import base64
import itertools
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from embedded_aws.errors import TemplateError, UnsupportedResourceError
from embedded_aws.stack import DeployedStack, EmbeddedAws, poll_until
from tests.compat.conftest import COMPAT, DeployCompat


def _keys(aws: EmbeddedAws, bucket: str, prefix: str = "") -> list[str]:
    keys: list[str] = []
    for page in aws.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(item["Key"] for item in page.get("Contents", []))
    return sorted(keys)


def _invoke(aws: EmbeddedAws, name: str, event: dict[str, Any]) -> Any:
    response = aws.client("lambda").invoke(FunctionName=name, Payload=json.dumps(event).encode())
    assert "FunctionError" not in response, response["Payload"].read()
    return json.loads(response["Payload"].read())


_READY_RUNS = itertools.count(1)


def _stack_names(aws: EmbeddedAws) -> list[str]:
    return [s["StackName"] for s in aws.client("cloudformation").list_stacks()["StackSummaries"]]


def test_every_delivery_sent_the_instant_the_stack_reads_create_complete_is_invoked_once(
    aws: EmbeddedAws,
) -> None:
    # Given a stack being deployed in another thread, watched by a client polling DescribeStacks
    name = f"ready-when-complete-{next(_READY_RUNS)}"
    deployed: list[DeployedStack] = []
    failures: list[BaseException] = []

    def deploy() -> None:
        try:
            deployed.append(aws.deploy(COMPAT / "deploy_ready" / "template.yaml", name))
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread, which fails with it
            failures.append(exc)

    worker = threading.Thread(target=deploy)
    worker.start()
    cfn = aws.client("cloudformation")
    seen: list[str] = []

    def complete() -> dict[str, Any] | None:
        try:
            stack: dict[str, Any] = cfn.describe_stacks(StackName=name)["Stacks"][0]
        except ClientError:
            return None  # not created yet
        seen.append(stack["StackStatus"])
        return stack if stack["StackStatus"] == "CREATE_COMPLETE" or failures else None

    stack = poll_until(complete, timeout_s=120, interval_s=0.01)
    assert stack is not None and not failures, (seen, failures)
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}

    # When, from that instant, ten messages are published and five objects put, in a tight loop
    sns, s3 = aws.client("sns"), aws.client("s3")
    for i in range(10):
        sns.publish(TopicArn=outputs["TopicArn"], Message=f"m{i}")
    for i in range(5):
        s3.put_object(Bucket=outputs["UploadsBucketName"], Key=f"o{i}.txt", Body=b"x")

    # Then every one of them invokes the function exactly once: nothing dropped, nothing doubled
    results = outputs["ResultsBucketName"]
    assert poll_until(lambda: len(_keys(aws, results)) >= 15, timeout_s=90), _keys(aws, results)
    assert poll_until(aws.async_idle, timeout_s=30)
    delivered = sorted(key.rsplit("/", 1)[0] for key in _keys(aws, results))
    assert delivered == sorted([f"sns/m{i}" for i in range(10)] + [f"s3/o{i}.txt" for i in range(5)])
    worker.join(30)
    # ...and nobody saw CREATE_COMPLETE before the deploy had made everything live
    assert set(seen) <= {"CREATE_IN_PROGRESS", "CREATE_COMPLETE"}
    assert deployed and deployed[0].status == "CREATE_COMPLETE"
    aws.delete(name)


def test_yaml_is_read_as_cloudformation_reads_it(aws: EmbeddedAws, deploy_compat: DeployCompat) -> None:
    # Given a template with an unquoted AWSTemplateFormatVersion date, a policy Version date, yes/off,
    # a duplicate key, Transform as a list and nested short-form intrinsics
    stack = deploy_compat("deploy_yaml11")

    # When the function reports its environment
    env = _invoke(aws, stack.outputs["EchoName"], {})

    # Then each value is what CloudFormation would have passed: YAML 1.1 booleans as "true"/"false",
    # dates as written, the last duplicate key, and every intrinsic resolved
    table_name = stack.physical_id("Table")
    assert env == {
        "FEATURE_ON": "true",
        "FEATURE_OFF": "false",
        "RELEASED": "2024-01-31",
        "MODE": "second",
        "LOG_LEVEL": "DEBUG",
        "TABLE_ARN": stack.outputs["TableArn"],
        "TABLE_REF": f"{table_name}@us-east-1",
        "JOINED": "dev-b",
        "ZONE": "us-east-1a",
        "ENCODED": base64.b64encode(b"hello").decode(),
        "ONLY_PROD": None,
        "CHOSEN": "small",
    }
    assert stack.outputs["Subnets"] == "10.0.0.0/24,10.0.1.0/24"


def test_parameters_without_defaults_must_be_given(aws: EmbeddedAws, deploy_compat: DeployCompat) -> None:
    # Given a template whose QueueSuffix and Environment parameters have no default
    # When it is deployed without them, Then the deploy is refused naming both, and nothing is created
    before = _stack_names(aws)
    with pytest.raises(TemplateError, match=r"Parameters: \[QueueSuffix, Environment\] must have values"):
        deploy_compat("deploy_params")
    # ...and a value outside AllowedValues is refused as CloudFormation words it
    with pytest.raises(TemplateError, match="Parameter 'Environment' must be one of AllowedValues"):
        deploy_compat("deploy_params", {"QueueSuffix": "a1", "Environment": "staging"})
    with pytest.raises(TemplateError, match="Parameter 'QueueSuffix' must match pattern"):
        deploy_compat("deploy_params", {"QueueSuffix": "Not Valid", "Environment": "test"})
    assert _stack_names(aws) == before

    # When the values are given, Then the stack uses them
    stack = deploy_compat("deploy_params", {"QueueSuffix": "eu-1", "Environment": "prod"})
    assert stack.outputs["QueueUrl"].endswith("/orders-eu-1")
    assert _invoke(aws, stack.outputs["GreeterName"], {}) == {"environment": "prod"}
    # ...and the resource whose Condition is false is not part of the stack (no blank entry either)
    listed = aws.client("cloudformation").list_stack_resources(StackName=stack.name)["StackResourceSummaries"]
    logical_ids = [r["LogicalResourceId"] for r in listed]
    assert {"Queue", "Greeter"} <= set(logical_ids)
    assert "TestOnlyQueue" not in logical_ids and "" not in logical_ids
    # ...and every environment value is a string, as CloudFormation passes numbers and booleans to Lambda
    configuration = aws.client("lambda").get_function_configuration(FunctionName=stack.outputs["GreeterName"])
    variables = configuration["Environment"]["Variables"]
    assert {k: variables[k] for k in ("RETENTION_SECONDS", "MAX_ITEMS", "DRY_RUN")} == {
        "RETENTION_SECONDS": "345600",
        "MAX_ITEMS": "25",
        "DRY_RUN": "false",
    }


def test_state_machine_get_att_arn_and_name(aws: EmbeddedAws, deploy_compat: DeployCompat) -> None:
    # Given SAM STANDARD and EXPRESS state machines and a plain CloudFormation one, each named in Outputs
    stack = deploy_compat("deploy_sfn_getatt")
    sfn = aws.client("stepfunctions")

    # Then Fn::GetAtt .Arn and .Name give what DescribeStateMachine gives, and Ref is the ARN
    for prefix, kind in (("Standard", "STANDARD"), ("Express", "EXPRESS"), ("Plain", "STANDARD")):
        described = sfn.describe_state_machine(stateMachineArn=stack.outputs[f"{prefix}Arn"])
        assert described["name"] == stack.outputs[f"{prefix}Name"]
        assert described["type"] == kind
    assert stack.outputs["StandardRef"] == stack.outputs["StandardArn"]


def test_sam_connectors_grant_what_they_name(aws: EmbeddedAws, deploy_compat: DeployCompat) -> None:
    # Given a function connected to a queue (Write) and a table (Read, Write) by SAM connectors
    stack = deploy_compat("deploy_connector")

    # When it writes and reads both
    assert _invoke(aws, stack.outputs["WriterName"], {"id": "o-1", "amount": 3}) == {"stored": "o-1"}

    # Then the message is on the queue, and the connectors became policies on the function's role
    messages = aws.client("sqs").receive_message(QueueUrl=stack.outputs["QueueUrl"], WaitTimeSeconds=1)
    assert [m["Body"] for m in messages["Messages"]] == ["o-1"]
    kinds = {kind for kind, _ in stack.resources.values()}
    assert "AWS::IAM::ManagedPolicy" in kinds


@pytest.mark.parametrize(
    ("properties", "named"),
    [
        ("Layers: [arn:aws:lambda:us-east-1:123456789012:layer:deps:1]", "property Layers"),
        ("CodeSigningConfigArn: arn:aws:lambda:us-east-1:123456789012:code-signing-config:csc-1", "Signing"),
        ("Runtime: nodejs20.x", "property Runtime: nodejs20.x"),
        (
            "EventInvokeConfig:\n        DestinationConfig:\n          OnFailure:\n            Type: SQS",
            "property DestinationConfig",
        ),
    ],
)
def test_what_the_embedded_aws_cannot_honour_is_refused_before_anything_is_created(
    aws: EmbeddedAws, tmp_path: Path, properties: str, named: str
) -> None:
    # Given a function with a property that would change what runs or how it is delivered
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("def handler(event, context):\n    return None\n")
    template = tmp_path / "template.yaml"
    template.write_text(
        "AWSTemplateFormatVersion: 2010-09-09\nTransform: AWS::Serverless-2016-10-31\nResources:\n"
        "  Queue:\n    Type: AWS::SQS::Queue\n"
        "  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: src/\n"
        f"      Handler: app.handler\n      Runtime: python3.12\n      {properties}\n"
    )
    # When it is deployed, Then the deploy is refused naming the function and the property
    before = _stack_names(aws)
    with pytest.raises(UnsupportedResourceError, match=named) as refused:
        aws.deploy(template, f"refused-{abs(hash(properties)) % 10_000}")
    assert "Fn" in refused.value.message
    # ...before anything was created
    assert _stack_names(aws) == before


def test_language_extensions_are_refused_by_name(aws: EmbeddedAws, tmp_path: Path) -> None:
    # Given a template using the AWS::LanguageExtensions transform
    template = tmp_path / "template.yaml"
    template.write_text(
        "Transform: [AWS::LanguageExtensions, AWS::Serverless-2016-10-31]\n"
        "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n"
    )
    # Then the deploy is refused, naming the transform
    with pytest.raises(UnsupportedResourceError, match="Transform AWS::LanguageExtensions"):
        aws.deploy(template, "language-extensions")


def test_deleting_a_stack_stops_its_functions_and_pollers(aws: EmbeddedAws) -> None:
    # Given a deployed stack with a queue-triggered function
    stack = aws.deploy(COMPAT / "sqs_filter_criteria" / "template.yaml", "deleted-stack")
    functions = [config.arn for config in stack.functions.values()]
    assert functions and all(aws.runtime.has(arn) for arn in functions)

    # When it is deleted
    aws.delete("deleted-stack")

    # Then its functions can no longer run, its mappings are gone, and CloudFormation says so
    assert not any(aws.runtime.has(arn) for arn in functions)
    mappings = aws.client("lambda").list_event_source_mappings()["EventSourceMappings"]
    assert not [m for m in mappings if m["FunctionArn"] in functions]
    assert "deleted-stack" not in aws.stacks


def test_a_resource_needed_early_by_a_ref_is_still_created_after_what_it_depends_on(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given a bucket that DependsOn the topic policy S3 needs for its notification, named by a queue that
    # comes first in the template (so the bucket is needed before its turn)
    # When the template is deployed
    stack = deploy_compat("deploy_depends_on")
    # Then the bucket was created after the policy: S3 validated the notification, and the stack is complete
    assert stack.status == "CREATE_COMPLETE"
    configuration = aws.client("s3").get_bucket_notification_configuration(Bucket=stack.outputs["BucketName"])
    assert len(configuration["TopicConfigurations"]) == 1
