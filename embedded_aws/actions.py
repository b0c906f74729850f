"""What a request asks IAM for: its actions, the resources they act on and the request's condition keys.

Pure: the server reads the request into a `Call`; `checks(call)` names what must be allowed, as the
Service Authorization Reference does for each API (S3's `HeadObject` is `s3:GetObject`, or
`s3:GetObjectVersion` with a version id; `CopyObject` needs `s3:PutObject` on the target and
`s3:GetObject` on the source; `SendMessageBatch` is `sqs:SendMessage`; a DynamoDB transaction checks each
item's own action). A resource the embedded AWS cannot name is None, and any `Resource` then matches: the
evaluation never refuses for want of a name it could not work out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlparse

#: SigV4 signing names whose IAM service prefix differs.
_PREFIX = {"monitoring": "cloudwatch", "email": "ses", "execute-api": "execute-api", "eventbridge": "events"}


@dataclass(frozen=True)
class Call:
    """One API request, as far as authorization needs it."""

    service: str  # the SigV4 signing name: "s3", "dynamodb", "states"...
    operation: str  # the API operation: "PutItem" ("" when unknown)
    region: str
    account: str
    method: str = "POST"
    path: str = "/"
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    params: Mapping[str, Any] = field(default_factory=dict)  # the parsed JSON or form body


@dataclass(frozen=True)
class Check:
    """One action on one resource that must be allowed, with the request's service-specific keys."""

    action: str
    resource: str | None
    context: Mapping[str, Any] = field(default_factory=dict)


def checks(call: Call) -> list[Check]:
    """Every action the call needs allowed, by service."""
    handler = _SERVICES.get(call.service)
    if handler is not None:
        return handler(call)
    prefix = _PREFIX.get(call.service, call.service)
    return [Check(f"{prefix}:{call.operation or '*'}", None)]


# --- S3 ------------------------------------------------------------------------------------------------
_BUCKET_GET = {
    "policy": "GetBucketPolicy",
    "notification": "GetBucketNotification",
    "versioning": "GetBucketVersioning",
    "acl": "GetBucketAcl",
    "tagging": "GetBucketTagging",
    "location": "GetBucketLocation",
    "cors": "GetBucketCORS",
    "lifecycle": "GetLifecycleConfiguration",
    "website": "GetBucketWebsite",
    "encryption": "GetEncryptionConfiguration",
    "replication": "GetReplicationConfiguration",
    "versions": "ListBucketVersions",
    "uploads": "ListBucketMultipartUploads",
    "ownershipControls": "GetBucketOwnershipControls",
    "publicAccessBlock": "GetBucketPublicAccessBlock",
    "logging": "GetBucketLogging",
    "object-lock": "GetBucketObjectLockConfiguration",
    "accelerate": "GetAccelerateConfiguration",
    "requestPayment": "GetBucketRequestPayment",
    "policyStatus": "GetBucketPolicyStatus",
    "inventory": "GetInventoryConfiguration",
    "metrics": "GetMetricsConfiguration",
    "analytics": "GetAnalyticsConfiguration",
    "intelligent-tiering": "GetIntelligentTieringConfiguration",
}
_BUCKET_PUT = {
    "policy": "PutBucketPolicy",
    "notification": "PutBucketNotification",
    "versioning": "PutBucketVersioning",
    "acl": "PutBucketAcl",
    "tagging": "PutBucketTagging",
    "cors": "PutBucketCORS",
    "lifecycle": "PutLifecycleConfiguration",
    "website": "PutBucketWebsite",
    "encryption": "PutEncryptionConfiguration",
    "replication": "PutReplicationConfiguration",
    "ownershipControls": "PutBucketOwnershipControls",
    "publicAccessBlock": "PutBucketPublicAccessBlock",
    "logging": "PutBucketLogging",
    "object-lock": "PutBucketObjectLockConfiguration",
    "accelerate": "PutAccelerateConfiguration",
    "requestPayment": "PutBucketRequestPayment",
    "inventory": "PutInventoryConfiguration",
    "metrics": "PutMetricsConfiguration",
    "analytics": "PutAnalyticsConfiguration",
    "intelligent-tiering": "PutIntelligentTieringConfiguration",
}
_BUCKET_DELETE = {
    "policy": "DeleteBucketPolicy",
    "tagging": "PutBucketTagging",
    "cors": "PutBucketCORS",
    "lifecycle": "PutLifecycleConfiguration",
    "website": "DeleteBucketWebsite",
    "encryption": "PutEncryptionConfiguration",
    "replication": "PutReplicationConfiguration",
    "ownershipControls": "PutBucketOwnershipControls",
    "publicAccessBlock": "PutBucketPublicAccessBlock",
}
_OBJECT_SUB = {
    ("GET", "tagging"): "GetObjectTagging",
    ("PUT", "tagging"): "PutObjectTagging",
    ("DELETE", "tagging"): "DeleteObjectTagging",
    ("GET", "acl"): "GetObjectAcl",
    ("PUT", "acl"): "PutObjectAcl",
    ("GET", "retention"): "GetObjectRetention",
    ("PUT", "retention"): "PutObjectRetention",
    ("GET", "legal-hold"): "GetObjectLegalHold",
    ("PUT", "legal-hold"): "PutObjectLegalHold",
    ("POST", "restore"): "RestoreObject",
    ("GET", "attributes"): "GetObjectAttributes",
}
#: Object actions that have a `…Version` form used when the request names a version.
_VERSIONED = {
    "GetObject",
    "DeleteObject",
    "GetObjectTagging",
    "PutObjectTagging",
    "DeleteObjectTagging",
    "GetObjectAcl",
    "PutObjectAcl",
    "GetObjectAttributes",
}


