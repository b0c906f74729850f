"""Ready means ready (DESIGN.md D14): functions run the moment moto creates them, stacks complete last.

- A Lambda function becomes runnable in the local runtime inside moto's `CreateFunction` (through the API or
  CloudFormation), and follows `UpdateFunctionCode`/`UpdateFunctionConfiguration`/`DeleteFunction`. So a
  subscription or notification created after it (CloudFormation creates dependents later) can never reach a
  function the runtime does not know.
- A stack turns `CREATE_COMPLETE` only after the embedded AWS's readiness checks (event source pollers
  running, queue visibility timeouts long enough). Until then another client sees `CREATE_IN_PROGRESS`, as
  moto's `CreateStack` runs in its request thread while the server answers others.
- A stack whose creation fails rolls back as CloudFormation does: what was created is deleted and the stack
  ends `ROLLBACK_COMPLETE`; the `CreateStack` call itself fails with the reason (moto creates synchronously).
- While a stack is created, another request sees no outputs and only the resources already made: moto's
  lazy resource map created a resource when read, so a DescribeStacks could create one out of order.
- A resource is created after everything it `DependsOn`, also when it is created early because another
  resource's Ref or GetAtt names it (moto's lazy map honoured DependsOn only in its own walk, so a bucket
  named by a function's environment was created before the topic policy its notification needs).
- A resource whose `Condition` is false is not part of the stack: moto kept it as an empty entry, which
  `ListStackResources`/`DescribeStackResources` returned with a blank logical id and type.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Protocol

from moto.awslambda.models import LambdaBackend, LambdaFunction
from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.models import Stack as FakeStack
from moto.cloudformation.parsing import ResourceMap

from embedded_aws import endpoints, iam

log = logging.getLogger(__name__)


class Lifecycle(Protocol):
    """What the hooks call: the running embedded AWS."""

    def function_created(self, function: LambdaFunction) -> None: ...

    def function_deleted(self, name: str) -> None: ...

    def stack_ready(self, stack: FakeStack) -> None: ...


_router: Lifecycle | None = None
_originals: dict[str, Any] = {}


def _create_function(self: LambdaBackend, spec: dict[str, Any]) -> LambdaFunction:
    iam.check_function(spec)
    function: LambdaFunction = _originals["create_function"](self, spec)
    latest = self.get_function(spec["FunctionName"])
    latest.dead_letter_config = spec.get("DeadLetterConfig") or {}
    if _router is not None:
        _router.function_created(latest)
    return function


def _update_function_code(
    self: LambdaBackend, function_name: str, qualifier: str, body: dict[str, Any]
) -> Any:
    result = _originals["update_function_code"](self, function_name, qualifier, body)
    if _router is not None:
        _router.function_created(self.get_function(function_name))
    return result


def _update_function_configuration(
    self: LambdaBackend, function_name: str, qualifier: str, body: dict[str, Any]
) -> Any:
    if "Role" in body or "DeadLetterConfig" in body:
        before = self.get_function(function_name)
        iam.check_function({"Role": before.role, "DeadLetterConfig": before.dead_letter_config, **body})
    result = _originals["update_function_configuration"](self, function_name, qualifier, body)
    function = self.get_function(function_name)
    if "DeadLetterConfig" in body:
        function.dead_letter_config = body["DeadLetterConfig"] or {}
    if _router is not None:
        _router.function_created(function)
    return result


def _delete_function(self: LambdaBackend, function_name: str, qualifier: str | None = None) -> None:
    name = self.get_function(function_name).function_name if qualifier is None else None
    _originals["delete_function"](self, function_name, qualifier)
    if name is not None and _router is not None:
        _router.function_deleted(name)


def _cfn_create_function(
    cls: type, /, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kw: Any
) -> Any:
    # moto's model drops DeadLetterConfig (and the API path keeps it): keep it for asynchronous invocations.
    # It drops Layers as well.
    function = _originals["cfn_create_function"](
        cls, resource_name, cloudformation_json, account_id, region_name, **kw
    )
    properties = cloudformation_json.get("Properties", {})
    function.dead_letter_config = properties.get("DeadLetterConfig") or {}
    if function.dead_letter_config:
        iam.check_function({"Role": function.role, "DeadLetterConfig": function.dead_letter_config})
    if properties.get("Layers"):  # moto's model drops them too: the runtime puts them on sys.path
        arns = [str(getattr(layer, "arn", layer)) for layer in properties["Layers"]]  # a Ref may be the model
        function.layers = function._get_layers_data(arns)
        if _router is not None:
            _router.function_created(function)
    return function


def _create_event_source_mapping(self: LambdaBackend, spec: dict[str, Any]) -> Any:
    function = self._lambdas.get_function_by_name_or_arn_with_qualifier(spec.get("FunctionName", ""))
    iam.check_event_source(function.role, str(spec.get("EventSourceArn") or ""))
    return _originals["create_event_source_mapping"](self, spec)


def _mark_creation_complete(self: FakeStack) -> None:
    # Outputs resolve now, as CloudFormation resolves them before CREATE_COMPLETE: one that cannot (a
    # custom resource's GetAtt of a key its response lacks) fails the create and rolls it back.
    _originals["outputs"].fget(self)
    if _router is not None:
        _router.stack_ready(self)
    _originals["mark_creation_complete"](self)


def _create_resources(self: FakeStack) -> None:
    try:
        _originals["create_resources"](self)
    except Exception as exc:
        _roll_back(self, exc)
        if isinstance(exc, ValidationError):
            raise
        raise ValidationError(message=f"Stack {self.name} failed to create: {exc}") from exc


def _roll_back(stack: FakeStack, cause: Exception) -> None:
    """Delete what was created, as CloudFormation rolls back a failed create: ends ROLLBACK_COMPLETE."""
    stack.status = "ROLLBACK_IN_PROGRESS"
    stack._add_stack_event("ROLLBACK_IN_PROGRESS", resource_status_reason=str(cause))
    try:
        stack.resource_map.delete()
    except Exception:
        log.exception("Rolling back stack %s left resources behind", stack.name)
    stack.status = "ROLLBACK_COMPLETE"
    stack._add_stack_event("ROLLBACK_COMPLETE")


def _parse_template(template: str) -> dict[str, Any]:
    """A JSON template body read as JSON; YAML as moto reads it. moto tries PyYAML's pure-Python loader on
    every body first, about a third of a second for a translated SAM template (the deploy sends JSON)."""
    if template.lstrip().startswith("{"):
        try:
            document = json.loads(template)
        except json.JSONDecodeError:
            pass  # YAML in flow style, or broken: moto's reading decides
        else:
            if isinstance(document, dict):
                return document
    parsed: dict[str, Any] = _originals["parse_template"](template)
    return parsed


def install(router: Lifecycle) -> None:
    """Hook moto's Lambda backend and CloudFormation stacks to `router`. Idempotent."""
    global _router  # noqa: PLW0603 - moto's models are process-wide, so is the route
    _router = router
    if _originals:
        return
    _originals["create_function"] = LambdaBackend.create_function
    _originals["update_function_code"] = LambdaBackend.update_function_code
    _originals["update_function_configuration"] = LambdaBackend.update_function_configuration
    _originals["delete_function"] = LambdaBackend.delete_function
    _originals["create_event_source_mapping"] = LambdaBackend.create_event_source_mapping
    _originals["cfn_create_function"] = LambdaFunction.create_from_cloudformation_json.__func__
    _originals["mark_creation_complete"] = FakeStack.mark_creation_complete
    _originals["create_resources"] = FakeStack.create_resources
    _originals["parse_template"] = FakeStack.parse_template
    LambdaBackend.create_function = _create_function
    LambdaBackend.update_function_code = _update_function_code
    LambdaBackend.update_function_configuration = _update_function_configuration
    LambdaBackend.delete_function = _delete_function
    LambdaBackend.create_event_source_mapping = _create_event_source_mapping
    LambdaFunction.create_from_cloudformation_json = classmethod(_cfn_create_function)
    FakeStack.mark_creation_complete = _mark_creation_complete
    FakeStack.create_resources = _create_resources
    FakeStack.parse_template = staticmethod(_parse_template)
    FakeStack.stack_resources = property(_stack_resources)
    _originals["resource"] = ResourceMap.__getitem__
    ResourceMap.__getitem__ = _resource_after_its_dependencies
    _originals["outputs"] = FakeStack.outputs
    FakeStack.outputs = property(_outputs)


