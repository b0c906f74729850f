"""CloudFormation resource types that moto's CloudFormation skips or only half creates.

moto's `create_stack` finds resource types through the direct subclasses of `CloudFormationModel`, so
defining a subclass here registers the type (DESIGN.md D3). Properties arrive with intrinsics already
resolved by moto (`Ref`, `Fn::GetAtt`, `Fn::Sub`, ...). Each model applies the resource through moto's own
backends, so what it creates is visible through the ordinary AWS APIs.

Where moto's own model ignores properties that change behaviour (an S3 bucket's versioning and event
notifications, a state machine's `DefinitionSubstitutions`), `install()` wraps its create method.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import re
import uuid
from collections.abc import Callable
from typing import Any

from moto.awslambda.models import LayerVersion
from moto.cloudformation import parsing
from moto.cloudformation.exceptions import ValidationError
from moto.cloudwatch.models import Dimension, Metric, MetricDataQuery, MetricStat, cloudwatch_backends
from moto.core.common_models import CloudFormationModel
from moto.iam.models import Role
from moto.s3.models import FakeBucket, s3_backends
from moto.sns.models import sns_backends
from moto.sqs.models import sqs_backends
from moto.stepfunctions.models import StateMachine

from embedded_aws import custom_resources
from embedded_aws.errors import DeployError


def _partition(region: str) -> str:
    return "aws-cn" if region.startswith("cn-") else "aws"


def _as_json_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _is_true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


class _LocalModel:
    """Shared plumbing: a physical id, no attributes unless a subclass says so, no updates.

    Each model lists `CloudFormationModel` itself as a base: moto finds only its direct subclasses.
    """

    physical_id: str

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return False

    @property
    def physical_resource_id(self) -> str:
        return self.physical_id

    def is_created(self) -> bool:
        return True

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> Any:
        return cls.create_from_cloudformation_json(  # type: ignore[attr-defined]
            new_resource_name, cloudformation_json, account_id, region_name
        )

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
    ) -> None:
        return None


class SnsSubscription(_LocalModel, CloudFormationModel):  # type: ignore[misc]  # moto is untyped here
    """`AWS::SNS::Subscription` with FilterPolicy, FilterPolicyScope, RawMessageDelivery, RedrivePolicy."""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SNS::Subscription"

    def __init__(self, arn: str, account_id: str, region: str) -> None:
        self.physical_id = arn
        self.account_id = account_id
        self.region = region

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> SnsSubscription:
        props = cloudformation_json["Properties"]
        topic_arn = props["TopicArn"]
        region = props.get("Region") or topic_arn.split(":")[3]
        backend = sns_backends[account_id][region]
        subscription = backend.subscribe(topic_arn, props["Endpoint"], props["Protocol"])
        # The scope must be set before the policy: the policy is validated against it.
        if "FilterPolicyScope" in props:
            backend.set_subscription_attributes(
                subscription.arn, "FilterPolicyScope", props["FilterPolicyScope"]
            )
        if props.get("FilterPolicy"):
            backend.set_subscription_attributes(
                subscription.arn, "FilterPolicy", _as_json_text(props["FilterPolicy"])
            )
        # moto treats any non-empty value as true, so only a true value is stored.
        if _is_true(props.get("RawMessageDelivery")):
            backend.set_subscription_attributes(subscription.arn, "RawMessageDelivery", "true")
        if props.get("RedrivePolicy"):
            backend.set_subscription_attributes(
                subscription.arn, "RedrivePolicy", _as_json_text(props["RedrivePolicy"])
            )
        return cls(subscription.arn, account_id, region)

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
    ) -> None:
        # At delete time moto passes the template's own JSON (intrinsics unresolved): the region comes from
        # the subscription's ARN, which is the physical id.
        backend = sns_backends[account_id][resource_name.split(":")[3]]
        backend.unsubscribe(resource_name)


class SnsTopicPolicy(_LocalModel, CloudFormationModel):  # type: ignore[misc]  # moto is untyped here
    """`AWS::SNS::TopicPolicy`: sets each topic's `Policy` attribute."""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SNS::TopicPolicy"

    def __init__(self, physical_id: str) -> None:
        self.physical_id = physical_id

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> SnsTopicPolicy:
        props = cloudformation_json["Properties"]
        document = _as_json_text(props["PolicyDocument"])
        for topic_arn in props["Topics"]:
            backend = sns_backends[account_id][topic_arn.split(":")[3]]
            backend.set_topic_attribute(topic_arn, "policy", document)
        return cls(resource_name)