def _s3_path(call: Call) -> tuple[str, str]:
    """(bucket, key) of a path-style or virtual-hosted request."""
    host = call.headers.get("host", "").split(":", 1)[0]
    path = unquote(call.path)
    if ".s3." in host or host.endswith(".s3.amazonaws.com"):
        return host.split(".s3.", 1)[0], path.lstrip("/")
    bucket, _, key = path.lstrip("/").partition("/")
    return bucket, key


def _s3(call: Call) -> list[Check]:
    bucket, key = _s3_path(call)
    method = call.method.upper()
    query = call.query
    if not bucket:
        return [Check("s3:ListAllMyBuckets", None)]
    bucket_arn = f"arn:aws:s3:::{bucket}"
    version = query.get("versionId")
    context: dict[str, Any] = {}
    if version:
        context["s3:VersionId"] = version
    for header in ("x-amz-acl", "x-amz-server-side-encryption", "x-amz-storage-class"):
        if header in call.headers:
            context[f"s3:{header}"] = call.headers[header]
    if not key:
        sub = next((s for s in query if s in _BUCKET_GET or s in _BUCKET_PUT or s == "delete"), "")
        if method in ("GET", "HEAD"):
            if sub:
                return [Check(f"s3:{_BUCKET_GET.get(sub, 'ListBucket')}", bucket_arn, context)]
            listing = {f"s3:{k}": query[k] for k in ("prefix", "delimiter", "max-keys") if k in query}
            return [Check("s3:ListBucket", bucket_arn, {**context, **listing})]
        if method == "PUT":
            return [Check(f"s3:{_BUCKET_PUT.get(sub, 'CreateBucket')}", bucket_arn, context)]
        if method == "DELETE":
            return [Check(f"s3:{_BUCKET_DELETE.get(sub, 'DeleteBucket')}", bucket_arn, context)]
        if method == "POST" and "delete" in query:
            keys = call.params.get("keys") or []
            return [Check("s3:DeleteObject", f"{bucket_arn}/{k}", context) for k in keys] or [
                Check("s3:DeleteObject", f"{bucket_arn}/*", context)
            ]
        if method == "POST":  # a browser-form (presigned POST) upload: its key is in the form
            return [Check("s3:PutObject", None, context)]
        return [Check("s3:*", bucket_arn, context)]
    object_arn = f"{bucket_arn}/{key}"
    sub = next((s for s in query if (method, s) in _OBJECT_SUB), "")
    if sub:
        action = _OBJECT_SUB[(method, sub)]
    elif "uploadId" in query:
        action = {"GET": "ListMultipartUploadParts", "DELETE": "AbortMultipartUpload"}.get(
            method, "PutObject"
        )
    elif method in ("GET", "HEAD"):
        action = "GetObject"
    elif method == "DELETE":
        action = "DeleteObject"
    elif method in ("PUT", "POST"):
        action = "PutObject"
    else:
        action = "*"
    if version and action in _VERSIONED:
        action = action.replace("Object", "ObjectVersion", 1)
    found = [Check(f"s3:{action}", object_arn, context)]
    source = call.headers.get("x-amz-copy-source")
    if source and method == "PUT":
        parsed = urlparse(unquote(source))
        source_path = parsed.path.lstrip("/")
        source_version = dict(p.split("=", 1) for p in parsed.query.split("&") if "=" in p).get("versionId")
        source_action = "s3:GetObjectVersion" if source_version else "s3:GetObject"
        found.append(Check(source_action, f"arn:aws:s3:::{source_path}"))
    return found


