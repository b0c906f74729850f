"""API Gateway HTTP APIs (v2) served locally: routes, Lambda proxy integrations, JWT authorizers, CORS.

Each `AWS::ApiGatewayV2::Api` (SAM's `AWS::Serverless::HttpApi` and implicit `ServerlessHttpApi` become one,
with an OpenAPI `Body`) is held in moto's apigatewayv2 backend, so `aws apigatewayv2 get-apis` and
`get-routes` list it, and is served as `https://<api id>.execute-api.<region>.amazonaws.com` on a local port
of its own (`embedded_aws.endpoints`). Each request is answered as HTTP APIs document it:

- the stage from the path (`/prod/...` for a named stage, else `$default`); the most specific route of
  `METHOD /path` with `{param}` and greedy `{proxy+}` segments, an exact method before `ANY`, then
  `$default`; no route: 404 `{"message":"Not Found"}`;
- JWT authorizers: the token verified against the issuer's JWKS (discovered through
  `<issuer>/.well-known/openid-configuration`), `iss`, `aud`/`client_id`, `exp`, `nbf`, `iat`; a missing or
  invalid token 401 `{"message":"Unauthorized"}`, none of the route's scopes 403 `{"message":"Forbidden"}`;
  Lambda (REQUEST) authorizers with simple or IAM-policy responses;
- Lambda proxy integrations with payload format 2.0 or 1.0, through the local Lambda runtime, only when the
  function's resource policy lets `apigateway.amazonaws.com` invoke it for that API (IAM evaluation); a
  function error, a malformed response or a refused invocation 500 `{"message":"Internal Server Error"}`;
  past the integration's timeout (30 s at most) 503 `{"message":"Service Unavailable"}`;
- CORS (`CorsConfiguration`, `x-amazon-apigateway-cors`): preflights answered by API Gateway unless a route
  takes OPTIONS; the configured headers added to answers for allowed origins (an origin configured as an AWS
  URL admits the local URL serving it);
- access logs (a stage's `AccessLogSettings`): one line per request in the log group, its `$context`
  variables filled in (`-` for those without a value).

Refused at deploy, naming the feature: WebSocket APIs, integrations other than Lambda proxy (AWS_PROXY),
AWS service integrations (IntegrationSubtype), VPC links, IAM (AWS_IAM) route authorization, OpenAPI bodies
in S3. Locally every change to routes is live at once (AWS deploys a stage without AutoDeploy only on a
`Deployment`).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import logging
import random
import re
import string
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote

import yaml
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from moto.core.common_models import CloudFormationModel

from embedded_aws import endpoints, iam
from embedded_aws.actions import Check
from embedded_aws.cfn_models import _LocalModel
from embedded_aws.errors import DeployError

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]

#: The longest an HTTP API waits for an integration (its TimeoutInMillis may only lower it).
MAX_INTEGRATION_TIMEOUT_S = 30.0
#: How long API Gateway waits for a Lambda authorizer.
_AUTHORIZER_TIMEOUT_S = 10.0
_HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
_ANY_METHOD = "x-amazon-apigateway-any-method"
_JWT_ALGORITHMS = ["RS256", "RS384", "RS512"]  # API Gateway verifies RSA signatures only


class Router(Protocol):
    """What HTTP APIs need from the running embedded AWS."""

    region: str

    def invoke_sync(self, function_arn: str, event: Any) -> tuple[str, dict[str, Any] | None]: ...


_router: Router | None = None


def install(router: Router | None) -> None:
    """Invoke integrations through `router` (the running embedded AWS; None: stop invoking)."""
    global _router  # noqa: PLW0603 - moto's backends are process-wide, so is the runtime they reach
    _router = router
    _JWKS.clear()


def api_host(api_id: str, region: str) -> str:
    return f"{api_id}.execute-api.{region}.amazonaws.com"


def _new_id(length: int = 10) -> str:
    """An id as API Gateway makes them: lowercase letters and digits."""
    return "".join(random.choices(string.ascii_lowercase + string.digits, k=length))


def _backend(account_id: str, region: str) -> Any:
    from moto.apigatewayv2.models import apigatewayv2_backends

    return apigatewayv2_backends[account_id][region]


def _moto_api(account_id: str, region: str, api_id: str) -> Any:
    api = _backend(account_id, region).apis.get(api_id)
    if api is None:
        raise DeployError(f"HTTP API {api_id} does not exist (ApiId of a route, integration or stage).")
    return api


def _camel(value: Any) -> Any:
    """CloudFormation's PascalCase keys → the API's camelCase keys (CorsConfiguration, JwtConfiguration)."""
    if isinstance(value, dict):
        return {k[:1].lower() + k[1:]: _camel(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel(v) for v in value]
    return value


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


# --- what is refused at deploy ---------------------------------------------------------------------------
def unhonoured(kind: str, props: dict[str, Any]) -> str | None:
    """Why the embedded AWS cannot honour this ApiGatewayV2 resource (a sentence naming the feature), or None.

    Called on the template before anything is created (`template.check_supported`)."""
    if kind == "AWS::ApiGatewayV2::Api":
        if str(props.get("ProtocolType", "HTTP")).upper() == "WEBSOCKET":
            return (
                "property ProtocolType: WebSocket APIs (WEBSOCKET) are not supported by the embedded AWS; it "
                "serves HTTP APIs."
            )
        if props.get("BodyS3Location"):
            return (
                "property BodyS3Location: an OpenAPI definition in S3 cannot be read at deploy; inline it as "
                "Body (SAM: DefinitionBody, or DefinitionUri with a local file)."
            )
        body = props.get("Body")
        if isinstance(body, str):
            try:
                body = yaml.safe_load(body)
            except yaml.YAMLError:
                return "property Body: not a JSON or YAML OpenAPI document."
        if isinstance(body, dict):
            return _unhonoured_body(body)
    if kind == "AWS::ApiGatewayV2::Integration":
        return _unhonoured_integration(
            props.get("IntegrationType"), props.get("IntegrationSubtype"), props.get("ConnectionType")
        )
    if (
        kind == "AWS::ApiGatewayV2::Route"
        and str(props.get("AuthorizationType", "NONE")).upper() == "AWS_IAM"
    ):
        return (
            "property AuthorizationType: IAM authorization (AWS_IAM) of HTTP API routes is not supported by "
            "the embedded AWS; use a JWT or Lambda authorizer."
        )
    if kind == "AWS::ApiGatewayV2::Authorizer":
        kind_name = str(props.get("AuthorizerType", "")).upper()
        if kind_name not in ("JWT", "REQUEST"):
            return f"property AuthorizerType: {kind_name or '(none)'} authorizers do not exist for HTTP APIs."
    return None


def _unhonoured_integration(kind: Any, subtype: Any, connection: Any) -> str | None:
    if not isinstance(kind, str):
        return None  # an intrinsic: checked when created
    if kind.upper() != "AWS_PROXY":
        return (
            f"property IntegrationType: {kind} integrations are not supported by the embedded AWS; it serves "
            "Lambda proxy integrations (AWS_PROXY to a function)."
        )
    if subtype:
        return (
            f"property IntegrationSubtype: AWS service integrations ({subtype}) are not supported by the "
            "embedded AWS; integrate a Lambda function that calls the service."
        )
    if isinstance(connection, str) and connection.upper() == "VPC_LINK":
        return "property ConnectionType: VPC links (VPC_LINK) are not supported by the embedded AWS."
    return None


def _unhonoured_body(body: dict[str, Any]) -> str | None:
    schemes = (body.get("components") or {}).get("securitySchemes") or {}
    for name, scheme in schemes.items():
        spec = (scheme or {}).get("x-amazon-apigateway-authorizer")
        if spec is not None and str(spec.get("type", "")).lower() not in ("jwt", "request"):
            kind = spec.get("type")
            return f"property Body: authorizer {name} has type {kind!r}, which HTTP APIs do not have."
        if str((scheme or {}).get("x-amazon-apigateway-authtype", "")).lower() == "awssigv4":
            return (
                f"property Body: security scheme {name}: IAM authorization (awsSigv4) of HTTP API routes is "
                "not supported by the embedded AWS; use a JWT or Lambda authorizer."
            )
    for path, item in (body.get("paths") or {}).items():
        for method, operation in (item or {}).items():
            spec = (
                (operation or {}).get("x-amazon-apigateway-integration")
                if isinstance(operation, dict)
                else None
            )
            if spec is None:
                continue
            problem = _unhonoured_integration(
                str(spec.get("type", "")).upper(), spec.get("integrationSubtype"), spec.get("connectionType")
            )
            if problem:
                return f"property Body: route {method.upper()} {path}: {problem}"
    return None


# --- CloudFormation models --------------------------------------------------------------------------------
class HttpApi(_LocalModel, CloudFormationModel):  # type: ignore[misc]  # moto is untyped here
    """`AWS::ApiGatewayV2::Api` (HTTP): held in moto's apigatewayv2 backend and served on a local port."""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ApiGatewayV2::Api"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("ApiEndpoint", "ApiId")

    def __init__(self, api_id: str, account_id: str, region: str) -> None:
        self.physical_id = api_id
        self.account_id = account_id
        self.region = region

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name == "ApiEndpoint":
            return f"https://{api_host(self.physical_id, self.region)}"
        if attribute_name == "ApiId":
            return self.physical_id
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        raise UnformattedGetAttTemplateException()

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> HttpApi:
        props = cloudformation_json.get("Properties") or {}
        problem = unhonoured(cls.cloudformation_type(), props)
        if problem:
            raise DeployError(f"{resource_name} ({cls.cloudformation_type()}) {problem}")
        body = props.get("Body")
        if isinstance(body, str):
            body = yaml.safe_load(body)
        backend = _backend(account_id, region_name)
        api = backend.create_api(
            api_key_selection_expression=props.get("ApiKeySelectionExpression"),
            cors_configuration=_camel(props["CorsConfiguration"]) if props.get("CorsConfiguration") else None,
            description=props.get("Description"),
            disable_schema_validation=props.get("DisableSchemaValidation"),
            disable_execute_api_endpoint=props.get("DisableExecuteApiEndpoint"),
            name=props.get("Name") or resource_name,
            protocol_type="HTTP",
            route_selection_expression=props.get("RouteSelectionExpression"),
            tags={},
            version=props.get("Version"),
        )
        # API Gateway's ids are 10 lowercase letters and digits (moto makes 8 letters).
        del backend.apis[api.api_id]
        api.api_id = _new_id()
        api.api_endpoint = f"https://{api_host(api.api_id, region_name)}"
        api.arn = f"arn:aws:apigateway:{region_name}::/apis/{api.api_id}"
        backend.apis[api.api_id] = api
        if props.get("Tags"):
            backend.tag_resource(api.arn, {str(k): str(v) for k, v in props["Tags"].items()})
        if isinstance(body, dict):
            _import_openapi(api, body)
            if props.get("Name"):
                api.name = props["Name"]
            if props.get("CorsConfiguration"):
                api.cors_configuration = _camel(props["CorsConfiguration"])
        if props.get("Target"):
            _quick_create(api, str(props["Target"]), props.get("RouteKey") or "$default")
        served = endpoints.current()
        if served is not None and not _is_true(props.get("DisableExecuteApiEndpoint")):
            served.serve(api_host(api.api_id, region_name), HttpApiApp(account_id, region_name, api.api_id))
        return cls(api.api_id, account_id, region_name)

    def delete(self, account_id: str, region: str) -> None:
        served = endpoints.current()
        if served is not None:
            served.close(api_host(self.physical_id, self.region))
        _backend(self.account_id, self.region).apis.pop(self.physical_id, None)