class SqsQueuePolicy(_LocalModel, CloudFormationModel):  # type: ignore[misc]  # moto is untyped here
    """`AWS::SQS::QueuePolicy`: sets each queue's `Policy` attribute (queues are named by URL)."""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SQS::QueuePolicy"

    def __init__(self, physical_id: str) -> None:
        self.physical_id = physical_id

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> SqsQueuePolicy:
        props = cloudformation_json["Properties"]
        document = _as_json_text(props["PolicyDocument"])
        for queue_url in props["Queues"]:
            queue_name = queue_url.rstrip("/").rsplit("/", 1)[-1]
            sqs_backends[account_id][region_name].set_queue_attributes(queue_name, {"Policy": document})
        return cls(resource_name)


class S3BucketPolicy(_LocalModel, CloudFormationModel):  # type: ignore[misc]  # moto is untyped here
    """`AWS::S3::BucketPolicy`: stores the policy on the bucket (moto enforces only its basic parts)."""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::S3::BucketPolicy"

    def __init__(self, physical_id: str) -> None:
        self.physical_id = physical_id

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> S3BucketPolicy:
        props = cloudformation_json["Properties"]
        backend = s3_backends[account_id][_partition(region_name)]
        backend.put_bucket_policy(props["Bucket"], _as_json_text(props["PolicyDocument"]).encode())
        return cls(props["Bucket"])


def _metric_data_queries(metrics: list[dict[str, Any]] | None) -> list[MetricDataQuery] | None:
    """A metric-math alarm's `Metrics` as moto's PutMetricAlarm builds them from the API call."""
    if not metrics:
        return None
    queries = []
    for query in metrics:
        stat = query.get("MetricStat")
        metric_stat = None
        if stat:
            metric = stat["Metric"]
            metric_stat = MetricStat(
                metric=Metric(
                    metric_name=metric["MetricName"],
                    namespace=metric["Namespace"],
                    dimensions=[Dimension(d["Name"], d["Value"]) for d in metric.get("Dimensions", [])],
                ),
                period=stat["Period"],
                stat=stat["Stat"],
                unit=stat.get("Unit"),
            )
        queries.append(
            MetricDataQuery(
                query_id=query["Id"],
                label=query.get("Label"),
                period=query.get("Period"),
                return_data=query.get("ReturnData", True),
                expression=query.get("Expression"),
                metric_stat=metric_stat,
            )
        )
    return queries


class CloudWatchAlarm(_LocalModel, CloudFormationModel):  # type: ignore[misc]  # moto is untyped here
    """`AWS::CloudWatch::Alarm` (single-metric and metric-math alarms), created in moto's CloudWatch."""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudWatch::Alarm"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "AlarmName"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    def __init__(self, name: str, arn: str) -> None:
        self.physical_id = name
        self.arn = arn

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return self.arn

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> CloudWatchAlarm:
        props = cloudformation_json["Properties"]
        alarm = cloudwatch_backends[account_id][region_name].put_metric_alarm(
            name=resource_name,
            namespace=props.get("Namespace"),
            metric_name=props.get("MetricName"),
            metric_data_queries=_metric_data_queries(props.get("Metrics")),
            comparison_operator=props["ComparisonOperator"],
            evaluation_periods=int(props["EvaluationPeriods"]),
            period=int(props.get("Period", 60)),
            threshold=float(props["Threshold"]),
            statistic=props.get("Statistic", "Average"),
            description=props.get("AlarmDescription", ""),
            dimensions=[{"Name": d["Name"], "Value": d["Value"]} for d in props.get("Dimensions", [])],
            alarm_actions=props.get("AlarmActions", []),
            ok_actions=props.get("OKActions", []),
            insufficient_data_actions=props.get("InsufficientDataActions", []),
            datapoints_to_alarm=props.get("DatapointsToAlarm"),
            treat_missing_data=props.get("TreatMissingData"),
        )
        return cls(resource_name, alarm.alarm_arn)


class LambdaEventInvokeConfig(_LocalModel, CloudFormationModel):  # type: ignore[misc]  # moto is untyped here
    """`AWS::Lambda::EventInvokeConfig`: MaximumRetryAttempts and MaximumEventAgeInSeconds of asynchronous
    invocations, honoured by the embedded AWS's asynchronous queue (DestinationConfig: refused at deploy)."""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Lambda::EventInvokeConfig"

    def __init__(self, physical_id: str) -> None:
        self.physical_id = physical_id

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> LambdaEventInvokeConfig:
        from moto.awslambda.utils import get_backend

        props = cloudformation_json["Properties"]
        config = {
            key: int(props[key])
            for key in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds")
            if key in props
        }
        get_backend(account_id, region_name).put_function_event_invoke_config(props["FunctionName"], config)
        return cls(f"{props['FunctionName']}:{props.get('Qualifier', '$LATEST')}")


