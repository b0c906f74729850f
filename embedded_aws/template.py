"""Turn a SAM template into the CloudFormation template the embedded AWS deploys (DESIGN.md D1, D3).

The same file that `sam deploy` takes: local `CodeUri` and `DefinitionUri` paths resolve relative to the
template; SAM is translated by aws-sam-translator; every resulting resource type must be one the embedded
AWS can honour, or the deploy stops before anything is created.
"""

from __future__ import annotations

import copy
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from embedded_aws.errors import TemplateError, UnsupportedResourceError
from embedded_aws.events import check_template as check_eventbridge

#: The AWS managed policies a template may name, so translation never calls IAM.
MANAGED_POLICIES = {
    name: f"arn:aws:iam::aws:policy/{path}{name}"
    for name, path in {
        "AWSLambdaBasicExecutionRole": "service-role/",
        "AWSLambdaSQSQueueExecutionRole": "service-role/",
        "AWSLambdaRole": "service-role/",
        "AWSXrayWriteOnlyAccess": "",
        "AWSXRayDaemonWriteAccess": "",
        "AWSLambdaExecute": "",
        "CloudWatchLambdaInsightsExecutionRolePolicy": "",
        "AmazonS3ReadOnlyAccess": "",
        "AmazonDynamoDBReadOnlyAccess": "",
        "CloudWatchLogsFullAccess": "",
    }.items()
}

_SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
#: moto's default account: what `AWS::AccountId` is on the embedded AWS.
LOCAL_ACCOUNT_ID = "123456789012"


class _CfnLoader(yaml.SafeLoader):
    """YAML loader that understands CloudFormation's short-form intrinsics (`!Ref`, `!GetAtt`, ...)."""


