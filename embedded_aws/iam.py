"""IAM enforced by the embedded AWS, as AWS enforces it (issue 12). On by default; `--no-iam` turns it off.

- **Who asks.** Each function's workers hold credentials of its execution role, issued by the embedded STS
  (`AssumeRole`, session name = the function's name), after the role's trust policy is checked to admit
  `lambda.amazonaws.com`; a state machine's tasks act as its role (`states.amazonaws.com`). Any other access
  key (the CLI's, the tests', `testing`) is the account root: an admin, which only an explicit deny in an S3
  bucket policy refuses (other services' resource policies are not evaluated for it).
- **What is checked.** Every request that reaches the server: its actions and resources (`actions.py`),
  against the role's inline and managed policies, its permissions boundary, and the resource-based policy
  of the bucket, queue, topic, function or role it acts on (`policy.py`). A refusal is the service's own
  error (`AccessDenied`, `AccessDeniedException`, `AuthorizationError`) with AWS's sentence naming the
  principal, the action, the resource and why.
- **Services acting for resources**: SNS delivers to a queue only if the queue's policy lets
  `sns.amazonaws.com` send for that topic, and to a function only if its resource policy lets SNS invoke it;
  S3 refuses a notification configuration whose topic, queue or function does not admit `s3.amazonaws.com`
  for that bucket ("Unable to validate the following destination configurations"), as CloudFormation
  reports on AWS; an event source mapping (and a function's dead-letter queue) needs its role to have the
  permissions Lambda's poller uses, checked when it is created.
- **Request context**: `aws:SecureTransport` is "true" (the local endpoint stands for AWS's TLS one) unless
  the request carries `X-Forwarded-Proto: http`, which marks it as one a client sent in plain HTTP.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from embedded_aws import policy
from embedded_aws.actions import Check
from embedded_aws.policy import Decision, Principal, Statement

log = logging.getLogger(__name__)

#: moto's default account: the only account of the embedded AWS.
ACCOUNT = "123456789012"
#: How long issued credentials last (Lambda's last up to 12 hours; nothing here checks expiry).
_SESSION_SECONDS = 43200


class AccessDeniedError(Exception):
    """A request IAM refuses: the action, the resource and AWS's sentence."""

    def __init__(self, principal: Principal, check: Check, decision: Decision) -> None:
        self.action = check.action
        self.resource = check.resource
        super().__init__(policy.denial_message(principal, check.action, check.resource, decision))


class RoleNotAssumableError(Exception):
    """A service cannot assume a role: it does not exist, or its trust policy does not admit the service."""


