"""The seams where moto would start Docker or deliver differently from AWS, routed to the embedded AWS.

- Lambda `Invoke` (API calls and Step Functions' Lambda tasks) → the local runtime; a handler exception
  becomes `X-Amz-Function-Error: Unhandled` with `errorType` = the exception's class name.
- SNS → Lambda and S3 → Lambda deliveries → asynchronous invocations of the local runtime, with an SNS event
  as AWS builds it (moto's own has placeholder values).
- SNS email / email-json / sms deliveries (and direct SMS publishes) → the outbox.
- moto's synchronous SQS → Lambda delivery inside `SendMessage` → off: our pollers own SQS mappings.
- IAM (`iam.py`): SNS delivers to a queue or function only when its resource policy admits SNS for the
  topic; S3 takes a notification configuration only when each destination admits S3 for the bucket.
- S3 bucket policies → statements whose Condition does not hold for the request are left out before moto
  evaluates them (moto treats an unmet condition as a deny). Requests to the embedded AWS stand for HTTPS
  requests to AWS, so `aws:SecureTransport` is "true" and a TLS-only policy lets them through.
- DynamoDB writes and S3 conditional writes → atomic, as on AWS: moto's threaded server can interleave a
  transaction's copy of a table with another request's write, and an If-Match check with another PUT.
- DynamoDB `TransactWriteItems` → rolled back item by item: moto deep-copies every table a transaction names,
  on every call, so each transaction cost time in proportion to the whole table (a quarter of the server's CPU
  with a few hundred items). Only the items the transaction names are saved now, with the length of the
  table's stream, and put back if the transaction is cancelled.
- S3 event notifications → as S3 writes them: keys keep `/` (moto encodes it as `%2F`), and each record
  carries the object's `versionId`, an increasing `sequencer` and the uploader's `userIdentity.principalId`
  (`AWS:AROA…:<session>` for a role session; moto gives none of them).
"""

from __future__ import annotations

import base64
import copy
import json
import threading
import time
import uuid
from typing import Any, Protocol
from urllib.parse import quote_plus

from moto.awslambda.models import LambdaFunction
from moto.iam.access_control import IAMPolicy, PermissionResult
from moto.s3 import notifications as s3_notifications
from moto.s3.models import FakeBucket
from moto.sns.models import SNSBackend, Subscription
from moto.sqs.models import Queue

from embedded_aws import faults, iam, lambda_api
from embedded_aws.errors import EmbeddedAwsError, ThrottledError
from embedded_aws.formats import iso_millis
from embedded_aws.policy import condition_holds
from embedded_aws.runtime import TAIL_BYTES, invoked_by, last_invocation


class Router(Protocol):
    """What the patched seams call: the running embedded AWS."""

    def invoke_sync(self, function_arn: str, event: Any) -> tuple[str, dict[str, Any] | None]: ...

    def invoke_async(self, function_arn: str, event: Any, source: str) -> None: ...

    def deliver(self, entry: dict[str, Any]) -> None: ...


_router: Router | None = None
_originals: dict[str, Any] = {}


def _current() -> Router:
    if _router is None:
        raise RuntimeError("The embedded AWS is not running: start it with `pipeline up`.")
    return _router


def _invoke(self: LambdaFunction, body: str, request_headers: Any, response_headers: Any) -> str | bytes:
    invocation_type = (request_headers or {}).get("x-amz-invocation-type", "RequestResponse")
    lambda_api.check_request_size(body or "", invocation_type)
    event = lambda_api.parse_event(body)
    if invocation_type == "Event":
        _current().invoke_async(self.function_arn, event, "invoke")
        return ""
    if invocation_type == "DryRun":
        return ""
    try:
        with invoked_by(request_headers):  # a handler's call does not wait for the worker budget
            payload, error = _current().invoke_sync(self.function_arn, event)
    except ThrottledError as exc:
        raise lambda_api.TooManyRequestsError(
            "Rate Exceeded.", "ReservedFunctionConcurrentInvocationLimitExceeded"
        ) from exc
    except EmbeddedAwsError as exc:
        raise lambda_api.ServiceError(exc.message) from exc
    if error is not None:
        response_headers["x-amz-function-error"] = "Unhandled"
    result = last_invocation()  # this thread's: the one just made
    if result is not None:
        response_headers["x-amzn-requestid"] = result.request_id  # as on Lambda: the invocation's id
    if invocation_type == "RequestResponse":
        wants_tail = str((request_headers or {}).get("x-amz-log-type", "")).lower() == "tail"
        tail = result.log() if wants_tail and result is not None and result.log is not None else ""
        response_headers["x-amz-log-result"] = base64.b64encode(tail.encode()[-TAIL_BYTES:]).decode()
    return payload.encode("utf-8", "surrogateescape")


