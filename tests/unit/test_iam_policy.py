"""IAM's evaluation logic, as AWS documents it (embedded_aws.policy)."""

from __future__ import annotations

from typing import Any

import pytest

from embedded_aws.policy import Principal, compile_policy, condition_holds, decide, root, service_principal

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/Reader"
SESSION = Principal(
    arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/Reader/fn", account=ACCOUNT, user_id="AROA1:fn", role_arn=ROLE
)
BUCKET = "arn:aws:s3:::docs"


def _identity(*statements: dict[str, Any]) -> Any:
    return compile_policy({"Version": "2012-10-17", "Statement": list(statements)}, resource_based=False)


def _resource(*statements: dict[str, Any]) -> Any:
    return compile_policy({"Version": "2012-10-17", "Statement": list(statements)}, resource_based=True)


def test_an_identity_allow_with_wildcards_allows_and_anything_else_is_implicitly_denied() -> None:
    # Given a role allowed s3:Get* on the bucket's objects
    identity = _identity({"Effect": "Allow", "Action": "S3:Get*", "Resource": f"{BUCKET}/*"})

    # When it gets an object, and puts one
    got = decide(SESSION, "s3:GetObjectVersion", f"{BUCKET}/a.txt", {}, identity=identity)
    put = decide(SESSION, "s3:PutObject", f"{BUCKET}/a.txt", {}, identity=identity)

    # Then actions match case-insensitively with wildcards; the put is refused with AWS's reason
    assert got.allowed
    assert not put.allowed and put.reason == "because no identity-based policy allows the s3:PutObject action"


def test_an_explicit_deny_wins_over_any_allow_and_not_action_excludes() -> None:
    # Given an allow on everything but deletes, and a deny on one prefix
    identity = _identity(
        {"Effect": "Allow", "NotAction": "s3:Delete*", "Resource": "*"},
        {"Effect": "Deny", "Action": "s3:*", "Resource": f"{BUCKET}/private/*"},
    )

    # When it reads in and out of the prefix, and deletes
    inside = decide(SESSION, "s3:GetObject", f"{BUCKET}/private/x", {}, identity=identity)
    outside = decide(SESSION, "s3:GetObject", f"{BUCKET}/public/x", {}, identity=identity)
    delete = decide(SESSION, "s3:DeleteObject", f"{BUCKET}/public/x", {}, identity=identity)

    # Then the deny refuses, NotAction leaves deletes unallowed
    assert inside.reason == "with an explicit deny in an identity-based policy"
    assert outside.allowed and not delete.allowed