def _api_filter(cfn_filter: dict[str, Any] | None) -> dict[str, Any] | None:
    """CloudFormation's `Filter.S3Key.Rules` → moto's internal `Filter.S3Key.FilterRule`."""
    if not cfn_filter:
        return None
    rules = cfn_filter.get("S3Key", {}).get("Rules", [])
    return {"S3Key": {"FilterRule": [{"Name": r["Name"].lower(), "Value": r["Value"]} for r in rules]}}


def _notification_config(cfn: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation's `NotificationConfiguration` → the dict moto's bucket model takes."""
    kinds = {
        "TopicConfigurations": ("TopicConfiguration", "Topic", "Topic"),
        "QueueConfigurations": ("QueueConfiguration", "Queue", "Queue"),
        "LambdaConfigurations": ("CloudFunctionConfiguration", "Function", "CloudFunction"),
    }
    config: dict[str, Any] = {}
    for cfn_key, (moto_key, cfn_target, moto_target) in kinds.items():
        entries = []
        for item in cfn.get(cfn_key, []):
            entry: dict[str, Any] = {
                "Id": item.get("Id") or uuid.uuid4().hex,
                moto_target: item[cfn_target],
                "Event": [item["Event"]],
            }
            if item.get("Filter"):
                entry["Filter"] = _api_filter(item["Filter"])
            entries.append(entry)
        if entries:
            config[moto_key] = entries
    if cfn.get("EventBridgeConfiguration", {}).get("EventBridgeEnabled"):
        config["EventBridgeConfiguration"] = {}
    return config


def _apply_bucket_properties(bucket: Any, props: dict[str, Any], account_id: str, region: str) -> None:
    """Apply the bucket properties moto's CloudFormation ignores but that change behaviour."""
    backend = s3_backends[account_id][_partition(region)]
    versioning = props.get("VersioningConfiguration")
    if versioning:
        backend.put_bucket_versioning(bucket.name, versioning["Status"])
    block = props.get("PublicAccessBlockConfiguration")
    if block:
        backend.put_public_access_block(bucket.name, {k: str(_is_true(v)).lower() for k, v in block.items()})
    lifecycle = props.get("LifecycleConfiguration")
    if lifecycle:
        backend.put_bucket_lifecycle_configuration(bucket.name, _lifecycle_rules(lifecycle["Rules"]))
    cors = props.get("CorsConfiguration")
    if cors:
        from embedded_aws.s3_cors import cfn_rules

        backend.put_bucket_cors(bucket.name, cfn_rules(cors))
    notifications = props.get("NotificationConfiguration")
    if notifications:
        backend.put_bucket_notification_configuration(bucket.name, _notification_config(notifications))


def _lifecycle_rules(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """CloudFormation lifecycle rules → the S3 API shape moto stores (ID, Status, Filter, expirations)."""
    out = []
    for rule in rules:
        api: dict[str, Any] = {"ID": rule.get("Id", uuid.uuid4().hex), "Status": rule["Status"]}
        api["Filter"] = {"Prefix": rule.get("Prefix", "")}
        if "ExpirationInDays" in rule:
            api["Expiration"] = {"Days": str(rule["ExpirationInDays"])}
        if "NoncurrentVersionExpiration" in rule:
            days = rule["NoncurrentVersionExpiration"]["NoncurrentDays"]
            api["NoncurrentVersionExpiration"] = {"NoncurrentDays": str(days)}
        elif "NoncurrentVersionExpirationInDays" in rule:
            api["NoncurrentVersionExpiration"] = {
                "NoncurrentDays": str(rule["NoncurrentVersionExpirationInDays"])
            }
        out.append(api)
    return out


_SUBSTITUTION = re.compile(r"\$\{([^}]+)\}")


def substitute_definition(definition: str, substitutions: dict[str, Any]) -> str:
    """Apply a state machine's `DefinitionSubstitutions` (`${Name}` placeholders) as CloudFormation does."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        return str(substitutions[name]) if name in substitutions else match.group(0)

    return _SUBSTITUTION.sub(replace, definition)


_installed = False


def _wrap_create(model: type, extra: Callable[[Any, dict[str, Any], str, str], Any]) -> None:
    original = model.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create(
        cls: type,
        /,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kw: Any,
    ) -> Any:
        before = extra(None, cloudformation_json, account_id, region_name)
        resource = original(cls, resource_name, before or cloudformation_json, account_id, region_name, **kw)
        extra(resource, cloudformation_json, account_id, region_name)
        return resource

    model.create_from_cloudformation_json = classmethod(create)  # type: ignore[attr-defined]


def _bucket_extra(resource: Any, cfn: dict[str, Any], account_id: str, region: str) -> None:
    if resource is not None:
        _apply_bucket_properties(resource, cfn.get("Properties", {}), account_id, region)


def _generated_name(resource_name: str, limit: int) -> str:
    """CloudFormation's generated name cut to the type's length limit, keeping the unique suffix.

    moto names resources `<stack>-<LogicalId>-<SUFFIX>` whatever their length; AWS shortens generated names to
    fit (state machines: 80 characters), so a long stack name must not fail the deploy.
    """
    if len(resource_name) <= limit:
        return resource_name
    head, _, suffix = resource_name.rpartition("-")
    return f"{head[: limit - len(suffix) - 1]}-{suffix}"


def _create_state_machine(
    cls: type, /, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kw: Any
) -> Any:
    """Create a state machine in the backend the Step Functions API uses (the executing one when enabled),
    with its `DefinitionSubstitutions` applied and its type and logging kept."""
    from moto.stepfunctions.responses import get_backend

    props = cloudformation_json.get("Properties", {})
    if "DefinitionS3Location" in props:
        raise DeployError(
            "A state machine's DefinitionS3Location cannot be read locally: use DefinitionUri with a local "
            "file path (SAM) or an inline Definition."
        )
    definition = props.get("DefinitionString")
    if definition is None:
        definition = json.dumps(props.get("Definition", {}))
    substitutions = props.get("DefinitionSubstitutions")
    if substitutions:
        definition = substitute_definition(definition, substitutions)
    return get_backend(account_id, region_name).create_state_machine(
        props.get("StateMachineName") or _generated_name(resource_name, 80),
        definition,
        props.get("RoleArn", ""),
        tags=[{"key": t["Key"], "value": t["Value"]} for t in props.get("Tags", [])],
        loggingConfiguration=_camel(props.get("LoggingConfiguration")),
        sm_type=props.get("StateMachineType", "STANDARD"),
    )


def _delete_state_machine(
    cls: type, /, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
) -> None:
    from moto.stepfunctions.responses import get_backend

    get_backend(account_id, region_name).delete_state_machine(resource_name)


_STATE_MACHINE_ATTRIBUTES = ("Arn", "Name", "StateMachineRevisionId")


def _state_machine_has_attr(cls: type, attr: str) -> bool:
    return attr in _STATE_MACHINE_ATTRIBUTES or bool(_original_state_machine_has_attr(attr))


def _state_machine_attribute(self: Any, attribute_name: str) -> Any:
    """`Fn::GetAtt` on a state machine, as CloudFormation documents: Arn, Name, StateMachineRevisionId."""
    if attribute_name == "Arn":
        return self.arn
    if attribute_name == "Name":
        return self.name
    if attribute_name == "StateMachineRevisionId":
        return getattr(self, "revision_id", None) or self.arn  # no revisions published: AWS gives the ARN
    return _original_state_machine_attribute(self, attribute_name)


_original_state_machine_has_attr = StateMachine.has_cfn_attr
_original_state_machine_attribute = StateMachine.get_cfn_attribute


def _camel(value: Any) -> Any:
    """CloudFormation's PascalCase keys → the Step Functions API's camelCase keys."""
    if isinstance(value, dict):
        return {k[:1].lower() + k[1:]: _camel(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel(v) for v in value]
    return value


def cidr(ip_block: str, count: int, cidr_bits: int) -> list[str]:
    """`Fn::Cidr`: the first `count` subnets of `ip_block`, each with `cidr_bits` host bits."""
    network = ipaddress.ip_network(ip_block, strict=False)
    prefix = network.max_prefixlen - int(cidr_bits)
    if prefix < network.prefixlen:
        raise ValidationError(
            message=f"Template error: Fn::Cidr cannot carve /{prefix} subnets from {ip_block}"
        )
    subnets = list(itertools.islice(network.subnets(new_prefix=prefix), int(count)))
    if len(subnets) < int(count):
        raise ValidationError(
            message=f"Template error: {ip_block} holds fewer than {count} /{prefix} subnets"
        )
    return [str(subnet) for subnet in subnets]


def _clean_json(original: Callable[..., Any]) -> Callable[..., Any]:
    """moto's intrinsic resolver, plus `Fn::Cidr` (which moto would pass on unresolved)."""

    def clean_json(resource_json: Any, resources_map: Any) -> Any:
        if isinstance(resource_json, dict) and "Fn::Cidr" in resource_json:
            ip_block, count, cidr_bits = original(resource_json["Fn::Cidr"], resources_map)
            return cidr(str(ip_block), int(count), int(cidr_bits))
        return original(resource_json, resources_map)

    return clean_json


def _report_failures(create: Callable[..., Any]) -> Callable[..., Any]:
    """Make a resource that fails to create fail the API call with its logical id, type and reason."""

    def parse_and_create_resource(
        logical_id: str, resource_json: dict[str, Any], *args: Any, **kwargs: Any
    ) -> Any:
        try:
            return create(logical_id, resource_json, *args, **kwargs)
        except ValidationError:
            raise
        except Exception as exc:
            kind = resource_json.get("Type", "?")
            raise ValidationError(
                message=f"Resource {logical_id} ({kind}) failed to create: {type(exc).__name__}: {exc}"
            ) from exc

    return parse_and_create_resource


#: moto's own methods that the wrappers below call.
_originals: dict[str, Callable[..., Any]] = {}


def _delete_role(
    cls: type, /, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
) -> None:
    """Detach the role's managed policies first, as CloudFormation does (moto's IAM refuses to delete a role
    with attached policies, so every stack with a SAM function failed to delete)."""
    from moto.iam.models import iam_backends

    backend = iam_backends[account_id][_partition(region_name)]
    for role in list(backend.roles.values()):
        if role.name == resource_name:
            for policy_arn in list(role.managed_policies):
                backend.detach_role_policy(policy_arn, resource_name)
    _originals["delete_role"](resource_name, cloudformation_json, account_id, region_name)


def _create_role(
    cls: type, /, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kw: Any
) -> Any:
    """moto's role, remembering its `ManagedPolicyArns` (moto drops them), which IAM enforcement reads
    (`iam.Authority.identity`)."""
    role = _originals["create_role"](resource_name, cloudformation_json, account_id, region_name, **kw)
    arns = cloudformation_json.get("Properties", {}).get("ManagedPolicyArns") or []
    role.embedded_managed_arns = tuple(str(arn) for arn in arns)
    return role


def _layer_version_arn(self: Any) -> str:
    return str(self.arn)


def install() -> None:
    """Register the models above with moto's CloudFormation and wrap the half-created types. Idempotent."""
    global _installed  # noqa: PLW0603 - one-time patch of a third-party module
    if _installed:
        return
    _wrap_create(FakeBucket, _bucket_extra)
    StateMachine.create_from_cloudformation_json = classmethod(_create_state_machine)
    StateMachine.delete_from_cloudformation_json = classmethod(_delete_state_machine)
    _originals["delete_role"] = Role.delete_from_cloudformation_json
    # A layer version is named by its LayerName (moto used a generated name) and its Ref is its ARN (moto
    # answered the model's repr).
    LayerVersion.cloudformation_name_type = staticmethod(lambda: "LayerName")
    LayerVersion.physical_resource_id = property(_layer_version_arn)
    _originals["create_role"] = Role.create_from_cloudformation_json
    Role.create_from_cloudformation_json = classmethod(_create_role)
    Role.delete_from_cloudformation_json = classmethod(_delete_role)
    StateMachine.has_cfn_attr = classmethod(_state_machine_has_attr)
    StateMachine.get_cfn_attribute = _state_machine_attribute
    parsing.parse_and_create_resource = _report_failures(parsing.parse_and_create_resource)
    parsing.clean_json = _clean_json(parsing.clean_json)  # parsing's own recursion finds it by module name
    import embedded_aws.cloudfront  # noqa: F401 - registers CloudFront's types (cloudfront.py)
    from embedded_aws import (
        apigateway,  # noqa: F401 - registers the AWS::ApiGatewayV2 types (apigateway.py)
        events,  # noqa: F401 - registers AWS::Scheduler::Schedule (events.py)
    )

    custom_resources.register()  # Custom::<Name> and AWS::CloudFormation::CustomResource (Lambda-backed)

    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()
    _installed = True


def supported_types() -> set[str]:
    """Every resource type the embedded AWS can create."""
    install()
    from embedded_aws.events import REFUSED_TYPES

    return {
        t for t in parsing.get_model_map() if t.startswith("AWS::") and t != "AWS::SERVICE::RESOURCE"
    } - set(REFUSED_TYPES)
