"""Lambda-backed custom resources, as CloudFormation runs them: the function gets the request, answers on the
ResponseURL, and its answer creates, fails or deletes the resource."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from embedded_aws.errors import DeployError, UnsupportedResourceError
from embedded_aws.stack import EmbeddedAws, poll_until
from embedded_aws.template import check_supported
from tests.compat.conftest import COMPAT, DeployCompat

_RUNS = itertools.count(1)


def _events(path: Path) -> list[dict[str, Any]]:
    """The request events a function logged in its log file (each handler here logs its event as JSON)."""
    found = []
    for line in path.read_text().splitlines() if path.exists() else []:
        start = line.find('{"RequestType"')
        if start >= 0:
            found.append(json.loads(line[start:]))
    return found


@pytest.fixture
def failing_stack(aws: EmbeddedAws) -> Iterator[str]:
    """A stack name for a deploy expected to fail; the rolled-back stack is deleted afterwards."""
    name = f"custom-resource-failure-{next(_RUNS)}"
    yield name
    aws.delete(name)


def test_an_inline_function_answering_with_cfnresponse_creates_the_resource_and_its_data_reaches_outputs(
    deploy_compat: DeployCompat,
) -> None:
    # Given a Custom:: resource whose inline ZipFile function imports cfnresponse
    # When the stack is deployed
    stack = deploy_compat("custom_resource_cfnresponse")

    # Then Fn::GetAtt reads the response's Data and Ref its PhysicalResourceId
    assert stack.status == "CREATE_COMPLETE"
    assert stack.outputs["BucketName"] == "photos-namer"
    assert stack.outputs["NamerId"] == "photos-namer"
    assert stack.physical_id("Namer") == "photos-namer"
    assert stack.resources["Namer"][0] == "Custom::BucketNamer"
    # ...and the function received every property as CloudFormation passes them: scalars as strings
    assert json.loads(stack.outputs["Echo"]) == {
        "Prefix": "photos",
        "Replicas": "3",
        "Versioned": "true",
        "Tags": ["media", "2"],
    }


def test_a_failed_response_fails_the_deploy_with_cloudformations_reason_and_rolls_the_stack_back(
    aws: EmbeddedAws, failing_stack: str
) -> None:
    # Given the inline function answers FAILED, with a reason, for an invalid prefix
    template = COMPAT / "custom_resource_cfnresponse" / "template.yaml"

    # When the stack is deployed with one
    with pytest.raises(DeployError) as failed:
        aws.deploy(template, failing_stack, {"Prefix": "Not Valid!"})

    # Then the deploy fails with CloudFormation's sentence carrying the function's reason
    assert (
        "Received response status [FAILED] from custom resource. Message returned: Prefix 'Not Valid!' must "
        "be 3 to 40 lowercase letters, digits or hyphens (RequestId: "
    ) in failed.value.message
    # ...the stack rolled back, and the resource's failure is among its events
    cfn = aws.client("cloudformation")
    assert cfn.describe_stacks(StackName=failing_stack)["Stacks"][0]["StackStatus"] == "ROLLBACK_COMPLETE"
    events = cfn.describe_stack_events(StackName=failing_stack)["StackEvents"]
    [failure] = [
        e for e in events if e["LogicalResourceId"] == "Namer" and e["ResourceStatus"] == "CREATE_FAILED"
    ]
    assert failure["ResourceStatusReason"].startswith("Received response status [FAILED]")
    # ...and, as CloudFormation does on rollback, the function was asked to delete what it answered for
    request_id = failed.value.message.rsplit("(RequestId: ", 1)[1].split(")", 1)[0]
    [log] = aws.runtime.log_dir.glob(f"{failing_stack}-NamerFunction-*.log")

    def requests() -> list[tuple[str, str | None]]:
        return [(e["RequestType"], e.get("PhysicalResourceId")) for e in _events(log)]

    assert poll_until(lambda: len(requests()) == 2, timeout_s=10), requests()
    assert requests() == [("Create", None), ("Delete", f"invalid-{request_id}")]


def test_getatt_of_a_key_the_response_lacks_fails_the_deploy_as_cloudformation_does(
    aws: EmbeddedAws, failing_stack: str
) -> None:
    # Given an Output reading a Data key the function never returns
    template = COMPAT / "custom_resource_cfnresponse" / "template.yaml"

    # When the stack is deployed with that Output present
    with pytest.raises(DeployError) as failed:
        aws.deploy(template, failing_stack, {"ShowMissing": "yes"})

    # Then the deploy fails with CloudFormation's attribute error, and the stack rolled back
    assert (
        "CustomResource attribute error: Vendor response doesn't contain Missing key" in failed.value.message
    )
    cfn = aws.client("cloudformation")
    assert cfn.describe_stacks(StackName=failing_stack)["Stacks"][0]["StackStatus"] == "ROLLBACK_COMPLETE"


def test_a_function_that_puts_its_response_with_urllib_creates_and_deletes_the_resource(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given an AWS::CloudFormation::CustomResource whose CodeUri function PUTs its response with urllib
    # When the stack is deployed
    stack = deploy_compat("custom_resource_urllib")

    # Then the function seeded the bucket and its answer is the resource's id and attributes
    bucket = stack.outputs["BucketName"]
    assert stack.outputs["SeedId"] == f"{bucket}/config/site.json"
    assert stack.outputs["SeedKey"] == "config/site.json"
    body = aws.client("s3").get_object(Bucket=bucket, Key="config/site.json")["Body"].read()
    assert json.loads(body) == {"title": "Holiday photos"}

    # When the stack is deleted
    aws.delete(stack.name)

    # Then the function received a Delete naming the resource by its PhysicalResourceId
    log = aws.runtime.log_dir / f"{stack.outputs['SeedFunctionName']}.log"
    deletes = [e for e in _events(log) if e["RequestType"] == "Delete"]
    assert len(deletes) == 1
    assert deletes[0]["PhysicalResourceId"] == f"{bucket}/config/site.json"
    assert deletes[0]["ResourceType"] == "AWS::CloudFormation::CustomResource"
    assert deletes[0]["ResourceProperties"]["Key"] == "config/site.json"
    # ...before the bucket went: the object was removed, so the bucket could be deleted with the stack
    assert bucket not in [b["Name"] for b in aws.client("s3").list_buckets()["Buckets"]]


def test_a_function_that_raises_without_responding_fails_the_deploy_at_once_saying_so(
    aws: EmbeddedAws, failing_stack: str
) -> None:
    # Given an inline function that raises KeyError before it sends any response
    template = COMPAT / "custom_resource_unhandled" / "template.yaml"

    # When the stack is deployed
    with pytest.raises(DeployError) as failed:
        aws.deploy(template, failing_stack)

    # Then the deploy fails (not an hour's wait) with CloudFormation's sentence and what happened locally
    message = failed.value.message
    assert "CloudFormation did not receive a response from your Custom Resource." in message
    assert "failed (KeyError: 'TableName') without sending a response to the ResponseURL" in message
    cfn = aws.client("cloudformation")
    assert cfn.describe_stacks(StackName=failing_stack)["Stacks"][0]["StackStatus"] == "ROLLBACK_COMPLETE"


def _custom(service_token: Any) -> dict[str, Any]:
    return {"Type": "Custom::Thing", "Properties": {"ServiceToken": service_token}}


def test_lambda_backed_custom_resources_are_admitted_and_others_refused_naming_why() -> None:
    # Given custom resources backed by a function of the template, by a topic, and by nothing
    function = {"Type": "AWS::Lambda::Function", "Properties": {}}
    topic = {"Type": "AWS::SNS::Topic", "Properties": {}}
    backed = {"Resources": {"Fn": function, "C": _custom({"Fn::GetAtt": ["Fn", "Arn"]})}}
    by_topic = {"Resources": {"Topic": topic, "C": _custom({"Ref": "Topic"})}}
    by_nothing = {"Resources": {"C": {"Type": "AWS::CloudFormation::CustomResource", "Properties": {}}}}
    by_name = {"Resources": {"Fn": function, "C": _custom({"Ref": "Fn"})}}
    supported = {"AWS::Lambda::Function", "AWS::SNS::Topic"}

    # When they are checked, Then the Lambda-backed one passes
    check_supported(backed, supported)
    # ...and the others are refused with a sentence naming the feature
    with pytest.raises(UnsupportedResourceError, match=r"SNS-backed custom resources .* not supported"):
        check_supported(by_topic, supported)
    with pytest.raises(UnsupportedResourceError, match=r"C .*has no ServiceToken"):
        check_supported(by_nothing, supported)
    with pytest.raises(UnsupportedResourceError, match=r"by name \(Ref\), not by ARN \(!GetAtt Fn\.Arn\)"):
        check_supported(by_name, supported)