def _s3_invoke_lambda(account_id: str, event_body: Any, fn_arn: str, region_name: str) -> None:
    _current().invoke_async(fn_arn, event_body, "s3")


_sequencer_lock = threading.Lock()
_last_sequencer = 0


def next_sequencer() -> str:
    """An S3-style event sequencer: upper-case hex that grows with every event (compare after padding)."""
    global _last_sequencer  # noqa: PLW0603 - one counter for the process, like S3's per-key ordering
    with _sequencer_lock:
        _last_sequencer = max(_last_sequencer + 1, time.time_ns())
        return f"{_last_sequencer:018X}"


def _s3_event(event_name: str, bucket: Any, key: Any, notification_id: str) -> dict[str, Any]:
    """One S3 event notification record as S3 writes it (event structure version 2.1)."""
    obj: dict[str, Any] = {"key": quote_plus(key.name, safe="/")}
    if not event_name.startswith("s3:ObjectRemoved"):  # removals carry no size or eTag
        obj["size"] = key.size
        obj["eTag"] = key.etag.replace('"', "")
    if key.version_id and key.version_id != "null":
        obj["versionId"] = key.version_id
    obj["sequencer"] = next_sequencer()
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": bucket.region_name,
        "eventTime": iso_millis(),
        "eventName": event_name.removeprefix("s3:"),
        "userIdentity": {"principalId": iam.requester_principal_id() or "AWS:LOCAL"},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {"x-amz-request-id": uuid.uuid4().hex[:16].upper(), "x-amz-id-2": "LOCAL"},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": notification_id,
            "bucket": {"name": bucket.name, "ownerIdentity": {"principalId": "LOCAL"}, "arn": bucket.arn},
            "object": obj,
        },
    }
    return {"Records": [record]}


def _delete_object(self: Any, bucket_name: str, key_name: str, *args: Any, **kwargs: Any) -> Any:
    """S3 notifies `ObjectRemoved:DeleteMarkerCreated` when a delete on a versioned bucket adds a marker
    (moto sends nothing then)."""
    result = _originals["delete_object"](self, bucket_name, key_name, *args, **kwargs)
    deleted, meta = result
    version_id = kwargs.get("version_id", args[0] if args else None)
    if deleted and version_id is None and meta.get("delete-marker") == "true":
        bucket = self.get_bucket(bucket_name)
        marker = bucket.keys.getlist(key_name)[-1]
        s3_notifications.send_event(
            self.account_id,
            s3_notifications.S3NotificationEvent.OBJECT_REMOVED_DELETE_MARKER_CREATED_EVENT,
            bucket,
            marker,
        )
    return result


def sns_lambda_event(
    subscription_arn: str,
    topic_arn: str,
    message: str,
    message_id: str,
    subject: str | None,
    message_attributes: dict[str, Any] | None,
) -> dict[str, Any]:
    """The event SNS sends a subscribed Lambda function."""
    return {
        "Records": [
            {
                "EventVersion": "1.0",
                "EventSubscriptionArn": subscription_arn,
                "EventSource": "aws:sns",
                "Sns": {
                    "SignatureVersion": "1",
                    "Timestamp": iso_millis(),
                    "Signature": "LOCAL",
                    "SigningCertUrl": "",
                    "MessageId": message_id,
                    "Message": message,
                    "MessageAttributes": {
                        k: {"Type": v["Type"], "Value": v["Value"]}
                        for k, v in (message_attributes or {}).items()
                    },
                    "Type": "Notification",
                    "UnsubscribeUrl": "",
                    "TopicArn": topic_arn,
                    "Subject": subject,
                },
            }
        ]
    }


_OUTBOX_PROTOCOLS = ("email", "email-json", "sms")


def _subscription_publish(self: Subscription, message: str, message_id: str, **kwargs: Any) -> None:
    """Deliver to one subscription; fault injection may deliver twice (SNS delivers at least once)."""
    _deliver_to_subscription(self, message, message_id, **kwargs)
    injecting = faults.current()
    if injecting is None or self.topic.fifo_topic:  # FIFO topics deliver exactly once
        return
    matcher = self._filter_policy_matcher
    if matcher is not None and not matcher.matches(kwargs.get("message_attributes"), message):
        return  # nothing was delivered
    if injecting.duplicate(f"sns:{self.arn}"):
        _deliver_to_subscription(self, message, message_id, **kwargs)