def _is_true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _quick_create(api: Any, target: str, route_key: str) -> None:
    """`Target`: a Lambda proxy integration (payload 2.0), its route and an auto-deployed `$default` stage."""
    integration = api.create_integration(
        connection_type="INTERNET",
        description="Quick create",
        integration_method="POST",
        integration_type="AWS_PROXY",
        integration_uri=target,
        payload_format_version="2.0",
    )
    api.create_route(
        api_key_required=False,
        authorization_scopes=[],
        route_key=route_key,
        target=f"integrations/{integration.id}",
        authorization_type="NONE",
    )
    api.create_stage({"stageName": "$default", "autoDeploy": True})


def _import_openapi(api: Any, body: dict[str, Any]) -> None:
    """Routes, integrations, authorizers and CORS of an OpenAPI 3 body with API Gateway's extensions."""
    if isinstance(body.get("info"), dict) and body["info"].get("title"):
        api.name = str(body["info"]["title"])
    if body.get("x-amazon-apigateway-cors"):
        api.cors_configuration = body["x-amazon-apigateway-cors"]
    authorizers: dict[str, Any] = {}
    for name, scheme in ((body.get("components") or {}).get("securitySchemes") or {}).items():
        spec = (scheme or {}).get("x-amazon-apigateway-authorizer")
        if not spec:
            continue
        kind = str(spec.get("type", "")).lower()
        authorizers[name] = api.create_authorizer(
            auth_creds_arn=spec.get("authorizerCredentialsArn"),
            auth_payload_format_version=spec.get("authorizerPayloadFormatVersion"),
            auth_result_ttl=spec.get("authorizerResultTtlInSeconds", 0 if kind == "jwt" else 300),
            authorizer_type="JWT" if kind == "jwt" else "REQUEST",
            authorizer_uri=spec.get("authorizerUri"),
            enable_simple_response=spec.get("enableSimpleResponses"),
            identity_source=_as_list(spec.get("identitySource")),
            identity_validation_expr=None,
            jwt_config=spec.get("jwtConfiguration"),
            name=name,
        )
    default_security = body.get("security")
    for path, item in (body.get("paths") or {}).items():
        for method, declared in (item or {}).items():
            if method.upper() not in _HTTP_METHODS and method != _ANY_METHOD:
                continue
            operation = declared or {}
            route_key = "$default" if path == "$default" else f"{_route_method(method)} {path}"
            target = None
            spec = operation.get("x-amazon-apigateway-integration")
            if spec:
                integration = api.create_integration(
                    connection_type=spec.get("connectionType", "INTERNET"),
                    description="Imported from the OpenAPI definition",
                    integration_method=spec.get("httpMethod"),
                    integration_type=str(spec.get("type", "")).upper(),
                    integration_uri=spec.get("uri"),
                    payload_format_version=spec.get("payloadFormatVersion"),
                    timeout_in_millis=spec.get("timeoutInMillis"),
                )
                target = f"integrations/{integration.id}"
            auth_type, authorizer_id, scopes = "NONE", None, []
            for requirement in operation.get("security", default_security) or []:
                for scheme_name, scheme_scopes in (requirement or {}).items():
                    authorizer = authorizers.get(scheme_name)
                    if authorizer is None:
                        continue  # NONE, or a scheme API Gateway does not enforce
                    auth_type = "JWT" if authorizer.authorizer_type == "JWT" else "CUSTOM"
                    authorizer_id, scopes = authorizer.id, list(scheme_scopes or [])
            api.create_route(
                api_key_required=False,
                authorization_scopes=scopes,
                route_key=route_key,
                target=target,
                authorization_type=auth_type,
                authorizer_id=authorizer_id,
            )