# --- DynamoDB ------------------------------------------------------------------------------------------
def _table_arn(call: Call, table: str) -> str:
    if table.startswith("arn:"):
        return table
    return f"arn:aws:dynamodb:{call.region}:{call.account}:table/{table}"


_TRANSACT = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


def _dynamodb(call: Call) -> list[Check]:
    op, params = call.operation, call.params
    if op in ("BatchGetItem", "BatchWriteItem"):
        return [Check(f"dynamodb:{op}", _table_arn(call, t)) for t in params.get("RequestItems", {})]
    if op == "TransactWriteItems":
        found = []
        for item in params.get("TransactItems", []):
            for kind, body in item.items():
                found.append(
                    Check(
                        f"dynamodb:{_TRANSACT.get(kind, kind)}", _table_arn(call, body.get("TableName", ""))
                    )
                )
        return found
    if op == "TransactGetItems":
        return [
            Check("dynamodb:GetItem", _table_arn(call, body.get("TableName", "")))
            for item in params.get("TransactItems", [])
            for body in item.values()
        ]
    table = params.get("TableName") or params.get("ResourceArn") or params.get("StreamArn")
    if not table:
        return [Check(f"dynamodb:{op or '*'}", None)]
    arn = _table_arn(call, str(table))
    index = params.get("IndexName")
    if index and op in ("Query", "Scan"):
        arn = f"{arn}/index/{index}"
    return [Check(f"dynamodb:{op}", arn)]


# --- SQS -----------------------------------------------------------------------------------------------
_SQS_BATCH = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}


def queue_arn(url: str, region: str) -> str:
    """A queue's ARN from its URL (`http://host/123456789012/name`)."""
    parts = urlparse(url).path.strip("/").split("/")
    account, name = (parts[-2], parts[-1]) if len(parts) >= 2 else ("", parts[-1])
    return f"arn:aws:sqs:{region}:{account}:{name}"


def _sqs(call: Call) -> list[Check]:
    op = _SQS_BATCH.get(call.operation, call.operation)
    params = call.params
    url = params.get("QueueUrl")
    if url:
        return [Check(f"sqs:{op}", queue_arn(str(url), call.region))]
    name = params.get("QueueName")
    if name:
        owner = params.get("QueueOwnerAWSAccountId") or call.account
        return [Check(f"sqs:{op}", f"arn:aws:sqs:{call.region}:{owner}:{name}")]
    source = params.get("SourceArn")
    if source:
        return [Check(f"sqs:{op}", str(source))]
    return [Check(f"sqs:{op or '*'}", None)]


# --- SNS -----------------------------------------------------------------------------------------------
def _sns(call: Call) -> list[Check]:
    op = "Publish" if call.operation == "PublishBatch" else call.operation
    params = call.params
    arn = params.get("TopicArn") or params.get("TargetArn") or params.get("ResourceArn")
    if not arn and params.get("SubscriptionArn"):
        arn = str(params["SubscriptionArn"]).rsplit(":", 1)[0]
    if not arn and params.get("Name") and op == "CreateTopic":
        arn = f"arn:aws:sns:{call.region}:{call.account}:{params['Name']}"
    context: dict[str, Any] = {}
    if op == "Subscribe":
        context = {"sns:Protocol": params.get("Protocol", ""), "sns:Endpoint": params.get("Endpoint", "")}
    return [Check(f"sns:{op or '*'}", str(arn) if arn else None, context)]