def _deliver_to_subscription(
    self: Subscription,
    message: str,
    message_id: str,
    subject: str | None = None,
    message_attributes: dict[str, Any] | None = None,
    group_id: str | None = None,
    deduplication_id: str | None = None,
    message_structure: str | None = None,
) -> None:
    if self.protocol == "sqs" and not iam.delivery_allowed(
        "sns.amazonaws.com", "sqs:SendMessage", self.endpoint, self.topic.arn
    ):
        return  # AWS drops it too (the topic's NumberOfNotificationsFailed)
    if self.protocol not in (*_OUTBOX_PROTOCOLS, "lambda"):
        _originals["subscription_publish"](
            self,
            message,
            message_id,
            subject=subject,
            message_attributes=message_attributes,
            group_id=group_id,
            deduplication_id=deduplication_id,
            message_structure=message_structure,
        )
        return
    matcher = self._filter_policy_matcher
    if matcher is not None and not matcher.matches(message_attributes, message):
        return
    if message_structure == "json":
        message = self._parse_message_structure(message, self.protocol)
    if self.protocol == "lambda":
        if not iam.delivery_allowed(
            "sns.amazonaws.com", "lambda:InvokeFunction", self.endpoint, self.topic.arn
        ):
            return
        event = sns_lambda_event(self.arn, self.topic.arn, message, message_id, subject, message_attributes)
        _current().invoke_async(self.endpoint, event, f"sns:{self.topic.arn}")
        return
    body = message
    if self.protocol == "email-json":
        body = json.dumps(self.get_post_data(message, message_id, subject, message_attributes))
    _current().deliver(
        {
            "time": iso_millis(),
            "protocol": self.protocol,
            "endpoint": self.endpoint,
            "topic_arn": self.topic.arn,
            "subscription_arn": self.arn,
            "message_id": message_id,
            "subject": subject if self.protocol != "sms" else None,
            "message": body,
            "attributes": {k: v.get("Value") for k, v in (message_attributes or {}).items()},
        }
    )


def _backend_publish(self: SNSBackend, message: str, arn: str | None, *args: Any, **kwargs: Any) -> str:
    message_id: str = _originals["backend_publish"](self, message, arn, *args, **kwargs)
    phone_number = kwargs.get("phone_number") or (args[0] if args else None)
    if phone_number:
        _current().deliver(
            {
                "time": iso_millis(),
                "protocol": "sms",
                "endpoint": phone_number,
                "topic_arn": None,
                "subscription_arn": None,
                "message_id": message_id,
                "subject": None,
                "message": message,
                "attributes": {},
            }
        )
    return message_id


#: Request context keys the embedded AWS can vouch for when it evaluates policy conditions.
REQUEST_CONTEXT = {"aws:SecureTransport": "true"}


def _bucket_permission(self: FakeBucket, action: str, resource: str) -> Any:
    if self.policy is None:
        return PermissionResult.NEUTRAL
    document = json.loads(self.policy)
    statements = document["Statement"] if isinstance(document["Statement"], list) else [document["Statement"]]
    applicable = [
        {k: v for k, v in statement.items() if k != "Condition"}
        for statement in statements
        if condition_holds(statement.get("Condition", {}), REQUEST_CONTEXT)
    ]
    if not applicable:
        return PermissionResult.NEUTRAL
    return IAMPolicy(json.dumps({**document, "Statement": applicable})).is_action_permitted(action, resource)


def _set_notification_configuration(self: FakeBucket, configuration: dict[str, Any] | None) -> None:
    iam.check_notification_destinations(self, configuration or {})
    _originals["set_notification_configuration"](self, configuration)


def _no_sync_mappings(self: Queue) -> dict[str, Any]:
    # A fresh dict each time: moto's writes go nowhere and its SendMessage loop finds no mapping.
    return {}


def _ignore(self: Queue, value: Any) -> None:
    return None


_dynamodb_lock = threading.RLock()
_s3_object_lock = threading.RLock()


def serialised(method: Any, lock: Any) -> Any:
    """`method`, run holding `lock` (where moto's models are not thread-safe and need to be)."""

    def run(*args: Any, **kwargs: Any) -> Any:
        with lock:
            return method(*args, **kwargs)

    run.__wrapped__ = method  # type: ignore[attr-defined]
    return run


class _TablesUncopied:
    """Stands in for the `copy` module inside `moto.dynamodb.models`: copying a whole `Table` (moto's
    backup before a transaction) returns the table itself, as `_transact_write_items` keeps its own
    item-level backup; everything else is copied as before."""

    @staticmethod
    def deepcopy(value: Any, memo: Any = None) -> Any:
        from moto.dynamodb.models.table import Table

        return value if isinstance(value, Table) else copy.deepcopy(value, memo)