def _route_method(method: str) -> str:
    return "ANY" if method == _ANY_METHOD else method.upper()


class _ApiChild(_LocalModel):
    """A resource that belongs to an HTTP API (route, integration, authorizer, stage, deployment)."""

    def __init__(self, physical_id: str, api_id: str, account_id: str, region: str) -> None:
        self.physical_id = physical_id
        self.api_id = api_id
        self.account_id = account_id
        self.region = region

    def _api(self) -> Any:
        return _backend(self.account_id, self.region).apis.get(self.api_id)


class HttpApiRoute(_ApiChild, CloudFormationModel):  # type: ignore[misc]  # moto is untyped here
    """`AWS::ApiGatewayV2::Route`."""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ApiGatewayV2::Route"

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kw: Any,
    ) -> HttpApiRoute:
        props = cloudformation_json.get("Properties") or {}
        problem = unhonoured(cls.cloudformation_type(), props)
        if problem:
            raise DeployError(f"{resource_name} ({cls.cloudformation_type()}) {problem}")
        api = _moto_api(account_id, region_name, props["ApiId"])
        route = api.create_route(
            api_key_required=_is_true(props.get("ApiKeyRequired")),
            authorization_scopes=_as_list(props.get("AuthorizationScopes")),
            route_key=props["RouteKey"],
            target=props.get("Target"),
            authorization_type=str(props.get("AuthorizationType", "NONE")).upper(),
            authorizer_id=props.get("AuthorizerId"),
            operation_name=props.get("OperationName"),
        )
        return cls(route.route_id, api.api_id, account_id, region_name)

    def delete(self, account_id: str, region: str) -> None:
        api = self._api()
        if api is not None:
            api.delete_route(self.physical_id)


class HttpApiIntegration(_ApiChild, CloudFormationModel):  # type: ignore[misc]  # moto is untyped here
    """`AWS::ApiGatewayV2::Integration` (AWS_PROXY to a Lambda function)."""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ApiGatewayV2::Integration"

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kw: Any,
    ) -> HttpApiIntegration:
        props = cloudformation_json.get("Properties") or {}
        problem = unhonoured(cls.cloudformation_type(), props)
        if problem:
            raise DeployError(f"{resource_name} ({cls.cloudformation_type()}) {problem}")
        if props.get("PayloadFormatVersion") is None:
            raise DeployError(
                f"{resource_name} ({cls.cloudformation_type()}): PayloadFormatVersion is required for Lambda "
                "proxy integrations of HTTP APIs (1.0 or 2.0)."
            )
        api = _moto_api(account_id, region_name, props["ApiId"])
        integration = api.create_integration(
            connection_type=props.get("ConnectionType", "INTERNET"),
            description=props.get("Description"),
            integration_method=props.get("IntegrationMethod"),
            integration_type=str(props["IntegrationType"]).upper(),
            integration_uri=props.get("IntegrationUri"),
            credentials_arn=props.get("CredentialsArn"),
            payload_format_version=str(props["PayloadFormatVersion"]),
            timeout_in_millis=props.get("TimeoutInMillis"),
        )
        return cls(integration.id, api.api_id, account_id, region_name)

    def delete(self, account_id: str, region: str) -> None:
        api = self._api()
        if api is not None:
            api.delete_integration(self.physical_id)


class HttpApiAuthorizer(_ApiChild, CloudFormationModel):  # type: ignore[misc]  # moto is untyped here
    """`AWS::ApiGatewayV2::Authorizer` (JWT, or REQUEST: a Lambda authorizer)."""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ApiGatewayV2::Authorizer"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "AuthorizerId"

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return self.physical_id

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kw: Any,
    ) -> HttpApiAuthorizer:
        props = cloudformation_json.get("Properties") or {}
        problem = unhonoured(cls.cloudformation_type(), props)
        if problem:
            raise DeployError(f"{resource_name} ({cls.cloudformation_type()}) {problem}")
        api = _moto_api(account_id, region_name, props["ApiId"])
        kind = str(props["AuthorizerType"]).upper()
        authorizer = api.create_authorizer(
            auth_creds_arn=props.get("AuthorizerCredentialsArn"),
            auth_payload_format_version=props.get("AuthorizerPayloadFormatVersion"),
            auth_result_ttl=props.get("AuthorizerResultTtlInSeconds", 0 if kind == "JWT" else 300),
            authorizer_type=kind,
            authorizer_uri=props.get("AuthorizerUri"),
            enable_simple_response=props.get("EnableSimpleResponses"),
            identity_source=_as_list(props.get("IdentitySource")),
            identity_validation_expr=props.get("IdentityValidationExpression"),
            jwt_config=_camel(props.get("JwtConfiguration")),
            name=props.get("Name") or resource_name,
        )
        return cls(authorizer.id, api.api_id, account_id, region_name)

    def delete(self, account_id: str, region: str) -> None:
        api = self._api()
        if api is not None:
            api.delete_authorizer(self.physical_id)


class HttpApiStage(_ApiChild, CloudFormationModel):  # type: ignore[misc]  # moto is untyped here
    """`AWS::ApiGatewayV2::Stage`: `$default` serves at the root, a named stage under `/<name>`."""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ApiGatewayV2::Stage"

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kw: Any,
    ) -> HttpApiStage:
        props = cloudformation_json.get("Properties") or {}
        api = _moto_api(account_id, region_name, props["ApiId"])
        config: dict[str, Any] = {
            "stageName": props["StageName"],
            "autoDeploy": _is_true(props.get("AutoDeploy")),
            "stageVariables": {str(k): str(v) for k, v in (props.get("StageVariables") or {}).items()},
            "tags": props.get("Tags") or {},
        }
        if props.get("Description"):
            config["description"] = props["Description"]
        if props.get("DefaultRouteSettings"):
            config["defaultRouteSettings"] = _camel(props["DefaultRouteSettings"])
        if props.get("AccessLogSettings"):
            config["accessLogSettings"] = _camel(props["AccessLogSettings"])
        stage = api.create_stage(config)
        return cls(stage.name, api.api_id, account_id, region_name)

    def delete(self, account_id: str, region: str) -> None:
        api = self._api()
        if api is not None:
            api.delete_stage(self.physical_id)


