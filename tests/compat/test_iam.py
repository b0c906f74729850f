"""IAM as AWS enforces it: what a template's roles and resource policies do not allow fails locally, where
and how it would fail on AWS (issue 12)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from embedded_aws.errors import DeployError
from embedded_aws.stack import EmbeddedAws, poll_until
from tests.compat.conftest import COMPAT, DeployCompat, run_execution
from tests.conftest import Deploy

REFUSED = COMPAT / "iam_refused_deploys"


def _invoke(aws: EmbeddedAws, name: str, event: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    response = aws.client("lambda").invoke(FunctionName=name, Payload=json.dumps(event).encode())
    return json.loads(response["Payload"].read()), response.get("FunctionError")


def test_a_function_runs_as_its_execution_role(aws: EmbeddedAws, deploy_compat: DeployCompat) -> None:
    # Given a deployed function
    stack = deploy_compat("iam_least_privilege")
    role_name = stack.outputs["ReaderRoleArn"].rsplit("/", 1)[-1]

    # When it asks STS who it is
    payload, error = _invoke(aws, stack.outputs["ReaderName"], {"action": "whoami"})

    # Then it is a session of its role named after the function, as Lambda assumes it
    assert error is None, payload
    expected = f"arn:aws:sts::123456789012:assumed-role/{role_name}/{stack.outputs['ReaderName']}"
    assert payload["arn"] == expected


def test_an_action_the_role_lacks_is_access_denied_naming_action_and_resource(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given a reader allowed s3:GetObject and DynamoDB reads only, and a document with two versions
    stack = deploy_compat("iam_least_privilege")
    s3, bucket, reader = aws.client("s3"), stack.outputs["DocumentsBucket"], stack.outputs["ReaderName"]
    first = s3.put_object(Bucket=bucket, Key="notes.txt", Body=b"one")["VersionId"]
    s3.put_object(Bucket=bucket, Key="notes.txt", Body=b"two")

    # When it reads the latest version, then an older one (s3:GetObjectVersion), then writes a profile
    latest, latest_error = _invoke(aws, reader, {"action": "read", "key": "notes.txt"})
    older, older_error = _invoke(aws, reader, {"action": "read", "key": "notes.txt", "version": first})
    profile, profile_error = _invoke(aws, reader, {"action": "get-profile", "id": "ada"})
    written, write_error = _invoke(aws, reader, {"action": "put-profile", "id": "ada"})

    # Then what the policy allows works, and each missing action fails with the service's AccessDenied
    assert (latest, latest_error, profile, profile_error) == ({"body": "two"}, None, {"found": False}, None)
    assert older_error == "Unhandled" and write_error == "Unhandled"
    session = f"assumed-role/{stack.outputs['ReaderRoleArn'].rsplit('/', 1)[-1]}/{reader}"
    assert "An error occurred (AccessDenied) when calling the GetObject operation" in older["errorMessage"]
    assert (
        f"User: arn:aws:sts::123456789012:{session} is not authorized to perform: s3:GetObjectVersion on "
        f"resource: arn:aws:s3:::{bucket}/notes.txt because no identity-based policy allows the "
        "s3:GetObjectVersion action"
    ) in older["errorMessage"]
    assert "(AccessDeniedException) when calling the PutItem operation" in written["errorMessage"]
    assert (
        "dynamodb:PutItem on resource: arn:aws:dynamodb:us-east-1:123456789012:table/"
        in written["errorMessage"]
    )


def test_publishing_to_an_encrypted_topic_needs_its_key_as_well(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given a function allowed sns:Publish on a topic encrypted with a customer managed key, not the key
    stack = deploy_compat("iam_least_privilege")

    # When it publishes
    payload, error = _invoke(aws, stack.outputs["ReaderName"], {"action": "publish"})

    # Then SNS refuses it as AWS does: the key's data keys are the caller's to ask for
    assert error == "Unhandled"
    assert "(KMSAccessDenied) when calling the Publish operation" in payload["errorMessage"]
    assert (
        "not authorized to perform: kms:GenerateDataKey on resource: arn:aws:kms:" in payload["errorMessage"]
    )


def test_a_missing_key_is_access_denied_to_a_role_that_may_not_list_the_bucket(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given a reader allowed s3:GetObject but not s3:ListBucket
    stack = deploy_compat("iam_least_privilege")

    # When it reads a key that does not exist
    payload, error = _invoke(aws, stack.outputs["ReaderName"], {"action": "read", "key": "nothing-here"})

    # Then S3 answers 403 AccessDenied, not 404 NoSuchKey, as S3 documents
    assert error == "Unhandled"
    assert "An error occurred (AccessDenied) when calling the GetObject operation" in payload["errorMessage"]
    assert "not authorized to perform: s3:ListBucket on resource: arn:aws:s3:::" in payload["errorMessage"]


def test_sns_delivers_only_to_the_queue_whose_policy_admits_the_topic(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given a topic with two queue subscriptions, one queue with a policy admitting the topic, one without
    stack = deploy_compat("iam_least_privilege")
    sqs = aws.client("sqs")

    # When a message is published
    aws.client("sns").publish(TopicArn=stack.outputs["TopicArn"], Message="hello")

    # Then the admitted queue receives it and the other never does (AWS drops the delivery)
    def received(url: str) -> list[str]:
        messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", [])
        return [m["Body"] for m in messages]

    assert poll_until(lambda: received(stack.outputs["SubscribedUrl"]), timeout_s=10) == ["hello"]
    assert received(stack.outputs["ForgottenUrl"]) == []


def test_a_tls_only_bucket_policy_refuses_a_request_marked_insecure(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given a bucket whose policy denies every request not made over TLS
    stack = deploy_compat("iam_least_privilege")
    bucket = stack.outputs["SecureBucket"]
    secure, insecure = aws.client("s3"), aws.client("s3")
    insecure.meta.events.register(
        "before-sign.s3.*", lambda request, **_: request.headers.__setitem__("X-Forwarded-Proto", "http")
    )

    # When the same admin writes once as over TLS and once marked as plain HTTP
    secure.put_object(Bucket=bucket, Key="ok.txt", Body=b"tls")
    with pytest.raises(ClientError) as refused:
        insecure.put_object(Bucket=bucket, Key="plain.txt", Body=b"plain")

    # Then the policy's explicit deny refuses the insecure one, even for the account's root
    error = refused.value.response["Error"]
    assert (refused.value.response["ResponseMetadata"]["HTTPStatusCode"], error["Code"]) == (
        403,
        "AccessDenied",
    )
    assert "explicit deny in a resource-based policy" in error["Message"]
    assert [o["Key"] for o in secure.list_objects_v2(Bucket=bucket)["Contents"]] == ["ok.txt"]


def test_a_workflow_whose_role_may_not_invoke_its_function_fails_access_denied(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given a state machine with no policies calling a function
    stack = deploy_compat("iam_least_privilege")

    # When it runs
    execution = run_execution(aws, stack.outputs["UnwiredArn"], {})

    # Then its Lambda task fails, as its role is not authorized to perform lambda:InvokeFunction
    assert execution["status"] == "FAILED"
    assert execution["error"] == "Lambda.AccessDeniedException"
    assert "is not authorized to perform: lambda:InvokeFunction" in execution["cause"]


def test_a_sync_child_workflow_needs_the_rule_permissions_step_functions_documents(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given a workflow allowed only states:StartExecution on the child it runs with .sync:2
    stack = deploy_compat("iam_least_privilege")

    # When it runs
    execution = run_execution(aws, stack.outputs["RunChildAndWaitArn"], {})

    # Then it fails: following the child needs Step Functions' EventBridge rule (its IAM guide, "Synchronous")
    assert execution["status"] == "FAILED"
    assert execution["error"] == "StepFunctions.AccessDeniedException"
    assert (
        "is not authorized to perform: events:PutTargets on resource: arn:aws:events:" in execution["cause"]
    )


@pytest.mark.parametrize(
    ("template", "failure"),
    [
        pytest.param(
            "no_topic_policy.yaml",
            r"Resource Inbox \(AWS::S3::Bucket\) failed to create: .*"
            "Unable to validate the following destination configurations",
            id="s3-to-sns-without-topic-policy",
        ),
        pytest.param(
            "topic_key_without_s3.yaml",
            "Unable to validate the following destination configurations",
            id="s3-to-encrypted-sns-whose-key-refuses-s3",
        ),
        pytest.param(
            "untrusted_role.yaml",
            "The role defined for the function cannot be assumed by Lambda",
            id="role-not-trusting-lambda",
        ),
        pytest.param(
            "poller_without_permissions.yaml",
            "The provided execution role does not have permissions to call ReceiveMessage on SQS",
            id="sqs-poller-without-permissions",
        ),
    ],
)
def test_a_deploy_aws_would_refuse_fails_with_awss_reason(
    deploy: Deploy, template: str, failure: str
) -> None:
    # Given a template AWS refuses to create
    # When it is deployed, Then it fails (and rolls back) with AWS's reason
    with pytest.raises(DeployError, match=failure):
        deploy(REFUSED / template)