_Backup = list[tuple[Any, Any, Any, Any]]


def _transaction_backup(backend: Any, transact_items: list[dict[str, Any]]) -> _Backup:
    """(table, hash key, range key, a copy of the item or None) for each item a transaction names, and the
    table's stream length as (table, None, None, length). Items whose key cannot be read are left out: moto
    refuses those before writing them."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    backup: _Backup = []
    streams: set[int] = set()
    for entry in transact_items:
        for op in entry.values():
            table = backend.tables.get(op.get("TableName")) if isinstance(op, dict) else None
            if table is None:
                continue
            key = op.get("Key") or op.get("Item")
            if not isinstance(key, dict) or table.hash_key_attr not in key:
                continue
            range_attr = table.range_key_attr
            if range_attr is not None and range_attr not in key:
                continue
            hash_value = DynamoType(key[table.hash_key_attr])
            range_value = DynamoType(key[range_attr]) if range_attr is not None else None
            current = table.get_item(hash_value, range_value)
            backup.append((table, hash_value, range_value, copy.deepcopy(current)))
            if table.stream_shard is not None and id(table) not in streams:
                streams.add(id(table))
                backup.append((table, None, None, len(table.stream_shard.items)))
    return backup


def _restore(backup: _Backup) -> None:
    for table, hash_value, range_value, saved in reversed(backup):
        if hash_value is None:
            del table.stream_shard.items[saved:]
        elif range_value is None:
            table.items.pop(hash_value, None)
            if saved is not None:
                table.items[hash_value] = saved
        else:
            table.items[hash_value].pop(range_value, None)
            if saved is not None:
                table.items[hash_value][range_value] = saved
            elif not table.items[hash_value]:
                del table.items[hash_value]


def _transact_write_items(original: Any) -> Any:
    def run(self: Any, transact_items: list[dict[str, Any]]) -> Any:
        backup = _transaction_backup(self, transact_items)
        try:
            return original(self, transact_items)
        except Exception:
            _restore(backup)
            raise

    return run


def install_atomic_writes() -> None:
    """Make moto's DynamoDB writes and S3 conditional PUTs atomic under concurrency. Idempotent."""
    if "atomic" in _originals:
        return
    from moto.dynamodb import models as dynamodb_models
    from moto.dynamodb.models import DynamoDBBackend
    from moto.s3.responses import S3Response

    _originals["atomic"] = True
    dynamodb_models.copy = _TablesUncopied
    DynamoDBBackend.transact_write_items = _transact_write_items(DynamoDBBackend.transact_write_items)
    # Reads too: a transaction deep-copies whole tables, which must not see another request mid-way.
    for name in (
        "put_item",
        "update_item",
        "delete_item",
        "transact_write_items",
        "get_item",
        "query",
        "scan",
    ):
        setattr(DynamoDBBackend, name, serialised(getattr(DynamoDBBackend, name), _dynamodb_lock))
    # A GET racing an overwriting PUT can read a buffer moto just closed: serialise object reads and writes.
    S3Response.put_object = serialised(S3Response.put_object, _s3_object_lock)
    S3Response.get_object = serialised(S3Response.get_object, _s3_object_lock)


def install(router: Router) -> None:
    """Route moto's seams to `router`. Idempotent; a later call replaces the router."""
    global _router  # noqa: PLW0603 - moto's models are process-wide, so is the route
    _router = router
    install_atomic_writes()
    lambda_api.install()
    if "invoke" in _originals:
        return
    _originals["invoke"] = LambdaFunction.invoke
    _originals["subscription_publish"] = Subscription.publish
    _originals["backend_publish"] = SNSBackend.publish
    _originals["s3_invoke"] = s3_notifications._invoke_awslambda
    _originals["s3_event"] = s3_notifications._get_s3_event
    s3_notifications._get_s3_event = _s3_event
    from moto.s3.models import S3Backend

    _originals["delete_object"] = S3Backend.delete_object
    S3Backend.delete_object = _delete_object
    LambdaFunction.invoke = _invoke
    Subscription.publish = _subscription_publish
    SNSBackend.publish = _backend_publish
    s3_notifications._invoke_awslambda = _s3_invoke_lambda
    Queue.lambda_event_source_mappings = property(_no_sync_mappings, _ignore)
    FakeBucket.get_permission = _bucket_permission
    _originals["set_notification_configuration"] = FakeBucket.set_notification_configuration
    FakeBucket.set_notification_configuration = _set_notification_configuration


def uninstall() -> None:
    """Stop routing (the patches stay, and refuse work, until the next `install`)."""
    global _router  # noqa: PLW0603
    _router = None