def _intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag_suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path) -> dict[str, Any]:
    """Read a CloudFormation or SAM template (YAML or JSON)."""
    try:
        document = yaml.load(path.read_text(), Loader=_CfnLoader)
    except (OSError, yaml.YAMLError) as exc:
        raise TemplateError(f"Cannot read template {path}: {exc}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("Resources"), dict):
        raise TemplateError(f"{path} is not a CloudFormation template: it has no Resources section.")
    return document


@dataclass
class FunctionCode:
    """Where a function's code lives on this machine."""

    logical_id: str
    code_dir: Path


@dataclass
class DeployPlan:
    """What to send to CloudFormation, and what the local runtime needs to know."""

    template: dict[str, Any]
    functions: dict[str, FunctionCode] = field(default_factory=dict)
    artifact_bucket: str = "embedded-aws-artifacts"

    @property
    def body(self) -> str:
        return json.dumps(self.template)


def _is_local_path(value: Any) -> bool:
    return isinstance(value, str) and not value.startswith("s3://")


def _resolve_dir(base: Path, value: str, what: str) -> Path:
    path = (base / value).resolve()
    if not path.exists():
        raise TemplateError(f"{what} points at {path}, which does not exist.")
    return path


def _prepare_sam(sam: dict[str, Any], base: Path, plan: DeployPlan, inline_dir: Path) -> None:
    """Replace local paths with what translation and moto accept, remembering where the code is."""
    global_fn = sam.get("Globals", {}).get("Function", {})
    for logical_id, resource in sam["Resources"].items():
        kind = resource.get("Type")
        props = resource.setdefault("Properties", {})
        if kind == "AWS::Serverless::Function":
            if props.get("PackageType") == "Image":
                raise UnsupportedResourceError(
                    f"Function {logical_id} is a container image (PackageType: Image); the embedded AWS runs "
                    "zip functions only, because it runs no Docker."
                )
            code_uri = props.get("CodeUri", global_fn.get("CodeUri"))
            if "InlineCode" in props:
                code_dir = inline_dir / logical_id
                code_dir.mkdir(parents=True, exist_ok=True)
                (code_dir / "index.py").write_text(props["InlineCode"])
            elif _is_local_path(code_uri):
                code_dir = _resolve_dir(base, code_uri, f"Function {logical_id}'s CodeUri")
                props["CodeUri"] = {"Bucket": plan.artifact_bucket, "Key": f"{logical_id}.zip"}
            else:
                raise TemplateError(
                    f"Function {logical_id} has CodeUri {code_uri!r}; the embedded AWS runs code from a "
                    "local "
                    "directory (a path relative to the template)."
                )
            plan.functions[logical_id] = FunctionCode(logical_id, code_dir)
        elif kind == "AWS::Serverless::StateMachine":
            uri = props.pop("DefinitionUri", None)
            if uri is not None:
                if not _is_local_path(uri):
                    raise TemplateError(
                        f"State machine {logical_id} has DefinitionUri {uri!r}; use a local file path."
                    )
                path = _resolve_dir(base, uri, f"State machine {logical_id}'s DefinitionUri")
                props["Definition"] = yaml.load(path.read_text(), Loader=_CfnLoader)
        elif kind == "AWS::Serverless::LayerVersion":
            raise UnsupportedResourceError(
                f"{logical_id} is an AWS::Serverless::LayerVersion: layers are not supported by the embedded "
                "AWS yet; put the code in the function's CodeUri."
            )


def _translate(sam: dict[str, Any], parameters: dict[str, str], region: str) -> dict[str, Any]:
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.translator.transform import transform

    class _Policies:
        def load(self) -> dict[str, str]:
            return MANAGED_POLICIES

    # The translator warns about its own usage metrics on every call; they are not ours to publish.
    logging.getLogger("samtranslator.metrics.metrics").setLevel(logging.ERROR)
    previous = os.environ.get("AWS_DEFAULT_REGION")
    os.environ["AWS_DEFAULT_REGION"] = region
    try:
        result: dict[str, Any] = transform(sam, parameters, _Policies())
    except InvalidDocumentException as exc:
        details = "; ".join(str(cause) for cause in exc.causes)
        raise TemplateError(f"SAM could not translate the template: {details}") from exc
    finally:
        if previous is None:
            os.environ.pop("AWS_DEFAULT_REGION", None)
        else:
            os.environ["AWS_DEFAULT_REGION"] = previous
    return result


def _evaluate(expr: Any, template: dict[str, Any], values: dict[str, Any]) -> Any:
    """Evaluate a condition expression (Fn::Equals/And/Or/Not/If, Condition, Ref to parameters)."""
    if not isinstance(expr, dict) or len(expr) != 1:
        return expr
    ((name, arg),) = expr.items()
    if name == "Ref":
        if arg not in values:
            raise TemplateError(f"A Condition refers to {arg!r}, which is not a parameter.")
        return values[arg]
    if name == "Condition":
        return _evaluate(template["Conditions"][arg], template, values)
    if name == "Fn::Equals":
        left, right = (_evaluate(a, template, values) for a in arg)
        return str(left) == str(right)
    if name == "Fn::Not":
        return not _evaluate(arg[0], template, values)
    if name == "Fn::And":
        return all(_evaluate(a, template, values) for a in arg)
    if name == "Fn::Or":
        return any(_evaluate(a, template, values) for a in arg)
    raise TemplateError(f"Cannot evaluate {name} in a Condition.")


def condition_values(
    template: dict[str, Any], parameters: dict[str, str], pseudo: dict[str, str]
) -> dict[str, bool]:
    """Each Condition's value for these parameters."""
    values: dict[str, Any] = dict(pseudo)
    for name, spec in template.get("Parameters", {}).items():
        values[name] = parameters.get(name, spec.get("Default"))
    return {
        name: bool(_evaluate(expr, template, values)) for name, expr in template.get("Conditions", {}).items()
    }


def check_supported(
    template: dict[str, Any], supported: set[str], conditions: dict[str, bool] | None = None
) -> None:
    """Refuse a template with any resource type the embedded AWS cannot create: nothing is skipped silently.

    A resource whose Condition is false is not created, so it is not checked either.
    """
    conditions = conditions or {}
    unsupported: dict[str, list[str]] = {}
    for logical_id, resource in template["Resources"].items():
        kind = resource.get("Type", "")
        if "Condition" in resource and not conditions.get(resource["Condition"], True):
            continue
        if (
            kind.startswith("Custom::")
            or kind == "AWS::CloudFormation::CustomResource"
            or kind not in supported
        ):
            unsupported.setdefault(kind, []).append(logical_id)
    if unsupported:
        listing = "; ".join(f"{kind} ({', '.join(ids)})" for kind, ids in sorted(unsupported.items()))
        raise UnsupportedResourceError(
            f"The embedded AWS cannot create these resource types: {listing}. Remove them, put them behind a "
            "Condition that is false locally, or add support in embedded_aws/cfn_models.py."
        )
    for logical_id, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        if resource.get("Type") == "AWS::Lambda::EventSourceMapping":
            unhonoured = sorted(set(props) & UNSUPPORTED_MAPPING_PROPERTIES)
            if unhonoured:
                raise UnsupportedResourceError(
                    f"Event source mapping {logical_id} sets {', '.join(unhonoured)}, which the embedded AWS "
                    "does not honour yet; remove it or filter in the function."
                )


#: Event source mapping properties that change delivery and that the local pollers do not implement.
UNSUPPORTED_MAPPING_PROPERTIES = {"DestinationConfig", "BisectBatchOnFunctionError"}


def plan_deploy(
    path: Path,
    *,
    parameters: dict[str, str] | None = None,
    region: str = "us-east-1",
    supported: set[str],
    work_dir: Path,
) -> DeployPlan:
    """Read, prepare, translate and check a template; the result is ready for `create_stack`."""
    source = load_template(path)
    template = copy.deepcopy(source)
    plan = DeployPlan(template={})
    transforms = template.get("Transform", [])
    transforms = [transforms] if isinstance(transforms, str) else transforms
    if _SAM_TRANSFORM in transforms:
        _prepare_sam(template, path.parent.resolve(), plan, work_dir / "inline")
        template = _translate(template, parameters or {}, region)
    elif transforms:
        raise UnsupportedResourceError(
            f"Template transforms {transforms} are not supported; only {_SAM_TRANSFORM}."
        )
    template.pop("Transform", None)
    pseudo = {"AWS::Region": region, "AWS::AccountId": LOCAL_ACCOUNT_ID, "AWS::Partition": "aws"}
    conditions = condition_values(template, parameters or {}, pseudo)
    check_eventbridge(template, conditions)  # names the EventBridge feature refused (events.py)
    check_supported(template, supported, conditions)
    plan.template = template
    return plan
