"""Lambda-backed CloudFormation custom resources (`Custom::<Name>`, `AWS::CloudFormation::CustomResource`).

As CloudFormation runs them, with the ServiceToken a Lambda function's ARN:

- **Create**: the function is invoked asynchronously (Lambda's event queue, so its retries and dead-letter
  target apply) with CloudFormation's request: `RequestType`, `ServiceToken`, `ResponseURL`, `StackId`,
  `RequestId`, `ResourceType`, `LogicalResourceId` and `ResourceProperties` (scalars as strings, as
  CloudFormation passes them; an AWS URL of an endpoint served locally becomes its local URL, as in function
  environments, see `endpoints`). The stack waits for the response: a JSON document PUT to the ResponseURL
  (a presigned S3 URL on AWS; `<embedded endpoint>/_local/cfn-response/<token>` here, answered by `respond`).
  `SUCCESS` creates the resource: `Ref` is its `PhysicalResourceId`, `Fn::GetAtt R.Key` is `Data[Key]`.
  `FAILED` fails it with CloudFormation's sentence, and the stack rolls back (`lifecycle`).
- **No response**: CloudFormation waits an hour. Here the resource fails as soon as the invocation has ended
  (after Lambda's retries) without a response, or after the function's timeout plus a margin per attempt,
  with CloudFormation's timeout sentence and what happened locally.
- **Delete**: when the stack is deleted or a failed create rolls back, every custom resource that answered
  its Create (FAILED ones too, as CloudFormation does) gets a `Delete` with its `PhysicalResourceId`, in
  reverse order of creation and before the stack's other resources (moto deletes in no dependency order,
  and a custom resource needs its function, and usually what it manages, to still exist). A failed or
  missing Delete response is logged and the deletion goes on (AWS would leave the stack DELETE_FAILED).
- **Update**: the embedded AWS deploys stacks but does not update them; an UpdateStack that would change a
  custom resource is refused as not implemented.

SNS-backed custom resources (a topic as ServiceToken) are refused, naming the feature. Python functions
whose code is inline (`ZipFile`, SAM `InlineCode`) can `import cfnresponse`, as on AWS (`cfnresponse.py`).
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from moto.awslambda.models import LambdaFunction
from moto.cloudformation import parsing
from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.models import Event, cloudformation_backends
from moto.cloudformation.parsing import ResourceMap
from moto.core.common_models import CloudFormationModel

from embedded_aws import endpoints
from embedded_aws.formats import function_name, s3_error_xml
from embedded_aws.lambda_async import AsyncSettings

log = logging.getLogger(__name__)

#: Where functions PUT their responses, on the embedded AWS's own endpoint (a path moto never uses).
RESPONSE_PATH = "/_local/cfn-response/"
#: Added to the function's timeout, per attempt, before a missing response fails the resource.
MARGIN_S = 30.0
#: CloudFormation refuses a larger response ("Response object is too long.").
MAX_RESPONSE_BYTES = 4096
#: The module AWS provides to inline Python code, and where it goes beside `index.py`.
CFNRESPONSE = Path(__file__).with_name("cfnresponse.py")
_GENERIC_TYPE = "AWS::CloudFormation::CustomResource"


def is_custom(kind: str) -> bool:
    """Whether a resource type is a custom resource."""
    return kind.startswith("Custom::") or kind == _GENERIC_TYPE


def add_cfnresponse(code_dir: Path) -> None:
    """Put `cfnresponse.py` beside a function's inline code, as AWS does for `ZipFile` code."""
    (code_dir / "cfnresponse.py").write_text(CFNRESPONSE.read_text())