# --- Lambda --------------------------------------------------------------------------------------------
_LAMBDA_PATHS = [
    (re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$"), {"POST": "InvokeFunction"}),
    (re.compile(r"^/2014-11-13/functions/(?P<name>[^/]+)/invoke-async/?$"), {"POST": "InvokeAsync"}),
    (
        re.compile(r"^/2021-11-15/functions/(?P<name>[^/]+)/response-streaming-invocations$"),
        {"POST": "InvokeFunction"},
    ),
    (
        re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/configuration$"),
        {"GET": "GetFunctionConfiguration", "PUT": "UpdateFunctionConfiguration"},
    ),
    (re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/code$"), {"PUT": "UpdateFunctionCode"}),
    (
        re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/policy/?"),
        {"GET": "GetPolicy", "POST": "AddPermission", "DELETE": "RemovePermission"},
    ),
    (
        re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/?$"),
        {"GET": "GetFunction", "DELETE": "DeleteFunction"},
    ),
]


def function_arn(name: str, region: str, account: str, qualifier: str | None = None) -> str:
    """A function's ARN from a name (`name`, `name:alias`), a partial ARN (`123456789012:function:name`) or
    an ARN, qualified when `qualifier` is given."""
    if name.startswith("arn:"):
        arn = name
    elif ":function:" in name:
        owner, _, rest = name.partition(":function:")
        arn = f"arn:aws:lambda:{region}:{owner}:function:{rest}"
    else:
        arn = f"arn:aws:lambda:{region}:{account}:function:{name}"
    if qualifier and arn.count(":") == 6:
        arn = f"{arn}:{qualifier}"
    return arn


def _lambda(call: Call) -> list[Check]:
    path = unquote(call.path)
    for pattern, actions in _LAMBDA_PATHS:
        match = pattern.match(path)
        if match and call.method.upper() in actions:
            arn = function_arn(match["name"], call.region, call.account, call.query.get("Qualifier"))
            return [Check(f"lambda:{actions[call.method.upper()]}", arn)]
    return [Check(f"lambda:{call.operation or '*'}", None)]


# --- Step Functions, EventBridge, CloudWatch -----------------------------------------------------------
def _states(call: Call) -> list[Check]:
    params = call.params
    arn = params.get("stateMachineArn") or params.get("executionArn") or params.get("mapRunArn")
    arn = arn or params.get("resourceArn") or params.get("activityArn")
    return [Check(f"states:{call.operation or '*'}", str(arn) if arn else None)]


def _events(call: Call) -> list[Check]:
    if call.operation == "PutEvents":
        found = []
        for entry in call.params.get("Entries", []):
            bus = str(entry.get("EventBusName") or "default")
            arn = (
                bus
                if bus.startswith("arn:")
                else f"arn:aws:events:{call.region}:{call.account}:event-bus/{bus}"
            )
            context = {
                "events:source": entry.get("Source", ""),
                "events:detail-type": entry.get("DetailType", ""),
            }
            found.append(Check("events:PutEvents", arn, context))
        return found or [Check("events:PutEvents", None)]
    return [Check(f"events:{call.operation or '*'}", None)]


def _cloudwatch(call: Call) -> list[Check]:
    context = {"cloudwatch:namespace": call.params["Namespace"]} if "Namespace" in call.params else {}
    return [Check(f"cloudwatch:{call.operation or '*'}", None, context)]


def _sts(call: Call) -> list[Check]:
    if call.operation == "GetCallerIdentity":
        return []  # no permission is needed, even an explicit deny cannot refuse it
    if call.operation.startswith("AssumeRole") and call.params.get("RoleArn"):
        return [Check("sts:AssumeRole", str(call.params["RoleArn"]))]
    return [Check(f"sts:{call.operation or '*'}", None)]


def _ssm(call: Call) -> list[Check]:
    names = call.params.get("Names") or ([call.params["Name"]] if "Name" in call.params else [])
    if not names:
        return [Check(f"ssm:{call.operation or '*'}", None)]
    action = "GetParameters" if call.operation == "GetParameters" else call.operation
    return [
        Check(f"ssm:{action}", f"arn:aws:ssm:{call.region}:{call.account}:parameter/{str(n).lstrip('/')}")
        for n in names
    ]


_SERVICES = {
    "s3": _s3,
    "dynamodb": _dynamodb,
    "sqs": _sqs,
    "sns": _sns,
    "lambda": _lambda,
    "states": _states,
    "events": _events,
    "monitoring": _cloudwatch,
    "sts": _sts,
    "ssm": _ssm,
}