#: Stack states in which moto's lazy resource map must not be read whole: it would create what is missing
#: (being created, or deleted by a rollback; a custom resource would invoke its function again).
_UNFINISHED = ("CREATE_IN_PROGRESS", "ROLLBACK_IN_PROGRESS", "ROLLBACK_COMPLETE")


def _resource_after_its_dependencies(self: ResourceMap, key: str) -> Any:
    """moto's lazy resource lookup, creating what a resource `DependsOn` before the resource itself."""
    if key not in self._parsed_resources:
        resource_json = self._resource_json_map.get(key)
        depends_on = resource_json.get("DependsOn", []) if isinstance(resource_json, dict) else []
        for dependency in [depends_on] if isinstance(depends_on, str) else depends_on:
            if dependency in self._resource_json_map:
                self[dependency]
    return _originals["resource"](self, key)


def _stack_resources(self: FakeStack) -> list[Any]:
    if self.status in _UNFINISHED:
        # Reading a resource of moto's lazy map creates it: another request (DescribeStackResources) must
        # only see what the creating thread made, never create out of dependency order (a bucket before the
        # permission its notification needs).
        parsed = self.resource_map._parsed_resources
        made = [parsed.get(logical_id) for logical_id in self.resource_map.resources]
        return [resource for resource in made if resource is not None and not isinstance(resource, str)]
    return [resource for resource in self.resource_map.values() if resource is not None]


def _outputs(self: FakeStack) -> list[dict[str, Any]] | None:
    """No outputs while the stack is being created, as on AWS (moto resolved them, creating the resources
    they name in another request's thread, out of dependency order); none for a rolled-back stack either."""
    if self.status in _UNFINISHED:
        return None
    # An HTTP API's or a distribution's AWS URL resolves nowhere here: give its local URL.
    return endpoints.rewrite(_originals["outputs"].fget(self))  # type: ignore[no-any-return]


def uninstall() -> None:
    """Stop routing (the hooks stay, and do nothing, until the next `install`)."""
    global _router  # noqa: PLW0603
    _router = None