class HttpApiDeployment(_ApiChild, CloudFormationModel):  # type: ignore[misc]  # moto is untyped here
    """`AWS::ApiGatewayV2::Deployment`: changes are live at once locally, so it only names a deployment."""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ApiGatewayV2::Deployment"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "DeploymentId"

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return self.physical_id

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kw: Any,
    ) -> HttpApiDeployment:
        props = cloudformation_json.get("Properties") or {}
        api = _moto_api(account_id, region_name, props["ApiId"])
        return cls(_new_id(6), api.api_id, account_id, region_name)


# --- JWT authorizers --------------------------------------------------------------------------------------
class _UnauthorizedError(Exception):
    """The request carries no valid token: 401 (the message names why, in `www-authenticate`)."""


class _AuthorizerFailedError(Exception):
    """A Lambda authorizer failed, timed out, could not be invoked or answered nonsense: 500."""


class _ForbiddenError(Exception):
    """The token is valid but the route wants a scope it lacks: 403."""


class _KeySets:
    """Each issuer's signing keys, fetched through its discovery document, kept until a `kid` is unknown."""

    #: How soon an unknown `kid` may fetch an issuer's keys again (a bad token must not hammer the issuer).
    REFETCH_AFTER_S = 5.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sets: dict[str, tuple[float, KeySet]] = {}

    def clear(self) -> None:
        with self._lock:
            self._sets.clear()

    def get(self, issuer: str, kid: str) -> KeySet:
        with self._lock:
            cached = self._sets.get(issuer)
        if cached is not None:
            fetched_at, keys = cached
            if _has_kid(keys, kid) or time.monotonic() - fetched_at < self.REFETCH_AFTER_S:
                return keys
        keys = self._fetch(issuer)
        with self._lock:
            self._sets[issuer] = (time.monotonic(), keys)
        return keys

    @staticmethod
    def _fetch(issuer: str) -> KeySet:
        base = endpoints.rewrite(issuer.rstrip("/"))
        try:
            configuration = _get_json(f"{base}/.well-known/openid-configuration")
            jwks_uri = configuration["jwks_uri"]
            return KeySet.import_key_set(_get_json(endpoints.rewrite(str(jwks_uri))))
        except (OSError, ValueError, KeyError, TypeError, JoseError) as exc:
            log.warning("JWT authorizer: cannot fetch the signing keys of issuer %s: %s", issuer, exc)
            raise _UnauthorizedError("the signing keys of the issuer could not be fetched") from exc


def _has_kid(keys: KeySet, kid: str) -> bool:
    return any(key.kid == kid for key in keys.keys)


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


_JWKS = _KeySets()


def _segment(text: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))


def verify_jwt(
    token: str, issuer: str, audiences: list[str], scopes: list[str], now: float | None = None
) -> tuple[dict[str, Any], list[str] | None]:
    """The claims and scopes of a token valid as API Gateway's JWT authorizer checks it.

    Raises `_UnauthorizedError` (401) or `_ForbiddenError` (403, none of the route's `scopes`)."""
    if token[:7].lower() == "bearer ":
        token = token[7:].strip()
    try:
        header = _segment(token.split(".")[0])
    except (ValueError, binascii.Error, IndexError) as exc:
        raise _UnauthorizedError("the token is not a JWT") from exc
    kid = header.get("kid") if isinstance(header, dict) else None
    if not kid:
        raise _UnauthorizedError("the token has no kid")
    keys = _JWKS.get(issuer, str(kid))
    try:
        claims: dict[str, Any] = dict(jwt.decode(token, keys, algorithms=_JWT_ALGORITHMS).claims)
    except JoseError as exc:
        raise _UnauthorizedError(f"signature is invalid ({exc.error})") from exc
    now = time.time() if now is None else now
    if claims.get("iss") != issuer:
        raise _UnauthorizedError("the token was not issued by the configured issuer")
    audience = claims["aud"] if "aud" in claims else claims.get("client_id")
    if not set(_as_list(audience)) & set(audiences):
        raise _UnauthorizedError("the token's audience is not allowed")
    if not isinstance(claims.get("exp"), (int, float)) or claims["exp"] <= now:
        raise _UnauthorizedError("the token has expired")
    for name in ("nbf", "iat"):
        if name in claims and (not isinstance(claims[name], (int, float)) or claims[name] > now):
            raise _UnauthorizedError(f"the token's {name} is in the future")
    granted = _token_scopes(claims)
    if scopes and not set(granted or []) & set(scopes):
        raise _ForbiddenError()
    return claims, granted


def _token_scopes(claims: dict[str, Any]) -> list[str] | None:
    """The token's scopes: `scope` (space-separated text) or `scp` (text or a list of text); None without
    either. Any other shape is a malformed claim, which API Gateway answers as unauthorized."""
    name = "scope" if claims.get("scope") is not None else "scp"
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise _UnauthorizedError(f"the token's {name} claim is neither text nor a list of text")