@dataclass(frozen=True)
class Session:
    """Credentials issued for a role, and who they make the caller."""

    access_key_id: str
    secret_access_key: str
    session_token: str
    principal: Principal

    def environment(self) -> dict[str, str]:
        """The variables Lambda sets for a function's credentials."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_SESSION_TOKEN": self.session_token,
        }


@functools.cache
def _aws_managed_documents() -> dict[str, str]:
    """AWS managed policies by ARN (moto's copy; read once, when a role first names one)."""
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    parsed = json.loads(aws_managed_policies_data)
    return {
        f"arn:aws:iam::aws:policy{entry.get('Path', '/')}{name}": json.dumps(entry["Document"])
        for name, entry in parsed.items()
    }


def _role_name(role_arn: str) -> str:
    return role_arn.rsplit("/", 1)[-1]


class Authority:
    """The embedded AWS's IAM: issues role sessions, names callers, decides requests."""

    def __init__(self, region: str, account: str = ACCOUNT) -> None:
        self.region = region
        self.account = account
        self.root = policy.root(account)
        self._lock = threading.Lock()
        self._sessions: dict[tuple[str, str], Session] = {}
        self._by_key: dict[str, Principal] = {}
        #: Per role: its policies' fingerprint, its inline documents, its compiled statements and boundary.
        self._compiled: dict[
            str, tuple[Any, tuple[Any, ...], tuple[Statement, ...], tuple[Statement, ...] | None]
        ] = {}

    # --- sessions --------------------------------------------------------------------------------------
    def session(
        self, role_arn: str, service: str, session_name: str, source_arn: str | None = None
    ) -> Session:
        """Credentials of `role_arn` for `service` acting for `source_arn` (the function or state machine,
        None when unknown), the same ones each time once the role's trust admitted it."""
        key = (role_arn, session_name)
        with self._lock:
            known = self._sessions.get(key)
        if known is not None:
            return known
        role = self._role(role_arn)
        if role is None:
            raise RoleNotAssumableError(f"The role {role_arn} does not exist.")
        self.require_trust(role, service, source_arn)
        from moto.sts.models import sts_backends

        backend = sts_backends[self.account]["aws"]
        assumed = backend.assume_role(
            region_name=self.region,
            role_session_name=session_name,
            role_arn=role_arn,
            policy="",
            duration=_SESSION_SECONDS,
            external_id="",
        )
        principal = Principal(
            arn=f"arn:aws:sts::{self.account}:assumed-role/{role.name}/{session_name}",
            account=self.account,
            user_id=f"{role.id}:{session_name}",
            role_arn=role_arn,
        )
        issued = Session(assumed.access_key_id, assumed.secret_access_key, assumed.session_token, principal)
        with self._lock:
            self._sessions.setdefault(key, issued)
            self._by_key[issued.access_key_id] = principal
            return self._sessions[key]

    def require_trust(self, role: Any, service: str, source_arn: str | None = None) -> None:
        """Raise unless the role's trust policy lets `service`, acting for `source_arn`, assume it. When the
        source is not known here, conditions on it are not held against the trust."""
        statements = policy.compile_policy(_text(role.assume_role_policy_document), resource_based=True)
        context = {"aws:SourceAccount": self.account}
        if source_arn:
            context["aws:SourceArn"] = source_arn
        else:
            statements = tuple(
                dataclasses.replace(
                    st,
                    condition={
                        op: {k: v for k, v in entries.items() if k.lower() != "aws:sourcearn"}
                        for op, entries in st.condition.items()
                    },
                )
                for st in statements
            )
        decision = policy.decide(
            policy.service_principal(service, self.account),
            "sts:AssumeRole",
            role.arn,
            context,
            resource_policy=statements,
        )
        if not decision.allowed:
            message = f"The trust policy of role {role.arn} does not let {service} assume it."
            raise RoleNotAssumableError(message)

    def principal(self, access_key: str) -> Principal:
        """Who an access key makes the caller: a role session the embedded AWS issued (or a user's
        `AssumeRole` made), else the account root."""
        if not access_key:
            return self.root
        found = self._by_key.get(access_key)
        if found is not None:
            return found
        if len(access_key) < 16 or not access_key.isupper():
            return self.root  # "testing" and its like: the admin's keys
        found = self._assumed_elsewhere(access_key) or self.root
        with self._lock:
            self._by_key[access_key] = found
        return found

    def _assumed_elsewhere(self, access_key: str) -> Principal | None:
        from moto.sts.models import sts_backends

        assumed = sts_backends[self.account]["aws"].get_assumed_role_from_access_key(access_key)
        if assumed is None:
            return None
        role = self._role(assumed.role_arn)
        return Principal(
            arn=f"arn:aws:sts::{self.account}:assumed-role/{_role_name(assumed.role_arn)}/{assumed.session_name}",
            account=self.account,
            user_id=f"{role.id if role else 'AROA'}:{assumed.session_name}",
            role_arn=assumed.role_arn,
        )

    # --- identity-based policies ----------------------------------------------------------------------
    def _iam(self) -> Any:
        from moto.iam.models import iam_backends

        return iam_backends[self.account]["aws"]

    def _role(self, role_arn: str) -> Any:
        name = _role_name(role_arn)
        for role in list(self._iam().roles.values()):  # a snapshot: a deploy may add roles meanwhile
            if role.name == name:
                return role
        return None

    def identity(self, principal: Principal) -> tuple[tuple[Statement, ...], tuple[Statement, ...] | None]:
        """A role session's identity-based statements and its permissions boundary (None: no boundary).
        Compiled once per role and recompiled when any of its policies changes."""
        if principal.role_arn is None:
            return (), None
        role = self._role(principal.role_arn)
        if role is None:
            return (), None  # a deleted role allows nothing
        managed = dict(role.managed_policies)
        extra = getattr(role, "embedded_managed_arns", ())
        inline = tuple(role.policies.items())
        # The documents themselves, compared by identity, tell a changed policy (put_role_policy stores anew).
        fingerprint = (
            tuple(name for name, _ in inline),
            tuple((arn, p.default_version_id) for arn, p in managed.items()),
            tuple(extra),
            role.permissions_boundary_arn,
        )
        cached = self._compiled.get(role.arn)
        if (
            cached is not None
            and cached[0] == fingerprint
            and all(a is b for a, b in zip(cached[1], (doc for _, doc in inline), strict=True))
        ):
            return cached[2], cached[3]
        statements: list[Statement] = []
        for document in role.policies.values():
            statements.extend(policy.compile_policy(_text(document), resource_based=False))
        for arn in [*managed, *extra]:
            statements.extend(policy.compile_policy(self._managed_document(arn), resource_based=False))
        boundary = None
        if role.permissions_boundary_arn:
            boundary = policy.compile_policy(
                self._managed_document(role.permissions_boundary_arn), resource_based=False
            )
        compiled = tuple(statements)
        self._compiled[role.arn] = (fingerprint, tuple(doc for _, doc in inline), compiled, boundary)
        return compiled, boundary

    def _managed_document(self, arn: str) -> str:
        for managed in list(self._iam().managed_policies.values()):
            if managed.arn == arn:
                version = next((v for v in managed.versions if v.is_default), None)
                return _text(version.document) if version is not None else ""
        return _aws_managed_documents().get(arn, "")

    # --- resource-based policies ----------------------------------------------------------------------
    def resource_policy(self, resource: str | None) -> tuple[Statement, ...]:
        """The resource-based policy that governs `resource` (bucket, queue, topic, function, role)."""
        if not resource or not resource.startswith("arn:"):
            return ()
        parts = resource.split(":", 5)
        if len(parts) < 6:
            return ()
        service, region, _account, rest = parts[2], parts[3], parts[4], parts[5]
        text = ""
        try:
            if service == "s3":
                text = self._bucket_policy(rest.split("/", 1)[0])
            elif service == "sqs":
                text = self._queue_policy(region, rest)
            elif service == "sns":
                text = self._topic_policy(region, resource.split(":", 6)[:6])
            elif service == "lambda" and rest.startswith("function:"):
                text = self._function_policy(region, rest.split(":")[1])
            elif service == "kms" and rest.startswith("key/"):
                text = self._key_policy(region, rest.removeprefix("key/"))
            elif service == "iam" and rest.startswith("role/"):
                role = self._role(resource)
                text = _text(role.assume_role_policy_document) if role else ""
        except (KeyError, LookupError) as exc:
            log.debug("No resource policy for %s: %s", resource, exc)
            return ()
        return policy.compile_policy(text, resource_based=True) if text else ()

    def _bucket_policy(self, bucket: str) -> str:
        from moto.s3.models import s3_backends

        found = s3_backends[self.account]["aws"].buckets.get(bucket)
        raw = getattr(found, "policy", None)
        return raw.decode() if isinstance(raw, bytes) else (raw or "")

    def _queue_policy(self, region: str, name: str) -> str:
        from moto.sqs.models import sqs_backends

        queue = sqs_backends[self.account][region].queues.get(name)
        return (queue.policy or "") if queue is not None else ""

    def _topic_policy(self, region: str, parts: list[str]) -> str:
        from moto.sns.models import sns_backends

        topic = sns_backends[self.account][region].topics.get(":".join(parts))
        return topic.policy if topic is not None else ""

    def _key_policy(self, region: str, key_id: str) -> str:
        from moto.kms.models import kms_backends

        key = kms_backends[self.account][region].keys.get(key_id)
        return _text(key.policy) if key is not None else ""  # CloudFormation's KeyPolicy stays a dict

    def topic_key(self, topic_arn: str) -> str | None:
        """The ARN of the KMS key a topic encrypts with (its `KmsMasterKeyId`), or None."""
        from moto.kms.models import kms_backends
        from moto.sns.models import sns_backends

        region = topic_arn.split(":")[3] if topic_arn.count(":") >= 5 else self.region
        topic = sns_backends[self.account][region].topics.get(topic_arn)
        key_id = str(getattr(topic, "kms_master_key_id", "") or "")
        if not key_id:
            return None
        if key_id.startswith("alias/aws/"):
            return None  # an AWS managed key: its policy admits the account's principals through the service
        try:
            resolved = kms_backends[self.account][region].any_id_to_key_id(key_id)
        except (KeyError, LookupError):
            resolved = key_id.rsplit("/", 1)[-1]
        return f"arn:aws:kms:{region}:{self.account}:key/{resolved}"

    def key_checks(self, checks: list[Check]) -> list[Check]:
        """What publishing to an encrypted topic needs besides sns:Publish: the key's data keys, as on AWS
        (`kms:GenerateDataKey*` and `kms:Decrypt` on the topic's key)."""
        found = []
        for check in checks:
            if check.action == "sns:Publish" and check.resource:
                key = self.topic_key(check.resource)
                if key:
                    found += [Check("kms:GenerateDataKey", key), Check("kms:Decrypt", key)]
        return found

    def _function_policy(self, region: str, name: str) -> str:
        from moto.awslambda.models import lambda_backends

        storage = lambda_backends[self.account][region]._lambdas
        if name not in storage._functions:
            return ""
        function = storage._get_latest(name)
        if function.policy is None or not function.policy.statements:
            return ""
        return json.dumps({"Version": "2012-10-17", "Statement": function.policy.statements})

    # --- decisions ------------------------------------------------------------------------------------
    def context(self, principal: Principal, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The global condition keys of a request by `principal`."""
        now = datetime.datetime.now(datetime.UTC)
        context: dict[str, Any] = {
            "aws:SecureTransport": "true",
            "aws:CurrentTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "aws:EpochTime": str(int(now.timestamp())),
            "aws:RequestedRegion": self.region,
            "aws:PrincipalAccount": principal.account,
            "aws:PrincipalType": principal.kind,
            "aws:userid": principal.user_id,
        }
        if not principal.service:
            context["aws:PrincipalArn"] = principal.role_arn or principal.arn
        else:
            context["aws:PrincipalServiceName"] = principal.service
        if extra:
            context.update(extra)
        return context

    def decide(self, principal: Principal, check: Check, context: Mapping[str, Any]) -> Decision:
        """Whether `principal` may do `check` (its action on its resource) in this request context."""
        identity, boundary = self.identity(principal)
        merged = {**context, **check.context} if check.context else context
        return policy.decide(
            principal,
            check.action,
            check.resource,
            merged,
            identity=identity,
            boundary=boundary,
            resource_policy=self.resource_policy(check.resource),
            # a key is used, and a role assumed, only when its own policy allows it too
            resource_required=check.action.startswith(("kms:", "sts:AssumeRole")),
        )

    def require(
        self, principal: Principal, checks: list[Check], context: Mapping[str, Any] | None = None
    ) -> None:
        """Raise `AccessDeniedError` for the first check `principal` is refused."""
        full = self.context(principal, context)
        for check in checks:
            decision = self.decide(principal, check, full)
            if not decision.allowed:
                raise AccessDeniedError(principal, check, decision)

    def service_may(self, service: str, check: Check, source_arn: str) -> bool:
        """Whether a service acting for `source_arn` (SNS for a topic, S3 for a bucket) may do `check`:
        only a resource-based policy can grant a service principal."""
        principal = policy.service_principal(service, self.account)
        source_account = self.account
        context = self.context(principal, {"aws:SourceArn": source_arn, "aws:SourceAccount": source_account})
        if service in _SOURCE_OWNER_SERVICES:
            # SNS's older key, which these services send: the topic's default policy admits them by it
            context["aws:SourceOwner"] = source_account
        return self.decide(principal, check, context).allowed

    def role_may(self, role_arn: str, checks: list[Check]) -> Check | None:
        """The first of `checks` a role's own policies do not allow (a service using the role), or None."""
        principal = Principal(arn=role_arn, account=self.account, user_id=role_arn, role_arn=role_arn)
        context = self.context(principal)
        for check in checks:
            if not self.decide(principal, check, context).allowed:
                return check
        return None


#: Services whose requests carry `AWS:SourceOwner` (S3 sends only aws:SourceArn/SourceAccount, so a topic's
#: default policy, conditioned on SourceOwner, does not admit it: "Unable to validate ... destination").
_SOURCE_OWNER_SERVICES = frozenset({"cloudwatch.amazonaws.com"})


def _text(document: Any) -> str:
    """A policy document as JSON text (moto keeps some as dicts, some as text)."""
    if isinstance(document, str):
        return document
    return json.dumps(document) if document else ""


# --- the process-wide authority ----------------------------------------------------------------------
_current: Authority | None = None
_requests = threading.local()


def set_requester(principal: Principal | None) -> None:
    """Remember who makes the request this server thread is answering (None: unknown, IAM off)."""
    _requests.principal = principal


def requester_principal_id() -> str | None:
    """The current request's principal as S3 events name it (`userIdentity.principalId`): `AWS:` and the
    unique id, which for a role session is `AROA…:<session name>`; None when unknown."""
    principal: Principal | None = getattr(_requests, "principal", None)
    if principal is None or principal.service:
        return None
    return f"AWS:{principal.user_id}"


_identities: Authority | None = None


def current() -> Authority | None:
    """The authority enforcing IAM, or None when IAM is off."""
    return _current


def identities() -> Authority | None:
    """The authority that names callers, enforcing or not (None: no embedded AWS runs)."""
    return _identities


def install(authority: Authority | None, *, enforce: bool = True) -> None:
    """Name callers with `authority` (None: stop), and enforce IAM with it unless `enforce` is false."""
    global _current, _identities  # noqa: PLW0603 - one embedded AWS per process
    _identities = authority
    _current = authority if enforce else None


# --- checks AWS makes when things are configured ----------------------------------------------------
_CANNOT_ASSUME = "The role defined for the function cannot be assumed by Lambda."


def check_function(spec: Mapping[str, Any]) -> None:
    """CreateFunction's and UpdateFunctionConfiguration's checks: Lambda can assume the execution role,
    and the role may send to the function's dead-letter queue or topic. Raises Lambda's
    InvalidParameterValueException as AWS does."""
    authority = current()
    if authority is None:
        return
    from moto.awslambda.exceptions import InvalidParameterValueException

    role_arn = str(spec.get("Role") or "")
    if role_arn:
        role = authority._role(role_arn)
        try:
            if role is None:
                raise RoleNotAssumableError(f"The role {role_arn} does not exist.")
            name = str(spec.get("FunctionName") or "")
            source = (
                name
                if name.startswith("arn:")
                else f"arn:aws:lambda:{authority.region}:{authority.account}:function:{name}"
            )
            authority.require_trust(role, "lambda.amazonaws.com", source)
        except RoleNotAssumableError as exc:
            log.info("CreateFunction %s refused: %s", spec.get("FunctionName"), exc)
            raise InvalidParameterValueException(_CANNOT_ASSUME) from exc
    target = str((spec.get("DeadLetterConfig") or {}).get("TargetArn") or "")
    if role_arn and target:
        on_sqs = target.split(":")[2:3] == ["sqs"]
        check = Check("sqs:SendMessage" if on_sqs else "sns:Publish", target)
        if authority.role_may(role_arn, [check]) is not None:
            verb, where = ("SendMessage", "SQS") if on_sqs else ("Publish", "SNS")
            raise InvalidParameterValueException(
                f"The provided execution role does not have permissions to call {verb} on {where}"
            )


#: What Lambda's poller does with the function's role, by event source service.
_POLLER_ACTIONS = {
    "sqs": ("ReceiveMessage", "DeleteMessage", "GetQueueAttributes"),
    "dynamodb": ("GetRecords", "GetShardIterator", "DescribeStream", "ListStreams"),
    "kinesis": ("GetRecords", "GetShardIterator", "DescribeStream", "ListShards"),
}


def check_event_source(role_arn: str, source_arn: str) -> None:
    """CreateEventSourceMapping's check: the function's role may do what Lambda's poller does."""
    authority = current()
    if authority is None or not role_arn:
        return
    service = source_arn.split(":")[2] if source_arn.count(":") >= 5 else ""
    needed = _POLLER_ACTIONS.get(service)
    if needed is None:
        return
    missing = authority.role_may(role_arn, [Check(f"{service}:{a}", source_arn) for a in needed])
    if missing is None:
        return
    from moto.awslambda.exceptions import InvalidParameterValueException

    action = missing.action.split(":", 1)[1]
    if service == "sqs":
        message = f"The provided execution role does not have permissions to call {action} on SQS"
    else:
        message = (
            f"Cannot access stream {source_arn}. Please ensure the role can perform the "
            f"{', '.join(needed)} Actions on your stream in IAM."
        )
    raise InvalidParameterValueException(message)


def check_notification_destinations(bucket: Any, configuration: Mapping[str, Any]) -> None:
    """PutBucketNotificationConfiguration's check: each topic, queue and function admits S3 for this bucket.
    Raises S3's InvalidArgument, naming the first destination that does not."""
    authority = current()
    if authority is None or not configuration:
        return
    bucket_arn = f"arn:aws:s3:::{bucket.name}"
    kinds = (
        ("TopicConfiguration", "Topic", "sns:Publish", "topic"),
        ("QueueConfiguration", "Queue", "sqs:SendMessage", "queue"),
        ("CloudFunctionConfiguration", "CloudFunction", "lambda:InvokeFunction", "function"),
    )
    for section, key, action, noun in kinds:
        entries = configuration.get(section) or []
        for entry in entries if isinstance(entries, list) else [entries]:
            arn = str(entry.get(key) or "")
            needed = [Check(action, arn)]
            if noun == "topic":
                needed += authority.key_checks(needed)
            if arn and not all(authority.service_may("s3.amazonaws.com", c, bucket_arn) for c in needed):
                from moto.s3.exceptions import InvalidArgumentError

                verb = {"topic": "publish notifications", "queue": "send messages", "function": "invoke it"}[
                    noun
                ]
                raise InvalidArgumentError(
                    "Unable to validate the following destination configurations",
                    arn,
                    f"Permissions on the destination {noun} do not allow S3 to {verb} from this bucket",
                )


def delivery_allowed(service: str, action: str, target_arn: str, source_arn: str) -> bool:
    """Whether a service's delivery for `source_arn` (SNS → a queue or function) is allowed: logs why not."""
    authority = current()
    if authority is None:
        return True
    if authority.service_may(service, Check(action, target_arn), source_arn):
        return True
    log.warning(
        "%s did not deliver from %s to %s: no resource-based policy on it lets %s do %s for that source "
        "(add a queue policy or Lambda permission).",
        service,
        source_arn,
        target_arn,
        service,
        action,
    )
    return False
