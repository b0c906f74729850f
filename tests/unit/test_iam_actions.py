"""What each request asks IAM for (embedded_aws.actions): actions, resources and condition keys."""

from __future__ import annotations

from typing import Any

from embedded_aws.actions import Call, Check, checks

ACCOUNT, REGION = "123456789012", "us-east-1"


def _call(service: str, operation: str = "", **fields: Any) -> Call:
    return Call(service=service, operation=operation, region=REGION, account=ACCOUNT, **fields)


def test_s3_object_reads_name_the_version_action_when_a_version_is_asked() -> None:
    # Given a HEAD of an object's version, and a GET of the latest
    head = _call("s3", method="HEAD", path="/docs/a%20b.txt", query={"versionId": "v1"})
    get = _call("s3", method="GET", path="/docs/a%20b.txt")

    # When their checks are named, Then they are s3:GetObjectVersion and s3:GetObject on the object
    assert checks(head) == [Check("s3:GetObjectVersion", "arn:aws:s3:::docs/a b.txt", {"s3:VersionId": "v1"})]
    assert checks(get) == [Check("s3:GetObject", "arn:aws:s3:::docs/a b.txt", {})]


def test_a_copy_needs_put_on_the_target_and_get_on_the_source() -> None:
    # Given a CopyObject of a source version
    copy = _call(
        "s3",
        method="PUT",
        path="/public/b.json",
        headers={"x-amz-copy-source": "/ingest/a.json?versionId=v9"},
    )

    # When named, Then both objects are checked
    assert [(c.action, c.resource) for c in checks(copy)] == [
        ("s3:PutObject", "arn:aws:s3:::public/b.json"),
        ("s3:GetObjectVersion", "arn:aws:s3:::ingest/a.json"),
    ]


def test_bucket_requests_name_bucket_actions_with_listing_keys() -> None:
    # Given a listing with a prefix, a notification read and a policy write
    listing = _call("s3", method="GET", path="/docs", query={"list-type": "2", "prefix": "home/"})
    notification = _call("s3", method="GET", path="/docs/", query={"notification": ""})
    policy = _call("s3", method="PUT", path="/docs", query={"policy": ""})

    # When named, Then they are the bucket's actions, the listing with its s3:prefix key
    assert checks(listing) == [Check("s3:ListBucket", "arn:aws:s3:::docs", {"s3:prefix": "home/"})]
    assert checks(notification)[0].action == "s3:GetBucketNotification"
    assert checks(policy)[0].action == "s3:PutBucketPolicy"


def test_a_dynamodb_transaction_checks_each_items_own_action_and_table() -> None:
    # Given a transaction that puts in one table and checks a condition in another
    call = _call(
        "dynamodb",
        "TransactWriteItems",
        params={
            "TransactItems": [{"Put": {"TableName": "items"}}, {"ConditionCheck": {"TableName": "locks"}}]
        },
    )

    # When named, Then each item is its own check
    table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table"
    assert [(c.action, c.resource) for c in checks(call)] == [
        ("dynamodb:PutItem", f"{table}/items"),
        ("dynamodb:ConditionCheckItem", f"{table}/locks"),
    ]
    query = _call("dynamodb", "Query", params={"TableName": "items", "IndexName": "by-owner"})
    assert checks(query) == [Check("dynamodb:Query", f"{table}/items/index/by-owner")]


def test_queue_topic_function_and_bus_requests_name_their_arns() -> None:
    # Given a batch send by URL, an unsubscribe, a qualified invoke and events for two buses
    send = _call("sqs", "SendMessageBatch", params={"QueueUrl": f"http://127.0.0.1:4566/{ACCOUNT}/work"})
    unsubscribe = _call(
        "sns", "Unsubscribe", params={"SubscriptionArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:t:abc"}
    )
    invoke = _call(
        "lambda", method="POST", path="/2015-03-31/functions/thumbs/invocations", query={"Qualifier": "live"}
    )
    events = _call("events", "PutEvents", params={"Entries": [{"Source": "app"}, {"EventBusName": "orders"}]})

    # When named, Then each resource is the ARN IAM knows it by
    assert checks(send) == [Check("sqs:SendMessage", f"arn:aws:sqs:{REGION}:{ACCOUNT}:work")]
    assert checks(unsubscribe)[0].resource == f"arn:aws:sns:{REGION}:{ACCOUNT}:t"
    assert checks(invoke) == [
        Check("lambda:InvokeFunction", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:thumbs:live")
    ]
    assert [c.resource for c in checks(events)] == [
        f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default",
        f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/orders",
    ]


def test_get_caller_identity_needs_no_permission_and_unknown_services_are_named_by_prefix() -> None:
    # Given STS's GetCallerIdentity, and CloudWatch by its signing name
    # When named, Then the first needs nothing and the second is cloudwatch:<operation>
    assert checks(_call("sts", "GetCallerIdentity")) == []
    metric = checks(_call("monitoring", "PutMetricData", params={"Namespace": "Pipeline"}))
    assert metric == [Check("cloudwatch:PutMetricData", None, {"cloudwatch:namespace": "Pipeline"})]