def _claim_text(value: Any) -> str:
    """A claim as HTTP APIs pass it to the function: text (a list as `[a b]`, as API Gateway writes it)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + " ".join(_claim_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


# --- serving ----------------------------------------------------------------------------------------------
@dataclass
class _Request:
    method: str
    raw_path: str  # as sent, percent-encoded
    path: str  # decoded, with the stage's prefix
    route_path: str  # decoded, without the stage's prefix
    stage: str
    query: str
    headers: list[tuple[str, str]]  # lower-cased names, in order
    body: bytes
    source_ip: str
    request_id: str
    started: float = field(default_factory=time.time)
    #: `$context` values of the access log, filled in as the request is answered.
    context: dict[str, str] = field(default_factory=dict)
    claims: dict[str, Any] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k == name]
        return ",".join(values) if values else None


@dataclass
class _Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def _message(status: int, message: str, headers: list[tuple[str, str]] | None = None) -> _Answer:
    body = json.dumps({"message": message}).encode()
    return _Answer(status, [("content-type", "application/json"), *(headers or [])], body)


_SEGMENT_PARAM = re.compile(r"^\{([^{}+]+)\}$")
_SEGMENT_GREEDY = re.compile(r"^\{([^{}+]+)\+\}$")


def _match_path(pattern: str, path: str) -> tuple[tuple[int, ...], dict[str, str]] | None:
    """How specifically `pattern` (`/items/{id}`, `/files/{proxy+}`) matches `path`, and its parameters."""
    wanted = pattern.strip("/").split("/") if pattern.strip("/") else []
    given = path.strip("/").split("/") if path.strip("/") else []
    params: dict[str, str] = {}
    score: list[int] = []
    for index, segment in enumerate(wanted):
        greedy = _SEGMENT_GREEDY.match(segment)
        if greedy:
            rest = given[index:]
            if index != len(wanted) - 1 or not rest:
                return None
            params[greedy.group(1)] = "/".join(rest)
            score.append(0)
            return (*score, 0), params
        if index >= len(given):
            return None
        param = _SEGMENT_PARAM.match(segment)
        if param:
            if not given[index]:
                return None
            params[param.group(1)] = given[index]
            score.append(1)
        elif segment == given[index]:
            score.append(2)
        else:
            return None
    if len(given) != len(wanted):
        return None
    if path.endswith("/") and len(path) > 1 and not pattern.endswith("/"):
        return None
    return (*score, 3), params


def _select_route(api: Any, method: str, path: str) -> tuple[Any, dict[str, str]] | None:
    """The route HTTP APIs choose: the most specific path, an exact method before ANY, then `$default`."""
    best: tuple[tuple[Any, ...], Any, dict[str, str]] | None = None
    default = None
    for route in list(api.routes.values()):
        key = str(route.route_key)
        if key == "$default":
            default = route
            continue
        route_method, _, pattern = key.partition(" ")
        if route_method not in (method, "ANY"):
            continue
        matched = _match_path(pattern, path)
        if matched is None:
            continue
        score = (matched[0], route_method != "ANY")
        if best is None or score > best[0]:
            best = (score, route, matched[1])
    if best is not None:
        return best[1], best[2]
    return (default, {}) if default is not None else None


_CONTEXT_VARIABLE = re.compile(r"\$context\.([A-Za-z0-9_.:-]*[A-Za-z0-9_])")
_LOG_LOCK = threading.Lock()
#: What API Gateway's access log says when it may not invoke the function.
_NO_PERMISSION = (
    "The IAM role configured on the integration or API Gateway doesn't have permissions to call the "
    "integration. Check the permissions and try again."
)  # moto's log streams are not safe for concurrent writers

_TEXT_TYPES = re.compile(
    r"^(text/|application/(json|javascript|xml|[\w.+-]+\+json|[\w.+-]+\+xml)\b)", re.IGNORECASE
)


def _body_fields(request: _Request) -> tuple[str | None, bool]:
    """The body as the event carries it: text, or base64 for anything else (isBase64Encoded)."""
    if not request.body:
        return None, False
    content_type = request.header("content-type")
    if content_type is None or _TEXT_TYPES.match(content_type):
        try:
            return request.body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(request.body).decode(), True


def _request_time(moment: float) -> str:
    return datetime.datetime.fromtimestamp(moment, datetime.UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")


class HttpApiApp:
    """The WSGI app serving one HTTP API; reads the API from moto's backend on every request."""

    def __init__(self, account_id: str, region: str, api_id: str) -> None:
        self.account_id = account_id
        self.region = region
        self.api_id = api_id
        self.domain = api_host(api_id, region)
        self._cache_lock = threading.Lock()
        #: Lambda authorizers' answers by (authorizer id, identity), with when each expires.
        self._authorizer_cache: dict[tuple[str, tuple[str, ...]], tuple[float, dict[str, Any]]] = {}

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        request_id = base64.b64encode(uuid.uuid4().bytes[:10]).decode()
        request = None
        try:
            request = self._read(environ, request_id)
            answer = self.handle(request)
        except Exception:
            log.exception("HTTP API %s failed on %s", self.api_id, environ.get("PATH_INFO"))
            answer = _message(500, "Internal Server Error")
        if request is not None:
            self._access_log(request, answer)
        # The server adds `Date` itself (http.server's send_response), as API Gateway does.
        headers = [(k, v) for k, v in answer.headers if k.lower() not in ("content-length", "date")]
        headers += [
            ("content-length", str(len(answer.body))),
            ("apigw-requestid", request_id),
        ]
        try:
            phrase = HTTPStatus(answer.status).phrase
        except ValueError:
            phrase = "Unknown"
        start_response(f"{answer.status} {phrase}", headers)
        return [b"" if environ.get("REQUEST_METHOD") == "HEAD" else answer.body]

    def _access_log(self, request: _Request, answer: _Answer) -> None:
        """One line in the stage's access log group (`AccessLogSettings`), formatted as configured."""
        api = _backend(self.account_id, self.region).apis.get(self.api_id)
        stage = api.stages.get(request.stage) if api is not None else None
        settings = (getattr(stage, "access_log_settings", None) or {}) if stage is not None else {}
        destination, line_format = settings.get("destinationArn"), settings.get("format")
        if not destination or not line_format:
            return
        values = {
            "requestId": request.request_id,
            "extendedRequestId": request.request_id,
            "apiId": self.api_id,
            "domainName": self.domain,
            "domainPrefix": self.api_id,
            "stage": request.stage,
            "httpMethod": request.method,
            "path": request.path,
            "protocol": "HTTP/1.1",
            "identity.sourceIp": request.source_ip,
            "identity.userAgent": request.header("user-agent") or "",
            "requestTime": _request_time(request.started),
            "requestTimeEpoch": str(int(request.started * 1000)),
            "responseLength": str(len(answer.body)),
            "responseLatency": str(int((time.time() - request.started) * 1000)),
            "status": str(answer.status),
            **request.context,
            **{f"authorizer.claims.{k}": _claim_text(v) for k, v in request.claims.items()},
        }
        line = _CONTEXT_VARIABLE.sub(lambda m: values.get(m.group(1)) or "-", str(line_format))
        group = str(destination).split(":log-group:", 1)[-1].removesuffix(":*")
        try:
            from moto.logs.models import logs_backends

            backend = logs_backends[self.account_id][self.region]
            stream = f"{self.api_id}_{request.stage}"
            with _LOG_LOCK:
                if group not in backend.groups:
                    return  # AWS drops the line too when the group is gone
                if stream not in backend.groups[group].streams:
                    backend.create_log_stream(group, stream)
                backend.put_log_events(
                    group, stream, [{"timestamp": int(time.time() * 1000), "message": line}]
                )
        except Exception:  # an access log must never fail a request
            log.warning(
                "HTTP API %s: could not write its access log to %s", self.api_id, group, exc_info=True
            )

    def _read(self, environ: dict[str, Any], request_id: str) -> _Request:
        raw_uri = str(environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO", "/"))
        raw_path = raw_uri.split("?", 1)[0] or "/"
        path = unquote(raw_path)
        headers: list[tuple[str, str]] = []
        for key, value in environ.items():
            if key.startswith("HTTP_"):
                headers.append((key[5:].replace("_", "-").lower(), str(value)))
            elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
                headers.append((key.replace("_", "-").lower(), str(value)))
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        return _Request(
            method=str(environ.get("REQUEST_METHOD", "GET")).upper(),
            raw_path=raw_path,
            path=path,
            route_path=path,
            stage="$default",
            query=str(environ.get("QUERY_STRING", "")),
            headers=headers,
            body=body,
            source_ip=str(environ.get("REMOTE_ADDR", "127.0.0.1")),
            request_id=request_id,
        )

    def handle(self, request: _Request) -> _Answer:
        api = _backend(self.account_id, self.region).apis.get(self.api_id)
        if api is None:
            return _message(404, "Not Found")
        first, _, rest = request.path.lstrip("/").partition("/")
        if first and first != "$default" and first in api.stages:
            request.stage, request.route_path = first, "/" + rest
        elif "$default" not in api.stages:
            return _message(404, "Not Found")
        cors = api.cors_configuration or None
        origin = request.header("origin")
        allowed_origin = _allowed_origin(cors, origin) if cors else None
        selected = _select_route(api, request.method, request.route_path)
        preflight = (
            request.method == "OPTIONS"
            and origin is not None
            and request.header("access-control-request-method")
        )
        if cors and preflight and selected is None:
            return _preflight(cors, allowed_origin)
        if selected is None:
            answer = _message(404, "Not Found")
        else:
            route, params = selected
            request.context["routeKey"] = str(route.route_key)
            answer = self._route(api, route, params, request)
        if answer.status >= 400:
            request.context.setdefault("error.message", json.loads(answer.body or b"{}").get("message", ""))
        if cors:
            answer.headers = [
                (k, v) for k, v in answer.headers if not k.lower().startswith("access-control-")
            ]
            if allowed_origin is not None:
                answer.headers += _cors_headers(cors, allowed_origin)
        return answer

    def _route(self, api: Any, route: Any, params: dict[str, str], request: _Request) -> _Answer:
        authorizer_context: dict[str, Any] | None = None
        auth_type = str(route.authorization_type or "NONE").upper()
        if auth_type in ("JWT", "CUSTOM"):
            authorizer = api.authorizers.get(route.authorizer_id)
            if authorizer is None:
                log.error(
                    "HTTP API %s: route %s names no authorizer of the API", self.api_id, route.route_key
                )
                return _message(500, "Internal Server Error")
            try:
                if auth_type == "JWT":
                    authorizer_context = self._jwt(authorizer, route, request)
                else:
                    authorizer_context = self._lambda_authorizer(authorizer, route, params, request)
            except _UnauthorizedError as refused:
                request.context["authorizer.error"] = str(refused) or "Unauthorized"
                challenge = f'Bearer scope="" error="invalid_token" error_description="{refused}"'
                headers = [("www-authenticate", challenge)] if auth_type == "JWT" and str(refused) else []
                return _message(401, "Unauthorized", headers)
            except _ForbiddenError:
                return _message(403, "Forbidden")
            except _AuthorizerFailedError:
                return _message(500, "Internal Server Error")
        target = str(route.target or "")
        integration = api.integrations.get(target.removeprefix("integrations/")) if target else None
        if integration is None:
            log.warning("HTTP API %s: route %s has no integration", self.api_id, route.route_key)
            return _message(404, "Not Found")
        return self._invoke(api, route, integration, params, request, authorizer_context)

    # --- authorizers ---------------------------------------------------------------------------------
    @staticmethod
    def _identity(authorizer: Any, request: _Request, params: dict[str, str]) -> list[str] | None:
        """The identity sources' values (`$request.header.X`, `$request.querystring.x`, ...), or None when one
        is missing (API Gateway then refuses without calling the authorizer)."""
        values = []
        query = dict(parse_qsl(request.query, keep_blank_values=True))
        for source in _as_list(authorizer.identity_source):
            name = source.rsplit(".", 1)[-1]
            if source.lower().startswith("$request.header."):
                value = request.header(name.lower())
            elif source.startswith("$request.querystring."):
                value = query.get(name)
            elif source.startswith("$context.") or source.startswith("$stageVariables."):
                value = name  # present by definition; the authorizer reads the event
            else:
                value = params.get(name)
            if not value:
                return None
            values.append(value)
        return values

    def _jwt(self, authorizer: Any, route: Any, request: _Request) -> dict[str, Any]:
        identity = self._identity(authorizer, request, {})
        if not identity:
            raise _UnauthorizedError("")
        config = authorizer.jwt_config or {}
        issuer = str(config.get("issuer") or "")
        claims, scopes = verify_jwt(
            identity[0], issuer, _as_list(config.get("audience")), list(route.authorization_scopes or [])
        )
        request.claims = claims
        return {"jwt": {"claims": {k: _claim_text(v) for k, v in claims.items()}, "scopes": scopes}}

    def _lambda_authorizer(
        self, authorizer: Any, route: Any, params: dict[str, str], request: _Request
    ) -> dict[str, Any]:
        """Call a Lambda (REQUEST) authorizer, or reuse its answer for the same identity within its TTL."""
        identity = self._identity(authorizer, request, params)
        if identity is None:
            raise _UnauthorizedError("")
        version = str(authorizer.auth_payload_format_version or "2.0")
        ttl = float(authorizer.auth_result_ttl or 0) if identity else 0.0
        key = (str(authorizer.id), tuple(identity))
        with self._cache_lock:
            cached = self._authorizer_cache.get(key)
        if cached is not None and cached[0] > time.monotonic():
            payload = cached[1]
        else:
            payload = self._authorize(authorizer, version, identity, route, params, request)
            if ttl > 0:
                with self._cache_lock:
                    self._authorizer_cache[key] = (time.monotonic() + ttl, payload)
        if version == "2.0" and _is_true(authorizer.enable_simple_response):
            if payload.get("isAuthorized") is not True:
                raise _ForbiddenError()
            return {"lambda": payload.get("context") or {}}
        if not _policy_allows(payload.get("policyDocument"), self._source_arn(request)):
            raise _ForbiddenError()
        context = dict(payload.get("context") or {})
        if version == "1.0":
            return {**context, "principalId": payload.get("principalId")}
        return {"lambda": context}

    def _authorize(
        self,
        authorizer: Any,
        version: str,
        identity: list[str],
        route: Any,
        params: dict[str, str],
        request: _Request,
    ) -> dict[str, Any]:
        """The authorizer function's answer (an object); raises `_AuthorizerFailedError` (500) otherwise."""
        function_arn = _function_arn(str(authorizer.authorizer_uri or ""))
        if version == "1.0":
            event = self._event_v1(route, params, request, None)
            event.update(
                {
                    "type": "REQUEST",
                    "methodArn": self._source_arn(request),
                    "identitySource": ",".join(identity),
                    "authorizationToken": identity[0] if identity else None,
                }
            )
        else:
            event = self._event_v2(route, params, request, None)
            event.pop("body", None)  # an authorizer never sees the body
            event.pop("isBase64Encoded", None)
            event.update(
                {"type": "REQUEST", "routeArn": self._source_arn(request), "identitySource": identity}
            )
        source_arn = (
            f"arn:aws:execute-api:{self.region}:{self.account_id}:{self.api_id}/authorizers/{authorizer.id}"
        )
        status, payload = self._call(
            function_arn, event, _AUTHORIZER_TIMEOUT_S, route, source_arn, authorizer.auth_creds_arn
        )
        if status is not None or not isinstance(payload, dict):
            log.warning(
                "HTTP API %s: Lambda authorizer %s failed or answered no JSON object (API Gateway: 500)",
                self.api_id,
                function_arn,
            )
            raise _AuthorizerFailedError()
        return payload

    # --- integrations --------------------------------------------------------------------------------
    def _source_arn(self, request: _Request) -> str:
        return (
            f"arn:aws:execute-api:{self.region}:{self.account_id}:{self.api_id}/{request.stage}/"
            f"{request.method}{request.route_path}"
        )

    def _invoke(
        self,
        api: Any,
        route: Any,
        integration: Any,
        params: dict[str, str],
        request: _Request,
        authorizer: dict[str, Any] | None,
    ) -> _Answer:
        version = str(integration.payload_format_version or "1.0")
        if version == "2.0":
            event = self._event_v2(route, params, request, authorizer)
        else:
            event = self._event_v1(route, params, request, authorizer)
        stage = api.stages.get(request.stage)
        if stage is not None and stage.stage_variables:
            event["stageVariables"] = dict(stage.stage_variables)
        timeout_s = min(MAX_INTEGRATION_TIMEOUT_S, (integration.timeout_in_millis or 30000) / 1000)
        function_arn = _function_arn(str(integration.integration_uri))
        status, payload = self._call(
            function_arn,
            event,
            timeout_s,
            route,
            self._source_arn(request),
            integration.credentials_arn,
            request.context,
        )
        if status is not None:
            return _message(status, "Service Unavailable" if status == 503 else "Internal Server Error")
        answer = _response_v2(payload) if version == "2.0" else _response_v1(payload)
        if answer is None:
            log.warning(
                "HTTP API %s: route %s: the function's response is malformed for payload format %s",
                self.api_id,
                route.route_key,
                version,
            )
            return _message(500, "Internal Server Error")
        return answer

    def _call(
        self,
        function_arn: str,
        event: dict[str, Any],
        timeout_s: float,
        route: Any,
        source_arn: str,
        credentials_arn: str | None = None,
        context: dict[str, str] | None = None,
    ) -> tuple[int | None, Any]:
        """Invoke a function as API Gateway does, for `source_arn` (or as the role `credentials_arn`):
        (None, its payload), or (500 / 503, None). `context` gets the access log's integration values."""
        notes = context if context is not None else {}
        started = time.monotonic()
        router = _router
        if router is None:
            log.error("HTTP API %s: the embedded AWS's Lambda runtime is not running", self.api_id)
            return 500, None
        if not self._may_invoke(function_arn, source_arn, credentials_arn, route):
            notes["integrationErrorMessage"] = _NO_PERMISSION
            return 500, None
        outcome: list[Any] = []

        def invoke() -> None:
            try:
                outcome.append(router.invoke_sync(function_arn, event))
            except Exception as exc:  # noqa: BLE001 - any failure to invoke is API Gateway's 500
                outcome.append(exc)

        worker = threading.Thread(target=invoke, name=f"apigw-{self.api_id}", daemon=True)
        worker.start()
        worker.join(timeout_s)
        notes["integrationLatency"] = str(int((time.monotonic() - started) * 1000))
        if not outcome:
            notes["integrationErrorMessage"] = "Integration timeout"
            log.warning(
                "HTTP API %s: route %s: %s did not answer within the integration timeout (%.1f s)",
                self.api_id,
                route.route_key,
                function_arn,
                timeout_s,
            )
            return 503, None
        result = outcome[0]
        if isinstance(result, Exception):
            log.warning("HTTP API %s: invoking %s failed: %s", self.api_id, function_arn, result)
            notes["integrationErrorMessage"] = str(result)
            return 500, None
        payload_text, error = result
        notes["integrationStatus"] = "200"
        if error is not None:
            notes["integrationErrorMessage"] = "The Lambda function returned the following error: " + str(
                error.get("errorMessage", error)
            )
            log.info(
                "HTTP API %s: route %s: %s failed: %s", self.api_id, route.route_key, function_arn, error
            )
            return 500, None
        try:
            return None, json.loads(payload_text) if payload_text else None
        except ValueError:
            return 500, None

    def _may_invoke(
        self, function_arn: str, source_arn: str, credentials_arn: str | None, route: Any
    ) -> bool:
        """Whether API Gateway may invoke the function: with the role's own policies when the integration
        or authorizer names credentials, else by the function's resource policy. Logs what is missing."""
        authority = iam.current()
        if credentials_arn and authority is not None:
            if authority.role_may(credentials_arn, [Check("lambda:InvokeFunction", function_arn)]) is None:
                return True
            log.warning(
                "HTTP API %s: route %s cannot invoke %s: the role %s does not allow lambda:InvokeFunction on "
                "it. API Gateway answers 500.",
                self.api_id,
                route.route_key,
                function_arn,
                credentials_arn,
            )
            return False
        if iam.delivery_allowed(
            "apigateway.amazonaws.com", "lambda:InvokeFunction", function_arn, source_arn
        ):
            return True
        log.warning(
            "HTTP API %s: route %s cannot invoke %s: the function's resource policy has no "
            "lambda:InvokeFunction permission for apigateway.amazonaws.com with a SourceArn matching %s "
            "(add an AWS::Lambda::Permission). API Gateway answers 500.",
            self.api_id,
            route.route_key,
            function_arn,
            source_arn,
        )
        return False

    def _context(self, route: Any, request: _Request) -> dict[str, Any]:
        return {
            "accountId": self.account_id,
            "apiId": self.api_id,
            "domainName": self.domain,
            "domainPrefix": self.api_id,
            "requestId": request.request_id,
            "routeKey": route.route_key,
            "stage": request.stage,
            "time": _request_time(request.started),
            "timeEpoch": int(request.started * 1000),
        }

    def _event_v2(
        self, route: Any, params: dict[str, str], request: _Request, authorizer: dict[str, Any] | None
    ) -> dict[str, Any]:
        cookies = [c.strip() for c in (request.header("cookie") or "").split(";") if c.strip()]
        headers: dict[str, str] = {}
        for name, value in [*request.headers, *self._forwarded(request)]:
            if name != "cookie":
                headers[name] = f"{headers[name]},{value}" if name in headers else value
        query: dict[str, str] = {}
        for name, value in parse_qsl(request.query, keep_blank_values=True):
            query[name] = f"{query[name]},{value}" if name in query else value
        context = self._context(route, request)
        context["http"] = {
            "method": request.method,
            "path": request.path,
            "protocol": "HTTP/1.1",
            "sourceIp": request.source_ip,
            "userAgent": request.header("user-agent") or "",
        }
        if authorizer is not None:
            context["authorizer"] = authorizer
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": route.route_key,
            "rawPath": request.raw_path,
            "rawQueryString": request.query,
        }
        if cookies:
            event["cookies"] = cookies
        event["headers"] = headers
        if query:
            event["queryStringParameters"] = query
        event["requestContext"] = context
        if params:
            event["pathParameters"] = params
        body, encoded = _body_fields(request)
        if body is not None:
            event["body"] = body
        event["isBase64Encoded"] = encoded
        return event

    def _event_v1(
        self, route: Any, params: dict[str, str], request: _Request, authorizer: dict[str, Any] | None
    ) -> dict[str, Any]:
        headers: dict[str, str] = {}
        multi_headers: dict[str, list[str]] = {}
        for name, value in [*request.headers, *self._forwarded(request)]:
            headers[name] = value
            multi_headers.setdefault(name, []).append(value)
        query: dict[str, str] = {}
        multi_query: dict[str, list[str]] = {}
        for name, value in parse_qsl(request.query, keep_blank_values=True):
            query[name] = value
            multi_query.setdefault(name, []).append(value)
        resource = route.route_key.partition(" ")[2] or route.route_key
        context = self._context(route, request)
        context.update(
            {
                "extendedRequestId": request.request_id,
                "httpMethod": request.method,
                "identity": {"sourceIp": request.source_ip, "userAgent": request.header("user-agent") or ""},
                "path": request.path,
                "protocol": "HTTP/1.1",
                "requestTime": context.pop("time"),
                "requestTimeEpoch": context.pop("timeEpoch"),
                "resourceId": route.route_key,
                "resourcePath": resource,
                "authorizer": _authorizer_v1(authorizer),
            }
        )
        body, encoded = _body_fields(request)
        return {
            "version": "1.0",
            "resource": resource,
            "path": request.path,
            "httpMethod": request.method,
            "headers": headers,
            "multiValueHeaders": multi_headers,
            "queryStringParameters": query or None,
            "multiValueQueryStringParameters": multi_query or None,
            "requestContext": context,
            "pathParameters": params or None,
            "stageVariables": None,
            "body": body,
            "isBase64Encoded": encoded,
        }

    def _forwarded(self, request: _Request) -> list[tuple[str, str]]:
        """The headers API Gateway adds on the way to the integration (the local scheme and port, not 443)."""
        host = request.header("host") or ""
        port = host.rpartition(":")[2] if ":" in host else "80"
        return [
            ("x-amzn-trace-id", f"Root=1-{int(request.started):08x}-{uuid.uuid4().hex[:24]}"),
            ("x-forwarded-for", request.source_ip),
            ("x-forwarded-port", port),
            ("x-forwarded-proto", "http"),
        ]