# --- deploy-time check -------------------------------------------------------------------------------------
def template_problem(logical_id: str, resource: dict[str, Any], resources: dict[str, Any]) -> str | None:
    """Why the embedded AWS cannot create this custom resource (a sentence naming it), or None."""
    what = f"Custom resource {logical_id} ({resource.get('Type')})"
    token = (resource.get("Properties") or {}).get("ServiceToken")
    if token is None:
        return (
            f"{what} has no ServiceToken: CloudFormation sends a custom resource's requests to the Lambda "
            "function its ServiceToken names (its ARN)."
        )
    target = _token_target(token, resources)
    if target == "sns":
        return (
            f"{what}: SNS-backed custom resources (a ServiceToken that is an SNS topic) are not supported by "
            "the embedded AWS; give the ServiceToken a Lambda function's ARN."
        )
    if target not in ("lambda", "unknown"):
        return (
            f"{what}: its ServiceToken names {target}; it must be a Lambda function's ARN (the embedded AWS "
            "runs Lambda-backed custom resources)."
        )
    return None


_LAMBDA_TYPES = ("AWS::Lambda::Function", "AWS::Lambda::Alias", "AWS::Lambda::Version")


def _token_target(token: Any, resources: dict[str, Any]) -> str:
    """ "lambda", "sns", "unknown" (a parameter, an import: known once resolved), or what else it names."""
    if isinstance(token, str):
        return "lambda" if ":lambda:" in token else "sns" if ":sns:" in token else repr(token)
    if not isinstance(token, dict) or len(token) != 1:
        return "unknown"
    ((name, arg),) = token.items()
    if name in ("Ref", "Fn::GetAtt"):
        target = arg if isinstance(arg, str) else arg[0] if isinstance(arg, list) and arg else ""
        target = target.split(".", 1)[0] if name == "Fn::GetAtt" else target
        kind = (resources.get(target) or {}).get("Type")
        if kind is None:
            return "unknown"  # a parameter (or a pseudo parameter)
        if name == "Ref" and kind == "AWS::Lambda::Function":  # Ref is its name; a ServiceToken is an ARN
            return f"function {target} by name (Ref), not by ARN (!GetAtt {target}.Arn)"
        return "lambda" if kind in _LAMBDA_TYPES else "sns" if kind == "AWS::SNS::Topic" else f"a {kind}"
    if name == "Fn::Sub":
        text = arg[0] if isinstance(arg, list) and arg else arg
        if isinstance(text, str) and ":sns:" in text:
            return "sns"
    return "unknown"


# --- responses ---------------------------------------------------------------------------------------------
class Router(Protocol):
    """What custom resources need of the running embedded AWS."""

    endpoint_url: str

    def invoke_async(
        self,
        function_arn: str,
        event: Any,
        source: str,
        done: Callable[[str | None, str | None], None] | None = None,
    ) -> None: ...

    def async_settings(self, function_arn: str) -> AsyncSettings: ...


class _NoResponseError(Exception):
    """A request that got no usable response: the sentence CloudFormation's reason carries."""


@dataclass
class _Pending:
    """One request sent to a function, waiting for its response."""

    token: str
    request_id: str
    changed: threading.Condition = field(default_factory=threading.Condition)
    response: dict[str, Any] | None = None
    invalid: str | None = None  # why CloudFormation would reject the response that came
    ended: tuple[str | None, str | None] | None = None  # the invocation's end: (error code, message)

    def invocation_ended(self, error_code: str | None, message: str | None) -> None:
        with self.changed:
            self.ended = (error_code, message)
            self.changed.notify_all()

    def answer(self, response: dict[str, Any] | None, invalid: str | None) -> bool:
        """Record the first response; False for a later one (CloudFormation reads only the first)."""
        with self.changed:
            if self.response is not None or self.invalid is not None:
                return False
            self.response, self.invalid = response, invalid
            self.changed.notify_all()
            return True


_router: Router | None = None
_lock = threading.Lock()
_pending: dict[str, _Pending] = {}
#: Custom resources that answered a Create, by stack id, in order: each gets a Delete with the stack.
_answered: dict[str, list[CustomResource]] = {}


