"""Turn a SAM template into the CloudFormation template the embedded AWS deploys (DESIGN.md D1, D3).

The same file that `sam deploy` takes: local `CodeUri` and `DefinitionUri` paths resolve relative to the
template; SAM is translated by aws-sam-translator; every resulting resource type must be one the embedded
AWS can honour, or the deploy stops before anything is created.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import os
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from embedded_aws import custom_resources, limits
from embedded_aws.cloudfront import check_template as check_cloudfront
from embedded_aws.errors import TemplateError, UnsupportedResourceError
from embedded_aws.events import check_template as check_eventbridge
from embedded_aws.interpreters import HOST_LAYER_VARIABLE

log = logging.getLogger(__name__)

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


#: libyaml's parser when PyYAML has it (five times faster on a template, same documents), else PyYAML's.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _CfnLoader(_SafeLoader):  # type: ignore[valid-type,misc]
    """YAML as CloudFormation reads it: YAML 1.1 scalars (so `yes`/`no`/`on`/`off` are booleans, numbers are
    numbers), but no timestamp type (an unquoted `2010-09-09` stays the text it is), short-form intrinsics
    (`!Ref`, `!GetAtt a.b.c`, ...), and the last of duplicate keys wins (as SAM CLI's parser keeps it)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        # Keys are text to CloudFormation: DynamoDB JSON's `NULL: true` in a state machine Definition keeps
        # its key `NULL` (YAML 1.1 would make it null, so `None`), as `on:`/`yes:` keys stay text.
        for key_node, _ in node.value:
            plain = isinstance(key_node, yaml.ScalarNode) and not key_node.style
            if plain and key_node.tag in _TEXT_KEY_TAGS:
                key_node.tag = "tag:yaml.org,2002:str"
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


_TEXT_KEY_TAGS = ("tag:yaml.org,2002:null", "tag:yaml.org,2002:bool")


# CloudFormation has no YAML timestamp type: dates stay strings (as cfn-lint and SAM CLI read them).
_CfnLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if tag_suffix == "Ref" else "Condition" if tag_suffix == "Condition" else f"Fn::{tag_suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag_suffix == "GetAtt" and isinstance(value, str):
            # CloudFormation splits at the first dot only: `!GetAtt Stack.Outputs.X` → [Stack, Outputs.X]
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


def _plain(value: Any) -> Any:
    """Values as CloudFormation holds them once parsed: JSON types only (a YAML date would not serialise)."""
    if isinstance(value, dict):
        return {str(k) if not isinstance(k, str) else k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def load_template(path: Path) -> dict[str, Any]:
    """Read a CloudFormation or SAM template (YAML or JSON)."""
    try:
        document = _plain(yaml.load(path.read_text(), Loader=_CfnLoader))
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
    key: str = ""  # where the deploy stages its code zip in the artifact bucket


@dataclass
class DeployPlan:
    """What to send to CloudFormation, and what the local runtime needs to know."""

    template: dict[str, Any]
    functions: dict[str, FunctionCode] = field(default_factory=dict)
    #: Layers the template builds from a local ContentUri: staged like function code.
    layers: dict[str, FunctionCode] = field(default_factory=dict)
    artifact_bucket: str = "embedded-aws-artifacts"
    #: Unique per deploy, so two stacks' functions of the same logical id never share a code zip.
    plan_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

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
            key = f"{plan.plan_id}/{logical_id}.zip"
            if "InlineCode" in props:
                code_dir = inline_dir / plan.plan_id / logical_id
                code_dir.mkdir(parents=True, exist_ok=True)
                (code_dir / "index.py").write_text(props.pop("InlineCode"))
                custom_resources.add_cfnresponse(code_dir)  # as AWS provides it to inline code
                props["CodeUri"] = {"Bucket": plan.artifact_bucket, "Key": key}
            elif _is_local_path(code_uri):
                code_dir = _resolve_dir(base, code_uri, f"Function {logical_id}'s CodeUri")
                # Functions sharing a code directory share its staged zip, as `sam package` uploads one.
                key = f"{plan.plan_id}/code-{hashlib.sha256(str(code_dir).encode()).hexdigest()[:16]}.zip"
                props["CodeUri"] = {"Bucket": plan.artifact_bucket, "Key": key}
            else:
                raise TemplateError(
                    f"Function {logical_id} has CodeUri {code_uri!r}; the embedded AWS runs code from a "
                    "local "
                    "directory (a path relative to the template)."
                )
            plan.functions[logical_id] = FunctionCode(logical_id, code_dir, key)
        elif kind == "AWS::Serverless::StateMachine":
            uri = props.pop("DefinitionUri", None)
            if uri is not None:
                if not _is_local_path(uri):
                    raise TemplateError(
                        f"State machine {logical_id} has DefinitionUri {uri!r}; use a local file path."
                    )
                path = _resolve_dir(base, uri, f"State machine {logical_id}'s DefinitionUri")
                props["Definition"] = _definition(path)
        elif kind == "AWS::Serverless::LayerVersion":
            content_uri = props.get("ContentUri")
            if not _is_local_path(content_uri):
                raise TemplateError(
                    f"Layer {logical_id} has ContentUri {content_uri!r}; the embedded AWS builds layers from "
                    "a local directory (a path relative to the template)."
                )
            layer_dir = _resolve_dir(base, content_uri, f"Layer {logical_id}'s ContentUri")
            key = f"{plan.plan_id}/layer-{logical_id}.zip"
            props["ContentUri"] = {"Bucket": plan.artifact_bucket, "Key": key}
            plan.layers[logical_id] = FunctionCode(logical_id, layer_dir, key)


def _definition(path: Path) -> Any:
    """A state machine definition file: JSON (Amazon States Language's own format) read as JSON, else YAML."""
    text = path.read_text()
    if text.lstrip().startswith("{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            pass  # YAML flow style, or broken JSON: YAML reads it or says why not
    return _plain(yaml.load(text, Loader=_CfnLoader))


def warm_up() -> None:
    """Import the SAM translator (0.7 s of CPU, most of it its schema's pydantic models): `EmbeddedAws.start`
    has it done beside the server's start, instead of inside the first deploy."""
    import samtranslator.translator.transform  # noqa: F401


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
        if not custom_resources.is_custom(kind) and kind not in supported:
            unsupported.setdefault(kind, []).append(logical_id)
    if unsupported:
        listing = "; ".join(f"{kind} ({', '.join(ids)})" for kind, ids in sorted(unsupported.items()))
        raise UnsupportedResourceError(
            f"The embedded AWS cannot create these resource types: {listing}. Remove them, put them behind a "
            "Condition that is false locally, or add support in embedded_aws/cfn_models.py."
        )
    for logical_id, resource in template["Resources"].items():
        if "Condition" in resource and not conditions.get(resource["Condition"], True):
            continue
        problem = _unhonoured(logical_id, resource.get("Type", ""), resource.get("Properties") or {})
        if custom_resources.is_custom(resource.get("Type", "")):  # Lambda-backed only (custom_resources.py)
            problem = custom_resources.template_problem(logical_id, resource, template["Resources"])
        if problem:
            raise UnsupportedResourceError(problem)


#: Event source mapping properties that change delivery and that the local pollers do not implement.
UNSUPPORTED_MAPPING_PROPERTIES = {"DestinationConfig", "BisectBatchOnFunctionError"}

#: Lambda function properties that would change what the code can do or how it is delivered, and that the
#: local runtime cannot honour. Others (Architectures, EphemeralStorage, VpcConfig, TracingConfig, SnapStart,
#: LoggingConfig, KmsKeyArn, RuntimeManagementConfig) change nothing a handler can observe locally.
_UNSUPPORTED_FUNCTION_PROPERTIES = {
    "CodeSigningConfigArn": "code signing cannot be verified locally; remove it for local runs",
    "FileSystemConfigs": "EFS file systems cannot be mounted locally",
    "ImageConfig": "container image functions need Docker, which the embedded AWS does not run",
}


def _unhonoured(logical_id: str, kind: str, props: dict[str, Any]) -> str | None:
    """Why the embedded AWS cannot honour this resource's properties (a sentence naming both), or None."""
    if kind == "AWS::Lambda::EventSourceMapping":
        unhonoured = sorted(set(props) & UNSUPPORTED_MAPPING_PROPERTIES)
        if unhonoured:
            return (
                f"Event source mapping {logical_id} sets {', '.join(unhonoured)}, which the embedded AWS "
                "does not honour yet; remove it or filter in the function."
            )
    problem = _unhonoured_property(kind, props)
    return f"{logical_id} ({kind}) {problem}" if problem else None


#: Public layers whose packages the host's environment provides, by the account and name AWS publishes
#: them under, with the module that must be importable here.
PUBLIC_LAYERS = {
    re.compile(
        r"^arn:aws[\w-]*:lambda:(?:\$\{AWS::Region\}|[\w-]+):017000801446:layer:AWSLambdaPowertoolsPython"
    ): ("aws_lambda_powertools"),
}


def _layer_text(layer: Any) -> str | None:
    """A layer reference as text: a literal ARN, or the pattern of an `Fn::Sub` one; None for a Ref/GetAtt."""
    if isinstance(layer, str):
        return layer
    sub = layer.get("Fn::Sub") if isinstance(layer, dict) else None
    if isinstance(sub, list) and sub:
        sub = sub[0]
    return sub if isinstance(sub, str) else None


def _host_provided_layers(template: dict[str, Any]) -> None:
    """Drop the public layers the host provides from functions' `Layers` (moto knows no other account's
    layers): a function using one runs on the host's Python, where the layer's package is importable."""
    import importlib.util

    for logical_id, resource in template.get("Resources", {}).items():
        props = resource.get("Properties") or {}
        if resource.get("Type") != "AWS::Lambda::Function" or not isinstance(props.get("Layers"), list):
            continue
        kept = []
        for layer in props["Layers"]:
            text = _layer_text(layer) or ""
            module = next((m for p, m in PUBLIC_LAYERS.items() if p.match(text)), None)
            if module is None:
                kept.append(layer)
            elif importlib.util.find_spec(module) is None:
                raise UnsupportedResourceError(
                    f"{logical_id} uses the public layer {layer}, whose package {module} is not installed "
                    "here; install it in the environment that runs the embedded AWS."
                )
            else:
                log.info("Function %s: layer %s comes from the host's %s", logical_id, layer, module)
                props.setdefault("Environment", {}).setdefault("Variables", {})[HOST_LAYER_VARIABLE] = module
        props["Layers"] = kept


def _unhonoured_property(kind: str, props: dict[str, Any]) -> str | None:
    if kind.startswith("AWS::ApiGatewayV2::"):
        from embedded_aws import apigateway

        return apigateway.unhonoured(kind, props)
    if kind == "AWS::Lambda::Function":
        for layer in props.get("Layers") or []:
            arn = _layer_text(layer)
            if arn is not None:
                return (
                    f"property Layers: {arn} is not a layer this template builds; the embedded AWS runs "
                    "layers from a local ContentUri (of public layers, only Powertools', from the host's "
                    "environment)."
                )
        for name, why in _UNSUPPORTED_FUNCTION_PROPERTIES.items():
            if props.get(name):
                return f"property {name}: {why}."
        code = props.get("Code") or {}
        if props.get("PackageType") == "Image" or (isinstance(code, dict) and "ImageUri" in code):
            return (
                "property Code.ImageUri (PackageType: Image): container image functions need Docker, which "
                "the embedded AWS does not run; deploy a zip function (CodeUri)."
            )
        runtime = props.get("Runtime")
        if isinstance(runtime, str) and not runtime.startswith("python3"):
            return (
                f"property Runtime: {runtime} functions cannot run locally; the embedded AWS runs Python "
                "functions (python3.x) only."
            )
    if kind == "AWS::Lambda::EventInvokeConfig" and props.get("DestinationConfig"):
        return (
            "property DestinationConfig: asynchronous invocation destinations are not supported by the "
            "embedded AWS yet; use the function's DeadLetterConfig."
        )
    return None


#: Transforms CloudFormation runs that the embedded AWS does not (macros expand templates in ways we cannot).
_REFUSED_TRANSFORMS = {
    "AWS::LanguageExtensions": "Fn::ForEach, Fn::Length, Fn::ToJsonString and intrinsic DeletionPolicy",
    "AWS::Include": "template snippets fetched from S3",
    "AWS::CodeDeployBlueGreen": "ECS blue/green deployments",
    "AWS::SecretsManager-2020-07-23": "secret rotation functions",
    "AWS::ServiceCatalog": "Service Catalog provisioning",
}


def _transforms(template: dict[str, Any]) -> list[str]:
    """The template's `Transform` section as a list (CloudFormation takes one name or a list)."""
    transforms = template.get("Transform", [])
    transforms = [transforms] if isinstance(transforms, str) else transforms
    if not isinstance(transforms, list) or not all(isinstance(t, str) for t in transforms):
        raise TemplateError(f"Transform must be a name or a list of names, not {transforms!r}.")
    for name in transforms:
        if name == _SAM_TRANSFORM:
            continue
        what = _REFUSED_TRANSFORMS.get(name, "a macro")
        raise UnsupportedResourceError(
            f"Transform {name} ({what}) is not supported by the embedded AWS; only {_SAM_TRANSFORM} is. "
            "Expand it by hand, or deploy the template CloudFormation returns for it "
            "(`aws cloudformation get-template --template-stage Processed`)."
        )
    return transforms


def check_parameters(template: dict[str, Any], parameters: dict[str, str]) -> None:
    """Refuse missing or invalid parameter values with CloudFormation's own ValidationError wording."""
    declared: dict[str, Any] = template.get("Parameters") or {}
    missing = [name for name, spec in declared.items() if name not in parameters and "Default" not in spec]
    if missing:
        raise TemplateError(
            f"Parameters: [{', '.join(missing)}] must have values (pass them as parameters, e.g. "
            f"--param {missing[0]}=VALUE).",
            reason="missing_parameters",
        )
    for name, spec in declared.items():
        value = str(parameters[name]) if name in parameters else spec.get("Default")
        if value is None or spec.get("Type", "String") != "String":
            continue
        value = str(value)
        allowed = spec.get("AllowedValues")
        if allowed is not None and value not in [str(a) for a in allowed]:
            raise TemplateError(
                f"Parameter '{name}' must be one of AllowedValues", reason="invalid_parameter"
            )
        pattern = spec.get("AllowedPattern")
        if pattern is not None and re.fullmatch(str(pattern), value) is None:
            raise TemplateError(
                f"Parameter '{name}' must match pattern {pattern}", reason="invalid_parameter"
            )
        if "MinLength" in spec and len(value) < int(spec["MinLength"]):
            raise TemplateError(
                f"Parameter '{name}' must contain at least {spec['MinLength']} characters",
                reason="invalid_parameter",
            )
        if "MaxLength" in spec and len(value) > int(spec["MaxLength"]):
            raise TemplateError(
                f"Parameter '{name}' must contain at most {spec['MaxLength']} characters",
                reason="invalid_parameter",
            )


def plan_deploy(
    path: Path,
    *,
    parameters: dict[str, str] | None = None,
    region: str = "us-east-1",
    supported: set[str],
    work_dir: Path,
) -> DeployPlan:
    """Read, prepare, translate and check a template; the result is ready for `create_stack`.

    Everything that would make CloudFormation refuse the stack, or that the embedded AWS cannot honour, is
    refused here, before anything is created.
    """
    parameters = dict(parameters or {})
    template = load_template(path)  # freshly parsed: ours to change
    plan = DeployPlan(template={})
    transforms = _transforms(template)
    check_parameters(template, parameters)
    if _SAM_TRANSFORM in transforms:
        template["Transform"] = _SAM_TRANSFORM
        _prepare_sam(template, path.parent.resolve(), plan, work_dir / "inline")
        template = _translate(template, parameters, region)
    template.pop("Transform", None)
    pseudo = {"AWS::Region": region, "AWS::AccountId": LOCAL_ACCOUNT_ID, "AWS::Partition": "aws"}
    conditions = condition_values(template, parameters, pseudo)
    check_eventbridge(template, conditions)  # names the EventBridge feature refused (events.py)
    check_cloudfront(template, conditions)  # edge code (Lambda@Edge, CloudFront Functions) is refused
    _host_provided_layers(template)
    check_supported(template, supported, conditions)
    unhonoured = limits.unhonoured_properties(template, conditions)
    if unhonoured:
        raise UnsupportedResourceError(
            f"The embedded AWS cannot honour {'; '.join(unhonoured)}. Remove them, or put them behind a "
            "Condition that is false locally."
        )
    for note in limits.not_performed(template, conditions):
        log.warning("Stored but not performed locally: %s", note)
    plan.template = template
    return plan