def _authorizer_v1(authorizer: dict[str, Any] | None) -> dict[str, Any] | None:
    if authorizer is None:
        return None
    if "jwt" in authorizer:
        return {"claims": authorizer["jwt"]["claims"], "scopes": authorizer["jwt"]["scopes"]}
    return dict(authorizer.get("lambda", authorizer))


def _function_arn(uri: str) -> str:
    """A function's ARN from an integration URI: the ARN itself or API Gateway's invocation path form."""
    match = re.search(r"/functions/(arn:[^/]+)/invocations", uri)
    return match.group(1) if match else uri


def _policy_allows(document: Any, route_arn: str) -> bool:
    """Whether a Lambda authorizer's IAM policy allows `execute-api:Invoke` on the route (a Deny wins)."""
    from fnmatch import fnmatchcase

    if not isinstance(document, dict):
        return False
    allowed = False
    statements = document.get("Statement") or []
    for statement in statements if isinstance(statements, list) else [statements]:
        actions = _as_list(statement.get("Action"))
        resources = _as_list(statement.get("Resource"))
        if not any(fnmatchcase("execute-api:Invoke", a) or a in ("*", "execute-api:*") for a in actions):
            continue
        if not any(fnmatchcase(route_arn, r) for r in resources):
            continue
        if statement.get("Effect") == "Deny":
            return False
        allowed = allowed or statement.get("Effect") == "Allow"
    return allowed