def test_a_resource_policy_naming_the_role_grants_but_naming_the_account_only_delegates() -> None:
    # Given no identity permission, and a queue policy naming the role, another naming the account
    by_role = _resource({"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "sqs:*", "Resource": "*"})
    by_account = _resource(
        {"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sqs:*", "Resource": "*"}
    )

    # When the role sends a message under each
    queue = f"arn:aws:sqs:us-east-1:{ACCOUNT}:work"
    granted = decide(SESSION, "sqs:SendMessage", queue, {}, resource_policy=by_role)
    delegated = decide(SESSION, "sqs:SendMessage", queue, {}, resource_policy=by_account)

    # Then only the policy naming the role grants it; the account's grant leaves it to the role's policies
    assert granted.allowed and not delegated.allowed


def test_the_root_is_refused_only_by_an_explicit_deny_in_a_resource_policy() -> None:
    # Given a TLS-only bucket policy
    tls_only = _resource(
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [BUCKET, f"{BUCKET}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    )

    # When the root writes over TLS, and over plain HTTP
    admin = root(ACCOUNT)
    secure = decide(
        admin, "s3:PutObject", f"{BUCKET}/a", {"aws:SecureTransport": "true"}, resource_policy=tls_only
    )
    plain = decide(
        admin, "s3:PutObject", f"{BUCKET}/a", {"aws:SecureTransport": "false"}, resource_policy=tls_only
    )

    # Then only the plain request is refused
    assert secure.allowed
    assert plain.reason == "with an explicit deny in a resource-based policy"


def test_a_service_principal_needs_a_resource_policy_with_its_conditions() -> None:
    # Given a queue policy admitting SNS for one topic
    topic = f"arn:aws:sns:us-east-1:{ACCOUNT}:events"
    policy = _resource(
        {
            "Effect": "Allow",
            "Principal": {"Service": "sns.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": "*",
            "Condition": {"ArnEquals": {"aws:SourceArn": topic}},
        }
    )
    sns = service_principal("sns.amazonaws.com", ACCOUNT)
    queue = f"arn:aws:sqs:us-east-1:{ACCOUNT}:inbox"

    # When SNS delivers for that topic, another topic, and S3 tries
    ours = decide(sns, "sqs:SendMessage", queue, {"aws:SourceArn": topic}, resource_policy=policy)
    other = decide(sns, "sqs:SendMessage", queue, {"aws:SourceArn": topic + "-x"}, resource_policy=policy)
    s3 = decide(
        service_principal("s3.amazonaws.com", ACCOUNT), "sqs:SendMessage", queue, {}, resource_policy=policy
    )

    # Then only the delivery for the named topic is allowed
    assert ours.allowed and not other.allowed and not s3.allowed


def test_a_permissions_boundary_caps_what_the_identity_policy_allows() -> None:
    # Given a role allowed everything, with a boundary allowing reads only
    identity = _identity({"Effect": "Allow", "Action": "*", "Resource": "*"})
    boundary = _identity({"Effect": "Allow", "Action": ["s3:Get*", "s3:List*"], "Resource": "*"})

    # When it reads and writes
    read = decide(SESSION, "s3:GetObject", f"{BUCKET}/a", {}, identity=identity, boundary=boundary)
    write = decide(SESSION, "s3:PutObject", f"{BUCKET}/a", {}, identity=identity, boundary=boundary)

    # Then the boundary refuses the write
    assert read.allowed
    assert write.reason == "because no permissions boundary allows the s3:PutObject action"


def test_a_key_or_a_role_is_used_only_when_its_own_policy_allows_it_too() -> None:
    # Given a role allowed kms:Decrypt by its identity policy, and two key policies: one delegating to the
    # account's IAM policies, one admitting only another role
    identity = _identity({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"})
    delegating = _resource(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    )
    other = _resource(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/Other"},
            "Action": "kms:*",
            "Resource": "*",
        }
    )
    key = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/k-1"

    # When the role decrypts under each
    through_iam = decide(
        SESSION, "kms:Decrypt", key, {}, identity=identity, resource_policy=delegating, resource_required=True
    )
    not_admitted = decide(
        SESSION, "kms:Decrypt", key, {}, identity=identity, resource_policy=other, resource_required=True
    )

    # Then only the key policy that admits the account lets its IAM policy decide
    assert through_iam.allowed
    assert not_admitted.reason == "because no resource-based policy allows the kms:Decrypt action"


def test_aws_star_in_a_resource_policy_admits_services_too() -> None:
    # Given an older-style queue policy: Principal {"AWS": "*"} limited by the topic's ARN
    topic = f"arn:aws:sns:us-east-1:{ACCOUNT}:events"
    policy = _resource(
        {
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": "sqs:SendMessage",
            "Resource": "*",
            "Condition": {"ArnEquals": {"aws:SourceArn": topic}},
        }
    )

    # When SNS delivers for that topic, Then it is allowed, as on AWS
    sns = service_principal("sns.amazonaws.com", ACCOUNT)
    assert decide(
        sns, "sqs:SendMessage", "arn:aws:sqs:us-east-1:1:q", {"aws:SourceArn": topic}, resource_policy=policy
    ).allowed


@pytest.mark.parametrize(
    ("condition", "context", "holds"),
    [
        ({"StringLike": {"s3:prefix": ["home/*"]}}, {"s3:prefix": "home/ada"}, True),
        ({"StringLike": {"s3:prefix": ["home/*"]}}, {}, False),
        ({"StringNotEquals": {"aws:PrincipalAccount": "999"}}, {}, True),
        ({"StringEqualsIfExists": {"s3:x-amz-acl": "private"}}, {}, True),
        ({"StringEqualsIgnoreCase": {"aws:username": "ADA"}}, {"AWS:UserName": "ada"}, True),
        ({"Null": {"s3:VersionId": "true"}}, {}, True),
        ({"Null": {"s3:VersionId": "false"}}, {}, False),
        ({"NumericLessThanEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": "7"}, True),
        ({"NumericNotEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": "10"}, False),
        (
            {"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}},
            {"aws:CurrentTime": "2026-11-30T00:00:00Z"},
            True,
        ),
        ({"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}, {"aws:SourceIp": "127.0.0.1"}, True),
        ({"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"aws:SourceIp": "127.0.0.1"}, True),
        ({"ForAnyValue:StringEquals": {"aws:TagKeys": ["a", "b"]}}, {"aws:TagKeys": ["c", "b"]}, True),
        ({"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}, {"aws:TagKeys": ["a", "c"]}, False),
        ({"ForAllValues:StringEquals": {"aws:TagKeys": ["a"]}}, {}, True),
        ({"ArnLike": {"aws:SourceArn": "arn:aws:s3:::in-*"}}, {"aws:SourceArn": "arn:aws:s3:::in-box"}, True),
        ({"ForAllValues:StringNotEquals": {"aws:TagKeys": ["a"]}}, {"aws:TagKeys": ["a", "b"]}, False),
        ({"ForAnyValue:StringNotEquals": {"aws:TagKeys": ["a"]}}, {"aws:TagKeys": ["a", "b"]}, True),
        ({"ForAnyValue:StringEquals": {"aws:TagKeys": ["a"]}}, {}, False),
        ({"NumericNotEquals": {"s3:max-keys": "10"}}, {}, True),
    ],
)
def test_condition_operators_behave_as_iam_documents(
    condition: dict[str, dict[str, Any]], context: dict[str, Any], holds: bool
) -> None:
    # Given a condition and a request context, When evaluated, Then it holds exactly as IAM says
    assert condition_holds(condition, context) is holds