def respond(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The ResponseURL: take a function's PUT of its response as S3 takes a presigned PUT (200, empty)."""
    token = str(environ.get("PATH_INFO", ""))[len(RESPONSE_PATH) :]
    with _lock:
        pending = _pending.get(token)
    if environ.get("REQUEST_METHOD") != "PUT":
        return _s3_error(start_response, "405 Method Not Allowed", "MethodNotAllowed", "Use PUT.")
    if pending is None:
        return _s3_error(start_response, "403 Forbidden", "AccessDenied", "Request has expired")
    length = environ.get("CONTENT_LENGTH")
    body = environ["wsgi.input"].read(int(length)) if length else environ["wsgi.input"].read()
    response, invalid = _read_response(body)
    if pending.answer(response, invalid):
        log.info("Custom resource response %s: %s", pending.request_id, invalid or response)
    start_response("200 OK", [("ETag", '"' + uuid.uuid4().hex + '"'), ("Content-Length", "0")])
    return [b""]


def _s3_error(start_response: Callable[..., Any], status: str, code: str, message: str) -> list[bytes]:
    body = s3_error_xml(code, message)
    start_response(status, [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))])
    return [body]


def _read_response(body: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """The response document, or why CloudFormation would not accept it."""
    if len(body) > MAX_RESPONSE_BYTES:
        return None, "Response object is too long."
    try:
        document = json.loads(body)
    except ValueError:
        return None, f"The response is not JSON: {body[:200].decode('utf-8', 'replace')!r}"
    if not isinstance(document, dict) or document.get("Status") not in ("SUCCESS", "FAILED"):
        return None, "The response's Status must be SUCCESS or FAILED."
    data = document.get("Data")
    if data is not None and not isinstance(data, dict):
        return None, "The response's Data must be an object of key-value pairs."
    return document, None


# --- the resource ------------------------------------------------------------------------------------------
def _as_passed(value: Any) -> Any:
    """A property as CloudFormation passes it to a custom resource: every scalar a string."""
    if isinstance(value, dict):
        return {key: _as_passed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_passed(item) for item in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return str(value)
    return str(getattr(value, "physical_resource_id", value))  # a model moto's Ref left unresolved


class CustomResource(CloudFormationModel):  # type: ignore[misc]
    """A custom resource, created and deleted by its ServiceToken's function."""

    def __init__(
        self,
        stack_id: str,
        logical_id: str,
        kind: str,
        service_token: str,
        properties: dict[str, Any],
        region_name: str,
    ) -> None:
        self.stack_id = stack_id
        self.logical_id = logical_id
        self.kind = kind
        self.service_token = service_token
        self.properties = properties
        self.region_name = region_name
        self.physical_id = ""
        self.data: dict[str, Any] = {}
        self.request_id = ""
        self.deleted = False

    @staticmethod
    def cloudformation_type() -> str:
        return _GENERIC_TYPE

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return True  # any key of the response's Data

    @property
    def physical_resource_id(self) -> str:
        return self.physical_id

    def is_created(self) -> bool:
        return True

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        if attribute_name in self.data:
            return self.data[attribute_name]
        region = self.region_name.replace("-", "")
        raise ValidationError(
            message=(
                f"CustomResource attribute error: Vendor response doesn't contain {attribute_name} key in "
                f"object {self.stack_id}|{self.logical_id}|{self.request_id} in S3 bucket "
                f"cloudformation-custom-resource-storage-{region}"
            )
        )

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> CustomResource:
        logical_id, kind, stack_id = kwargs["LogicalId"], kwargs["ResourceType"], kwargs["StackId"]
        properties = endpoints.rewrite(_as_passed(cloudformation_json.get("Properties") or {}))
        what = f"Resource {logical_id} ({kind}) failed to create"
        token = properties.get("ServiceToken")
        if not isinstance(token, str) or ":sns:" in token or ":lambda:" not in token:
            problem = "an SNS topic: not supported by the embedded AWS" if ":sns:" in str(token) else "not"
            raise ValidationError(
                message=f"{what}: ServiceToken {token!r} is {problem} a Lambda function ARN."
            )
        resource = cls(stack_id, logical_id, kind, token, properties, region_name)
        resource._event("CREATE_IN_PROGRESS")
        try:
            response = resource._send("Create")
        except _NoResponseError as failure:
            resource._event("CREATE_FAILED", str(failure))
            raise ValidationError(message=f"{what}: {failure}") from None
        resource.physical_id = str(response.get("PhysicalResourceId") or "")
        status, reason = response["Status"], response.get("Reason") or ""
        if status == "SUCCESS" and not resource.physical_id:
            status, reason = "FAILED", "Invalid PhysicalResourceId"
            resource.physical_id = ""
        if resource.physical_id:  # CloudFormation sends a Delete for a FAILED create too, on rollback
            with _lock:
                _answered.setdefault(stack_id, []).append(resource)
        if status == "FAILED":
            sentence = (
                "Received response status [FAILED] from custom resource. Message returned: "
                f"{reason} (RequestId: {resource.request_id})"
            )
            resource._event("CREATE_FAILED", sentence)
            raise ValidationError(message=f"{what}: {sentence}")
        resource.data = dict(response.get("Data") or {})
        resource._event("CREATE_COMPLETE")
        return resource

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> Any:
        raise NotImplementedError(
            "custom resource updates (RequestType Update): the embedded AWS deploys stacks, it does not "
            "update them; delete the stack and deploy it again"
        )

    def delete(self, account_id: str = "", region_name: str = "") -> None:
        """Send the Delete request and wait for its answer; a failure is logged (AWS: DELETE_FAILED)."""
        if self.deleted:
            return
        self.deleted = True
        self._event("DELETE_IN_PROGRESS")
        try:
            response = self._send("Delete")
        except _NoResponseError as failure:
            problem: str | None = str(failure)
        else:
            problem = None
            if response["Status"] != "SUCCESS":
                problem = (
                    "Received response status [FAILED] from custom resource. Message returned: "
                    f"{response.get('Reason') or ''} (RequestId: {self.request_id})"
                )
        if problem is None:
            self._event("DELETE_COMPLETE")
            return
        self._event("DELETE_FAILED", problem)
        log.warning(
            "Custom resource %s (%s) failed to delete; the embedded AWS goes on deleting the stack (AWS "
            "would leave it DELETE_FAILED): %s",
            self.logical_id,
            self.physical_id,
            problem,
        )

    # --- one request and its response ----------------------------------------------------------------------
    def _send(self, request_type: str) -> dict[str, Any]:
        router = _router
        if router is None:
            raise _NoResponseError("The embedded AWS is not running (no function can answer).")
        settings = router.async_settings(self.service_token)
        if not settings.exists:
            raise _NoResponseError(f"ServiceToken {self.service_token} names no Lambda function that exists.")
        pending = _Pending(token=uuid.uuid4().hex, request_id=str(uuid.uuid4()))
        self.request_id = pending.request_id
        event: dict[str, Any] = {
            "RequestType": request_type,
            "ServiceToken": self.service_token,
            "ResponseURL": f"{router.endpoint_url}{RESPONSE_PATH}{pending.token}",
            "StackId": self.stack_id,
            "RequestId": pending.request_id,
            "LogicalResourceId": self.logical_id,
            "ResourceType": self.kind,
            "ResourceProperties": self.properties,
        }
        if request_type != "Create":
            event["PhysicalResourceId"] = self.physical_id
        wait_s = (settings.max_retries + 1) * (_function_timeout(self.service_token) + MARGIN_S)
        with _lock:
            _pending[pending.token] = pending
        try:
            router.invoke_async(self.service_token, event, "cloudformation", pending.invocation_ended)
            return self._await(pending, wait_s)
        finally:
            with _lock:
                _pending.pop(pending.token, None)

    def _await(self, pending: _Pending, wait_s: float) -> dict[str, Any]:
        deadline = time.monotonic() + wait_s
        name = function_name(self.service_token)
        timeout = (
            "CloudFormation did not receive a response from your Custom Resource. Please check your logs for "
            f"requestId [{pending.request_id}]."
        )
        with pending.changed:
            while pending.response is None and pending.invalid is None and pending.ended is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise _NoResponseError(
                        f"{timeout} (Locally: no response from function {name} within {wait_s:.0f} s, its "
                        "timeout plus a margin for each attempt; CloudFormation would wait an hour.)"
                    )
                pending.changed.wait(remaining)
            if pending.invalid is not None:
                raise _NoResponseError(pending.invalid)
            if pending.response is not None:
                return pending.response
            error_code, message = pending.ended or (None, None)
        if error_code is not None:
            happened = f"failed ({error_code}: {message}) without sending a response to the ResponseURL"
        else:
            happened = (
                "returned without sending a response to the ResponseURL (cfnresponse.send, or an HTTP PUT "
                "of the response document)"
            )
        raise _NoResponseError(
            f"{timeout} (Locally: function {name} {happened}; CloudFormation would wait an hour for one.)"
        )

    def _event(self, status: str, reason: str | None = None) -> None:
        """A resource event in the stack's DescribeStackEvents, as CloudFormation records one."""
        _, _, _, region, account, rest = self.stack_id.split(":", 5)
        stack = cloudformation_backends[account][region].stacks.get(self.stack_id)
        if stack is None:
            stack = cloudformation_backends[account][region].deleted_stacks.get(self.stack_id)
        if stack is None:
            return
        stack.events.append(
            Event(
                stack_id=self.stack_id,
                stack_name=rest.split("/")[1],
                logical_resource_id=self.logical_id,
                physical_resource_id=self.physical_id,
                resource_type=self.kind,
                resource_status=status,
                resource_status_reason=reason,
                resource_properties=json.dumps(self.properties),
            )
        )


def _function_timeout(function_arn: str) -> float:
    from moto.awslambda.utils import get_backend

    _, _, _, region, account, *_ = function_arn.split(":")
    try:
        return float(get_backend(account, region).get_function(function_arn).timeout)
    except Exception:  # noqa: BLE001 - moto raises several not-found types; Lambda's default then
        return 3.0


# --- moto seams --------------------------------------------------------------------------------------------
_originals: dict[str, Any] = {}


def _delete_custom_first(self: ResourceMap) -> None:
    """Delete the stack's custom resources first (newest first), then the rest as moto does."""
    with _lock:
        answered = _answered.pop(self.stack_id, [])
    for resource in reversed(answered):
        if self._parsed_resources.get(resource.logical_id) is resource:
            self._parsed_resources.pop(resource.logical_id)
        policy = (self._resource_json_map.get(resource.logical_id) or {}).get("DeletionPolicy")
        if policy != "Retain":
            resource.delete()
    _originals["delete"](self)


def _inline_zip(code: str) -> bytes:
    """Inline `ZipFile` code packed as AWS packs it: `index.py`, and `cfnresponse.py` beside it (moto's own
    packing adds a copy of AWS's module; the embedded AWS gives every inline function the same one)."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("index.py", code)
        zipped.writestr("cfnresponse.py", CFNRESPONSE.read_text())
    return archive.getvalue()


def register() -> None:
    """Make moto's CloudFormation create custom resources with `CustomResource`. Idempotent."""
    if _originals:
        return
    _originals["delete"] = ResourceMap.delete
    parsing.CustomModel = CustomResource  # what moto answers for every `Custom::` type
    ResourceMap.delete = _delete_custom_first
    LambdaFunction._create_zipfile_from_plaintext_code = staticmethod(_inline_zip)


def install(router: Router | None) -> None:
    """Send custom resource requests through `router` (the running embedded AWS; None: stop)."""
    global _router  # noqa: PLW0603 - moto's models are process-wide, so is the route
    register()
    _router = router