def _header_pairs(headers: Any) -> list[tuple[str, str]] | None:
    if headers is None:
        return []
    if not isinstance(headers, dict):
        return None
    return [(str(k), _claim_text(v)) for k, v in headers.items()]


def _decoded_body(payload: dict[str, Any]) -> bytes | None:
    body = payload.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        return None
    if _is_true(payload.get("isBase64Encoded")):
        try:
            return base64.b64decode(body, validate=True)
        except binascii.Error:
            return None
    return body.encode()


def _status(value: Any) -> int | None:
    try:
        status = int(value)
    except (TypeError, ValueError):
        return None
    return status if 100 <= status <= 599 else None


def _response_v2(payload: Any) -> _Answer | None:
    """A function's answer in payload format 2.0; without `statusCode` it is the body of a 200 JSON answer."""
    if not isinstance(payload, dict) or "statusCode" not in payload:
        text = payload if isinstance(payload, str) else json.dumps(payload)
        return _Answer(200, [("content-type", "application/json")], text.encode())
    status, headers, body = (
        _status(payload["statusCode"]),
        _header_pairs(payload.get("headers")),
        _decoded_body(payload),
    )
    cookies = payload.get("cookies") or []
    if status is None or headers is None or body is None or not isinstance(cookies, list):
        return None
    headers += [("set-cookie", str(cookie)) for cookie in cookies]
    return _Answer(status, headers, body)


def _response_v1(payload: Any) -> _Answer | None:
    """A function's answer in payload format 1.0: `statusCode` is required."""
    if not isinstance(payload, dict):
        return None
    status, headers, body = (
        _status(payload.get("statusCode")),
        _header_pairs(payload.get("headers")),
        _decoded_body(payload),
    )
    multi = payload.get("multiValueHeaders") or {}
    if status is None or headers is None or body is None or not isinstance(multi, dict):
        return None
    names = {name.lower() for name, _ in headers}
    for name, values in multi.items():
        if str(name).lower() in names:
            headers = [(k, v) for k, v in headers if k.lower() != str(name).lower()]
        headers += [(str(name), _claim_text(v)) for v in _as_list(values)]
    return _Answer(status, headers, body)


# --- CORS -------------------------------------------------------------------------------------------------
def _allowed_origin(cors: dict[str, Any], origin: str | None) -> str | None:
    """The Access-Control-Allow-Origin value for `origin`, or None when CORS does not admit it.

    An origin configured as the AWS URL of an endpoint served locally admits the local URL too."""
    if not origin:
        return None
    configured = _as_list(cors.get("allowOrigins"))
    if "*" in configured:
        return "*" if not _is_true(cors.get("allowCredentials")) else origin
    wanted = origin.rstrip("/").lower()
    for allowed in configured:
        for candidate in {allowed, str(endpoints.rewrite(allowed))}:
            if candidate.rstrip("/").lower() == wanted:
                return origin
    return None


def _cors_headers(cors: dict[str, Any], origin: str, *, expose_headers: bool = True) -> list[tuple[str, str]]:
    headers = [("access-control-allow-origin", origin)]
    if _is_true(cors.get("allowCredentials")):
        headers.append(("access-control-allow-credentials", "true"))
    expose = _as_list(cors.get("exposeHeaders")) if expose_headers else []
    if expose:
        headers.append(("access-control-expose-headers", ",".join(expose)))
    return headers


def _preflight(cors: dict[str, Any], origin: str | None) -> _Answer:
    """API Gateway's own answer to a preflight no route takes: 204, with the CORS headers if the origin is
    allowed (none otherwise, so the browser refuses)."""
    if origin is None:
        return _Answer(204, [], b"")
    headers = _cors_headers(cors, origin, expose_headers=False)
    methods, allow_headers = _as_list(cors.get("allowMethods")), _as_list(cors.get("allowHeaders"))
    if methods:
        headers.append(("access-control-allow-methods", ",".join(methods)))
    if allow_headers:
        headers.append(("access-control-allow-headers", ",".join(allow_headers)))
    if cors.get("maxAge") is not None:
        headers.append(("access-control-max-age", str(cors["maxAge"])))
    return _Answer(204, headers, b"")
