"""CloudFront distributions served locally, as CloudFront serves them (issue 13).

A distribution a stack creates is served as `https://<id>.cloudfront.net` on a local port (`endpoints`).
Each request picks its cache behavior (`CacheBehaviors` by `PathPattern` in order, else the default), is
refused 403 when the behavior does not allow its method, and goes to the behavior's origin:

- an **S3 bucket** origin is read from moto's backend directly, *as CloudFront reads it*: with an origin
  access control as the service principal `cloudfront.amazonaws.com` for `aws:SourceArn` = the distribution's
  ARN; with an origin access identity as that identity; with neither anonymously (public buckets only, after
  Block Public Access). The bucket policy decides (`iam`/`policy`), and a refusal is S3's own 403
  AccessDenied; a missing key is 404 NoSuchKey only when the reader may s3:ListBucket, else 403, as S3 does;
- an origin whose domain is **another endpoint served here** (an HTTP API) is proxied to it with only the
  viewer headers the behavior forwards: its cache policy's cache-key headers (or legacy
  `ForwardedValues.Headers`, `*` = all) and its origin request policy's, managed (by id) or an
  `AWS::CloudFront::CachePolicy` / `OriginRequestPolicy` of the stack; plus what CloudFront always sends
  (the origin's Host, CloudFront's User-Agent, X-Forwarded-For, Via, the origin's custom headers);
- any other origin answers 502, naming it.

Then `CustomErrorResponses` replace error answers (SPAs: 403/404 → /index.html 200), and the behavior's
response headers policy (the managed SecurityHeadersPolicy and SimpleCORS, or an
`AWS::CloudFront::ResponseHeadersPolicy` of the stack) adds its headers. Nothing is cached: every answer
is `X-Cache: Miss from cloudfront`. What only a CDN does (aliases, certificates, logging, price classes,
HTTP versions, viewer protocol policies, caching by cache policies) is accepted and has no local effect;
edge code (Lambda@Edge, CloudFront Functions) is refused at deploy (`check_template`).
"""

from __future__ import annotations

import base64
import datetime
import email.utils
import http.client
import logging
import re
import threading
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar
from xml.sax.saxutils import escape

from moto.core.common_models import CloudFormationModel

from embedded_aws import endpoints, iam, policy
from embedded_aws.actions import Check
from embedded_aws.cfn_models import _LocalModel
from embedded_aws.errors import UnsupportedResourceError
from embedded_aws.formats import s3_error_xml
from embedded_aws.policy import Principal

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]

#: The AWS managed response headers policies the embedded AWS applies, as CloudFormation configs.
_SECURITY_HEADERS = {
    "StrictTransportSecurity": {"AccessControlMaxAgeSec": 31536000, "Override": False},
    "ContentTypeOptions": {"Override": False},
    "FrameOptions": {"FrameOption": "SAMEORIGIN", "Override": False},
    "XSSProtection": {"Protection": True, "ModeBlock": True, "Override": False},
    "ReferrerPolicy": {"ReferrerPolicy": "strict-origin-when-cross-origin", "Override": False},
}
_SIMPLE_CORS = {
    "AccessControlAllowOrigins": {"Items": ["*"]},
    "AccessControlAllowMethods": {"Items": ["ALL"]},
    "AccessControlAllowHeaders": {"Items": ["*"]},
    "AccessControlAllowCredentials": False,
    "OriginOverride": False,
}
MANAGED_RESPONSE_HEADERS_POLICIES: dict[str, dict[str, Any]] = {
    "67f7725c-6f97-4210-82d7-5512b31e9d03": {
        "Name": "Managed-SecurityHeadersPolicy",
        "SecurityHeadersConfig": _SECURITY_HEADERS,
    },
    "60669652-455b-4ae9-85a4-c4c02393f86c": {"Name": "Managed-SimpleCORS", "CorsConfig": _SIMPLE_CORS},
    "eaab4381-ed33-4a86-88ca-d9558dc6cd63": {
        "Name": "Managed-CORS-and-SecurityHeadersPolicy",
        "CorsConfig": _SIMPLE_CORS,
        "SecurityHeadersConfig": _SECURITY_HEADERS,
    },
}
#: CloudFront's answer to a method its cache behavior does not allow (status 403).
METHOD_NOT_ALLOWED = (
    "This distribution is not configured to allow the HTTP request method that was used for this request. "
    "The distribution supports only cachable requests."
)
#: S3 origin domains: `<bucket>.s3.amazonaws.com`, `<bucket>.s3[.-]<region>.amazonaws.com`.
_S3_DOMAIN = re.compile(
    r"^(?P<bucket>[a-z0-9][a-z0-9.-]*?)\.s3(?:[.-](?P<region>[a-z0-9-]+))?\.amazonaws\.com$"
)
_S3_WEBSITE = re.compile(r"\.s3-website[.-]")
#: Headers of a stored object a GET through CloudFront carries (besides x-amz-meta-*).
_OBJECT_HEADERS = (
    "Content-Type",
    "Cache-Control",
    "Content-Encoding",
    "Content-Disposition",
    "Content-Language",
    "Expires",
)
#: Request headers not passed on to a proxied origin.
_HOP_HEADERS = frozenset(
    {"host", "connection", "keep-alive", "transfer-encoding", "te", "upgrade", "proxy-authorization"}
)


def _cloudfront_id() -> str:
    return "E" + uuid.uuid4().hex[:13].upper()


# --- the registry of what stacks created ----------------------------------------------------------------
_lock = threading.Lock()
_identities: dict[str, OriginAccessIdentity] = {}
_header_policies: dict[str, dict[str, Any]] = {}
#: The stack's origin request policies and cache policies: id → their viewer-header `HeadersConfig`.
_origin_request_policies: dict[str, dict[str, Any]] = {}
_cache_policies: dict[str, dict[str, Any]] = {}


class OriginAccessControl(_LocalModel, CloudFormationModel):  # type: ignore[misc]  # moto is untyped here
    """`AWS::CloudFront::OriginAccessControl`: CloudFront signs its origin requests as itself (S3 origins)."""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudFront::OriginAccessControl"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Id"

    def __init__(self, physical_id: str) -> None:
        self.physical_id = physical_id

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return self.physical_id

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> OriginAccessControl:
        config = cloudformation_json.get("Properties", {}).get("OriginAccessControlConfig", {})
        kind = str(config.get("OriginAccessControlOriginType", "s3"))
        if kind != "s3":
            raise UnsupportedResourceError(
                f"Origin access control {resource_name} is for {kind} origins; the embedded AWS serves S3 "
                "origins through OAC only (use OriginAccessControlOriginType: s3)."
            )
        return cls(_cloudfront_id())


class OriginAccessIdentity(_LocalModel, CloudFormationModel):  # type: ignore[misc]  # moto is untyped here
    """`AWS::CloudFront::CloudFrontOriginAccessIdentity` (legacy OAI): a principal bucket policies name."""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudFront::CloudFrontOriginAccessIdentity"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("Id", "S3CanonicalUserId")

    def __init__(self, physical_id: str) -> None:
        self.physical_id = physical_id
        self.canonical_user = uuid.uuid5(uuid.NAMESPACE_URL, physical_id).hex * 2
        self.arn = f"arn:aws:iam::cloudfront:user/CloudFront Origin Access Identity {physical_id}"

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return self.canonical_user if attribute_name == "S3CanonicalUserId" else self.physical_id

    def principal(self) -> Principal:
        return Principal(arn=self.arn, account="cloudfront", user_id=self.canonical_user)

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> OriginAccessIdentity:
        identity = cls(_cloudfront_id())
        with _lock:
            _identities[identity.physical_id] = identity
        return identity

    def delete(self, account_id: str, region_name: str) -> None:
        with _lock:
            _identities.pop(self.physical_id, None)


class _StackPolicy(_LocalModel):
    """A policy the stack defines (response headers, origin request, cache): what the distribution uses of its
    config is kept in `registry` by its id, as long as it exists."""

    CONFIG: ClassVar[str] = ""
    registry: ClassVar[dict[str, dict[str, Any]]] = {}

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("Id", "LastModifiedTime")

    def __init__(self, physical_id: str) -> None:
        self.physical_id = physical_id

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name == "LastModifiedTime":
            return datetime.datetime.now(datetime.UTC).isoformat()
        return self.physical_id

    @classmethod
    def kept(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        """What is kept of the policy's config (an origin request policy: the viewer headers it forwards)."""
        return dict(config.get("HeadersConfig") or {})

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> _StackPolicy:
        config = dict(cloudformation_json.get("Properties", {}).get(cls.CONFIG, {}))
        physical_id = str(uuid.uuid4())
        with _lock:
            cls.registry[physical_id] = cls.kept(config)
        return cls(physical_id)

    def delete(self, account_id: str, region_name: str) -> None:
        with _lock:
            self.registry.pop(self.physical_id, None)


class ResponseHeadersPolicy(_StackPolicy, CloudFormationModel):  # type: ignore[misc]  # moto is untyped here
    """`AWS::CloudFront::ResponseHeadersPolicy`: CORS, security and custom headers added to responses."""

    CONFIG = "ResponseHeadersPolicyConfig"
    registry = _header_policies

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudFront::ResponseHeadersPolicy"

    @classmethod
    def kept(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        return dict(config)


class OriginRequestPolicy(_StackPolicy, CloudFormationModel):  # type: ignore[misc]  # moto is untyped here
    """`AWS::CloudFront::OriginRequestPolicy`: which viewer headers reach the origin (`HeadersConfig`)."""

    CONFIG = "OriginRequestPolicyConfig"
    registry = _origin_request_policies

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudFront::OriginRequestPolicy"


class CachePolicy(_StackPolicy, CloudFormationModel):  # type: ignore[misc]  # moto is untyped here
    """`AWS::CloudFront::CachePolicy`: nothing is cached; the headers of its cache key reach the origin."""

    CONFIG = "CachePolicyConfig"
    registry = _cache_policies

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudFront::CachePolicy"

    @classmethod
    def kept(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        parameters = config.get("ParametersInCacheKeyAndForwardedToOrigin") or {}
        return dict(parameters.get("HeadersConfig") or {})


class Distribution(_LocalModel, CloudFormationModel):  # type: ignore[misc]  # moto is untyped here
    """`AWS::CloudFront::Distribution`: `<id>.cloudfront.net`, served on a local port while it exists."""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudFront::Distribution"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("Id", "DomainName")

    def __init__(self, physical_id: str, account_id: str, config: Mapping[str, Any]) -> None:
        self.physical_id = physical_id
        self.account_id = account_id
        self.domain_name = f"d{physical_id[1:].lower()}.cloudfront.net"
        self.arn = f"arn:aws:cloudfront::{account_id}:distribution/{physical_id}"
        self.config = config
        self.local_url: str | None = None

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return self.domain_name if attribute_name == "DomainName" else self.physical_id

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Distribution:
        config = cloudformation_json.get("Properties", {}).get("DistributionConfig", {})
        problem = config_problem(config)
        if problem:
            raise UnsupportedResourceError(f"Distribution {resource_name} {problem}")
        distribution = cls(_cloudfront_id(), account_id, config)
        served = endpoints.current()
        if served is not None:
            distribution.local_url = served.serve(distribution.domain_name, DistributionApp(distribution))
        return distribution

    def delete(self, account_id: str, region_name: str) -> None:
        served = endpoints.current()
        if served is not None:
            served.close(self.domain_name)


# --- what is refused at deploy ----------------------------------------------------------------------------
def _behaviors(config: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [config.get("DefaultCacheBehavior") or {}, *(config.get("CacheBehaviors") or [])]


def config_problem(config: Mapping[str, Any]) -> str | None:
    """Why a DistributionConfig cannot be honoured locally (a sentence to act on), or None."""
    for behavior in _behaviors(config):
        where = f"cache behavior {behavior.get('PathPattern', '(default)')}"
        for key, what in (
            ("LambdaFunctionAssociations", "Lambda@Edge functions"),
            ("FunctionAssociations", "CloudFront Functions"),
        ):
            if behavior.get(key):
                return (
                    f"runs {what} ({key} on its {where}), which the embedded AWS does not run; move that "
                    "logic to the origin or remove the association for local runs."
                )
        policy_id = behavior.get("ResponseHeadersPolicyId")
        if isinstance(policy_id, str) and _looks_managed(policy_id) and policy_id not in _managed_or_known():
            return (
                f"uses the response headers policy {policy_id} on its {where}, which the embedded AWS does "
                f"not know; use one of {', '.join(sorted(MANAGED_RESPONSE_HEADERS_POLICIES))} or an "
                "AWS::CloudFront::ResponseHeadersPolicy of the stack."
            )
    if config.get("OriginGroups", {}).get("Quantity"):
        return "uses origin groups (failover), which the embedded AWS does not serve; use single origins."
    return None


def _looks_managed(policy_id: str) -> bool:
    return (
        re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", policy_id) is not None
    )


def _managed_or_known() -> set[str]:
    with _lock:
        return set(MANAGED_RESPONSE_HEADERS_POLICIES) | set(_header_policies)


def check_template(template: Mapping[str, Any], conditions: Mapping[str, bool] | None = None) -> None:
    """Refuse, before anything is created, distributions whose edge code the embedded AWS cannot run."""
    problems = []
    for logical_id, resource in (template.get("Resources") or {}).items():
        if resource.get("Type") != "AWS::CloudFront::Distribution":
            continue
        if "Condition" in resource and not (conditions or {}).get(resource["Condition"], True):
            continue
        config = (resource.get("Properties") or {}).get("DistributionConfig") or {}
        for behavior in _behaviors(config):
            for key, what in (
                ("LambdaFunctionAssociations", "Lambda@Edge functions"),
                ("FunctionAssociations", "CloudFront Functions"),
            ):
                if behavior.get(key):
                    where = behavior.get("PathPattern", "(default)")
                    problems.append(
                        f"{logical_id} (AWS::CloudFront::Distribution) runs {what} ({key} on cache behavior "
                        f"{where}), which the embedded AWS does not run; move that logic to the origin, or "
                        "put the association behind a Condition that is false locally"
                    )
    if problems:
        raise UnsupportedResourceError("; ".join(problems) + ".")


# --- which viewer headers reach a custom origin -----------------------------------------------------------
@dataclass(frozen=True)
class Forwarded:
    """Which viewer headers reach the origin (lower-case names): every one but `names`, or only `names`."""

    every: bool = False
    names: frozenset[str] = frozenset()

    def allows(self, name: str) -> bool:
        return (name not in self.names) if self.every else (name in self.names)

    def __or__(self, other: Forwarded) -> Forwarded:
        if self.every and other.every:
            return Forwarded(True, self.names & other.names)
        if self.every or other.every:
            kept, excluded = (other, self) if self.every else (self, other)
            return Forwarded(True, excluded.names - kept.names)
        return Forwarded(False, self.names | other.names)


NO_HEADERS = Forwarded()
ALL_HEADERS = Forwarded(every=True)
#: The AWS managed origin request policies, by id: the viewer headers each forwards.
MANAGED_ORIGIN_REQUEST_POLICIES: dict[str, Forwarded] = {
    "216adef6-5c7f-47e4-b989-5492eafa07d3": ALL_HEADERS,  # AllViewer
    # AllViewerAndCloudFrontHeaders-2022-06 (CloudFront's own CloudFront-* headers are not made locally)
    "33f36d7e-f396-46d9-90e0-52428a34d9dc": ALL_HEADERS,
    "b689b0a8-53d0-40ab-baf2-68738e2966ac": Forwarded(True, frozenset({"host"})),  # AllViewerExceptHostHeader
    "88a5eaf4-2fd4-4709-b370-b4c650ea3fcf": Forwarded(  # CORS-S3Origin
        False, frozenset({"origin", "access-control-request-headers", "access-control-request-method"})
    ),
    "59781a5b-3903-41f3-afcb-af62929ccde1": Forwarded(False, frozenset({"origin"})),  # CORS-CustomOrigin
    "acba4595-bd28-49b8-b9fe-13317c0390fa": Forwarded(False, frozenset({"user-agent", "referer"})),
}
#: The AWS managed cache policies, by id: the viewer headers of their cache key (forwarded to the origin).
MANAGED_CACHE_POLICIES: dict[str, Forwarded] = {
    "4135ea2d-6df8-44a3-9df3-4b5a84be39ad": NO_HEADERS,  # CachingDisabled
    "658327ea-f89d-4fab-a63d-7e88639e58f6": NO_HEADERS,  # CachingOptimized
    "b2884449-e4de-46a7-ac36-70bc7f1ddd6d": NO_HEADERS,  # CachingOptimizedForUncompressedObjects
}
_warned: set[str] = set()


def _header_items(value: Any) -> list[Any]:
    """A CloudFormation list (`[a, b]`) or a CloudFront API one (`{"Quantity": 2, "Items": [a, b]}`)."""
    if isinstance(value, Mapping):
        return list(value.get("Items") or [])
    return list(value) if isinstance(value, list) else []


def _warn_once(key: str, message: str, *args: Any) -> None:
    with _lock:
        if key in _warned:
            return
        _warned.add(key)
    log.warning(message, *args)


def _from_headers_config(config: Mapping[str, Any], what: str) -> Forwarded:
    behavior = str(config.get("HeaderBehavior") or "none")
    names = frozenset(str(name).lower() for name in _header_items(config.get("Headers")))
    if behavior == "none":
        return NO_HEADERS
    if behavior == "whitelist":
        return Forwarded(False, names)
    if behavior in ("allViewer", "allViewerAndWhitelistCloudFront"):
        return ALL_HEADERS
    if behavior == "allExcept":
        return Forwarded(True, names)
    _warn_once(
        what, "CloudFront: the %s has HeaderBehavior %r; no viewer header is forwarded for it", what, behavior
    )
    return NO_HEADERS


def _policy_headers(
    policy_id: str, managed: Mapping[str, Forwarded], stack: Mapping[str, dict[str, Any]], what: str
) -> Forwarded:
    if policy_id in managed:
        return managed[policy_id]
    with _lock:
        config = stack.get(policy_id)
    if config is None:
        _warn_once(
            policy_id,
            "CloudFront: the %s %s is neither a managed policy the embedded AWS knows nor one of a stack; no "
            "viewer header is forwarded for it",
            what,
            policy_id,
        )
        return NO_HEADERS
    return _from_headers_config(config, f"{what} {policy_id}")


def forwarded_headers(behavior: Mapping[str, Any]) -> Forwarded:
    """The viewer headers a cache behavior forwards to a custom origin, as CloudFront decides: those of its
    cache policy's cache key, or (legacy) `ForwardedValues.Headers` (`*`: all), and those of its origin
    request policy; managed policies by id, or the stack's own; none otherwise."""
    cache_policy = behavior.get("CachePolicyId")
    if cache_policy:
        forwarded = _policy_headers(
            str(cache_policy), MANAGED_CACHE_POLICIES, _cache_policies, "cache policy"
        )
    else:
        names = [
            str(name).lower()
            for name in _header_items((behavior.get("ForwardedValues") or {}).get("Headers"))
        ]
        forwarded = ALL_HEADERS if "*" in names else Forwarded(False, frozenset(names))
    request_policy = behavior.get("OriginRequestPolicyId")
    if request_policy:
        forwarded |= _policy_headers(
            str(request_policy),
            MANAGED_ORIGIN_REQUEST_POLICIES,
            _origin_request_policies,
            "origin request policy",
        )
    return forwarded


# --- serving ---------------------------------------------------------------------------------------------
@dataclass
class _Answer:
    """An HTTP answer being built: status, headers (in order) and body."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    error_code: str = ""  # S3's error code when the origin refused

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers if k.lower() == lowered), None)

    def set(self, name: str, value: str) -> None:
        lowered = name.lower()
        self.headers = [(k, v) for k, v in self.headers if k.lower() != lowered]
        self.headers.append((name, value))


def path_pattern_matches(pattern: str, path: str) -> bool:
    """CloudFront's `PathPattern` match: case-sensitive, `*` any run of characters (`/` too), `?` one; the
    leading `/` optional in the pattern."""
    if not pattern.startswith("/"):
        pattern = "/" + pattern
    regex = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(regex, path, re.S) is not None


def _s3_error(status: int, code: str, message: str, resource: str = "") -> _Answer:
    request_id = uuid.uuid4().hex[:16].upper()
    extra = {"Key": resource} if code == "NoSuchKey" and resource else {}
    body = s3_error_xml(code, message, request_id, **extra)
    return _Answer(
        status,
        [("Content-Type", "application/xml"), ("Server", "AmazonS3"), ("x-amz-request-id", request_id)],
        body,
        code,
    )


def _cloudfront_error(status: int, title: str, sentence: str) -> _Answer:
    """CloudFront's own HTML error page ("The request could not be satisfied")."""
    page = (
        '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN">\n<HTML><HEAD><TITLE>ERROR: The '
        f"request could not be satisfied</TITLE></HEAD><BODY><H1>{status} {escape(title)}</H1>\n"
        f'<H2>The request could not be satisfied.</H2>\n<HR noshade size="1px">\n{escape(sentence)}\n'
        "</BODY></HTML>"
    ).encode()
    answer = _Answer(status, [("Content-Type", "text/html")], page)
    answer.error_code = "cloudfront"
    return answer


def _http_date(when: datetime.datetime) -> str:
    return email.utils.format_datetime(when.astimezone(datetime.UTC), usegmt=True)


@dataclass(frozen=True)
class _Origin:
    origin_id: str
    domain: str
    path: str  # OriginPath: "" or "/prefix"
    bucket: str | None  # an S3 origin's bucket
    oac: bool
    oai: str | None  # the identity's id
    custom_headers: tuple[tuple[str, str], ...] = ()  # OriginCustomHeaders, added to every origin request


def _origins(config: Mapping[str, Any]) -> dict[str, _Origin]:
    found = {}
    for origin in config.get("Origins") or []:
        domain = str(origin.get("DomainName", "")).lower()
        match = _S3_DOMAIN.match(domain)
        bucket = match["bucket"] if match and not _S3_WEBSITE.search(domain) else None
        oai_text = str((origin.get("S3OriginConfig") or {}).get("OriginAccessIdentity") or "")
        found[str(origin.get("Id"))] = _Origin(
            origin_id=str(origin.get("Id")),
            domain=domain,
            path=str(origin.get("OriginPath") or "").rstrip("/"),
            bucket=bucket,
            oac=bool(origin.get("OriginAccessControlId")),
            oai=oai_text.rsplit("/", 1)[-1] or None,
            custom_headers=tuple(
                (str(h.get("HeaderName")), str(h.get("HeaderValue", "")))
                for h in _header_items(origin.get("OriginCustomHeaders"))
                if isinstance(h, Mapping) and h.get("HeaderName")
            ),
        )
    return found


class DistributionApp:
    """The WSGI app serving one distribution."""

    def __init__(self, distribution: Distribution) -> None:
        self.distribution = distribution
        self.config = distribution.config
        self.origins = _origins(distribution.config)
        self.pop = "LCL1-P1"

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            answer = self.answer(environ)
        except Exception as exc:
            log.error("Distribution %s failed", self.distribution.physical_id, exc_info=exc)
            answer = _cloudfront_error(502, "ERROR", f"The embedded AWS failed: {type(exc).__name__}: {exc}")
        request_id = base64.urlsafe_b64encode(uuid.uuid4().bytes + uuid.uuid4().bytes[:10]).decode()
        answer.set("Via", f"1.1 {uuid.uuid4().hex}.cloudfront.net (CloudFront)")
        answer.set("X-Cache", "Error from cloudfront" if answer.status >= 400 else "Miss from cloudfront")
        answer.set("X-Amz-Cf-Pop", self.pop)
        answer.set("X-Amz-Cf-Id", request_id)
        body = b"" if environ.get("REQUEST_METHOD") == "HEAD" else answer.body
        if answer.header("Content-Length") is None:
            answer.set("Content-Length", str(len(answer.body)))
        phrase = http.client.responses.get(answer.status, "Unknown")
        start_response(f"{answer.status} {phrase}", answer.headers)
        return [body]

    def answer(self, environ: dict[str, Any]) -> _Answer:
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        raw_path = str(environ.get("RAW_URI") or environ.get("PATH_INFO") or "/").split("?", 1)[0] or "/"
        path = urllib.parse.unquote(raw_path)
        if self.config.get("Enabled", True) not in (True, "true", "True"):
            return _cloudfront_error(403, "ERROR", "The distribution is disabled.")
        behavior = self.behavior(path)
        allowed = [str(m).upper() for m in (behavior.get("AllowedMethods") or ["GET", "HEAD"])]
        if method not in allowed:
            return _cloudfront_error(403, "ERROR", METHOD_NOT_ALLOWED)
        if path == "/" and self.config.get("DefaultRootObject"):
            path = "/" + str(self.config["DefaultRootObject"]).lstrip("/")
        answer = self.fetch(behavior, method, path, environ)
        if answer.status >= 400 and answer.error_code != "cloudfront":
            answer = self.custom_error(answer, method, environ)
        self.apply_headers_policy(behavior, answer, environ)
        return answer

    def behavior(self, path: str) -> Mapping[str, Any]:
        for behavior in self.config.get("CacheBehaviors") or []:
            if path_pattern_matches(str(behavior.get("PathPattern", "")), path):
                return dict(behavior)
        return dict(self.config.get("DefaultCacheBehavior") or {})

    def fetch(self, behavior: Mapping[str, Any], method: str, path: str, environ: dict[str, Any]) -> _Answer:
        origin = self.origins.get(str(behavior.get("TargetOriginId")))
        if origin is None:
            return _cloudfront_error(
                502, "ERROR", f"No origin {behavior.get('TargetOriginId')} is configured."
            )
        if origin.bucket is not None:
            return self.from_bucket(origin, method, origin.path + path, environ)
        served = endpoints.current()
        local = served.local_url(origin.domain) if served is not None else None
        if local is None:
            return _cloudfront_error(
                502,
                "ERROR",
                f"The origin {origin.domain} ({origin.origin_id}) is not an S3 bucket or an endpoint the "
                "embedded AWS serves (an HTTP API of a stack), so it cannot be reached locally.",
            )
        return _proxy(local, origin.path + path, method, environ, forwarded_headers(behavior), origin)

    # --- S3 origins ----------------------------------------------------------------------------------
    def reader(
        self, origin: _Origin
    ) -> tuple[Principal, dict[str, str], tuple[policy.Statement, ...] | None]:
        """Who CloudFront reads `origin` as, the request context, and (for an OAI) the bucket policy with
        its `CanonicalUser` principals named as the identity's ARN (as S3 stores such a policy)."""
        account = self.distribution.account_id
        if origin.oac:
            principal = policy.service_principal("cloudfront.amazonaws.com", account)
            return principal, {"aws:SourceArn": self.distribution.arn, "aws:SourceAccount": account}, None
        if origin.oai:
            with _lock:
                identity = _identities.get(origin.oai)
            principal = (
                identity.principal()
                if identity is not None
                else Principal(
                    arn=f"arn:aws:iam::cloudfront:user/CloudFront Origin Access Identity {origin.oai}",
                    account="cloudfront",
                    user_id=origin.oai,
                )
            )
            return principal, {}, ()
        return Principal(arn="*", account="", user_id="anonymous"), {}, ()

    def allowed(self, origin: _Origin, action: str, resource: str) -> policy.Decision:
        authority = iam.current()
        if authority is None:
            return policy.ALLOWED
        principal, extra, statements = self.reader(origin)
        context = authority.context(principal, extra)
        if statements is None:  # a service principal: IAM's own evaluation
            return authority.decide(principal, Check(action, resource), context)
        statements = tuple(_canonical_as_arn(s, principal) for s in authority.resource_policy(resource))
        if principal.arn == "*" and _restricts_public(origin.bucket or ""):
            statements = tuple(s for s in statements if not _public(s))
        decision = policy.decide(principal, action, resource, context, resource_policy=statements)
        public_read = not decision.allowed and principal.arn == "*" and action == "s3:GetObject"
        if public_read and _public_acl(origin.bucket or "", resource.split("/", 1)[1]):
            return policy.ALLOWED
        return decision

    def from_bucket(self, origin: _Origin, method: str, path: str, environ: dict[str, Any]) -> _Answer:
        from moto.s3.models import s3_backends

        from embedded_aws import patches

        bucket_name = origin.bucket or ""
        key_name = path.lstrip("/")
        if method == "OPTIONS":
            from embedded_aws import s3_cors

            return _Answer(*s3_cors.preflight(bucket_name, environ))
        if method not in ("GET", "HEAD"):
            return _cloudfront_error(
                403, "ERROR", f"{method} to an S3 origin is not served by the embedded AWS; S3 refuses it."
            )
        backend = s3_backends[self.distribution.account_id]["aws"]
        if bucket_name not in backend.buckets:
            return _s3_error(404, "NoSuchBucket", "The specified bucket does not exist")
        object_arn = f"arn:aws:s3:::{bucket_name}/{key_name}"
        decision = self.allowed(origin, "s3:GetObject", object_arn)
        if not decision.allowed:
            return _s3_error(403, "AccessDenied", "Access Denied")
        with patches._s3_object_lock:
            key = backend.get_object(bucket_name, key_name) if key_name else None
            if key is not None:
                value, metadata = bytes(key.value), dict(key.metadata)
                etag, modified, version = key.etag, key.last_modified, key.version_id
                versioned = bool(getattr(key, "_is_versioned", False))
        if key is None:
            if self.allowed(origin, "s3:ListBucket", f"arn:aws:s3:::{bucket_name}").allowed:
                return _s3_error(404, "NoSuchKey", "The specified key does not exist.", key_name)
            return _s3_error(403, "AccessDenied", "Access Denied")
        answer = _Answer(200, [], value)
        lowered = {k.lower(): str(v) for k, v in metadata.items()}
        answer.set("Content-Type", lowered.get("content-type", "binary/octet-stream"))
        for name in _OBJECT_HEADERS[1:]:
            if name.lower() in lowered:
                answer.set(name, lowered[name.lower()])
        for name, value_text in lowered.items():
            if name.startswith("x-amz-meta-"):
                answer.set(name, value_text)
        last_modified = modified if isinstance(modified, datetime.datetime) else None
        if last_modified is not None and last_modified.tzinfo is None:
            last_modified = last_modified.replace(tzinfo=datetime.UTC)  # moto keeps UTC without a zone
        answer.set("ETag", str(etag))
        if last_modified is not None:
            answer.set("Last-Modified", _http_date(last_modified))
        if versioned:
            answer.set("x-amz-version-id", str(version))
        answer.set("Accept-Ranges", "bytes")
        answer.set("Server", "AmazonS3")
        return _conditional(answer, environ, last_modified)

    def custom_error(self, answer: _Answer, method: str, environ: dict[str, Any]) -> _Answer:
        """The distribution's `CustomErrorResponses` entry for this status, if any, applied."""
        for entry in self.config.get("CustomErrorResponses") or []:
            if int(entry.get("ErrorCode", 0)) != answer.status:
                continue
            page_path = entry.get("ResponsePagePath")
            status = int(entry.get("ResponseCode") or answer.status)
            if not page_path:
                answer.status = status
                return answer
            page = self.fetch(self.behavior(str(page_path)), "GET", str(page_path), environ)
            if page.status != 200:
                return answer  # CloudFront answers the origin's error when the error page is missing too
            page.status = status
            page.headers = [(k, v) for k, v in page.headers if k.lower() not in ("etag", "last-modified")]
            return page
        return answer

    # --- response headers policies ------------------------------------------------------------------
    def apply_headers_policy(
        self, behavior: Mapping[str, Any], answer: _Answer, environ: dict[str, Any]
    ) -> None:
        policy_id = behavior.get("ResponseHeadersPolicyId")
        if not policy_id:
            return
        with _lock:
            config = MANAGED_RESPONSE_HEADERS_POLICIES.get(str(policy_id)) or _header_policies.get(
                str(policy_id)
            )
        if config is None:
            return
        apply_response_headers(config, answer, environ)


def apply_response_headers(config: Mapping[str, Any], answer: _Answer, environ: Mapping[str, Any]) -> None:
    """A response headers policy's headers on `answer` (each kept from the origin unless `Override`)."""

    def put(name: str, value: str, override: Any) -> None:
        if answer.header(name) is None or override in (True, "true"):
            answer.set(name, value)

    security = config.get("SecurityHeadersConfig") or {}
    hsts = security.get("StrictTransportSecurity")
    if hsts:
        value = f"max-age={hsts.get('AccessControlMaxAgeSec', 31536000)}"
        if hsts.get("IncludeSubdomains") in (True, "true"):
            value += "; includeSubDomains"
        if hsts.get("Preload") in (True, "true"):
            value += "; preload"
        put("Strict-Transport-Security", value, hsts.get("Override"))
    if security.get("ContentTypeOptions"):
        put("X-Content-Type-Options", "nosniff", security["ContentTypeOptions"].get("Override"))
    frame = security.get("FrameOptions")
    if frame:
        put("X-Frame-Options", str(frame.get("FrameOption", "SAMEORIGIN")), frame.get("Override"))
    xss = security.get("XSSProtection")
    if xss:
        value = "1" if xss.get("Protection") in (True, "true") else "0"
        if value == "1" and xss.get("ModeBlock") in (True, "true"):
            value += "; mode=block"
        elif value == "1" and xss.get("ReportUri"):
            value += f"; report={xss['ReportUri']}"
        put("X-XSS-Protection", value, xss.get("Override"))
    referrer = security.get("ReferrerPolicy")
    if referrer:
        put("Referrer-Policy", str(referrer.get("ReferrerPolicy")), referrer.get("Override"))
    csp = security.get("ContentSecurityPolicy")
    if csp:
        put("Content-Security-Policy", str(csp.get("ContentSecurityPolicy")), csp.get("Override"))
    for header in (config.get("CustomHeadersConfig") or {}).get("Items") or []:
        put(str(header["Header"]), str(header["Value"]), header.get("Override"))
    for header in (config.get("RemoveHeadersConfig") or {}).get("Items") or []:
        answer.headers = [(k, v) for k, v in answer.headers if k.lower() != str(header["Header"]).lower()]
    cors = config.get("CorsConfig")
    origin = str(environ.get("HTTP_ORIGIN") or "")
    if cors and origin:
        _apply_cors(cors, answer, origin, environ)


def _items(value: Any) -> list[str]:
    return [str(v) for v in (value or {}).get("Items") or []] if isinstance(value, Mapping) else []


def _apply_cors(cors: Mapping[str, Any], answer: _Answer, origin: str, environ: Mapping[str, Any]) -> None:
    """A response headers policy's CorsConfig, as CloudFront adds it to a request carrying `Origin`."""
    override = cors.get("OriginOverride")
    origins = [str(endpoints.rewrite(o)) for o in _items(cors.get("AccessControlAllowOrigins"))]
    if "*" in origins:
        allow_origin = "*"
    elif origin in origins:
        allow_origin = origin
    else:
        return

    def put(name: str, value: str) -> None:
        if override in (True, "true") or answer.header(name) is None:
            answer.set(name, value)

    put("Access-Control-Allow-Origin", allow_origin)
    if allow_origin != "*":
        answer.set("Vary", "Origin")
    if cors.get("AccessControlAllowCredentials") in (True, "true"):
        put("Access-Control-Allow-Credentials", "true")
    exposed = _items(cors.get("AccessControlExposeHeaders"))
    if exposed:
        put("Access-Control-Expose-Headers", ", ".join(exposed))
    if environ.get("REQUEST_METHOD") == "OPTIONS" and environ.get("HTTP_ACCESS_CONTROL_REQUEST_METHOD"):
        methods = _items(cors.get("AccessControlAllowMethods"))
        if methods == ["ALL"]:
            methods = ["GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"]
        put("Access-Control-Allow-Methods", ", ".join(methods))
        headers = _items(cors.get("AccessControlAllowHeaders"))
        if headers:
            requested = str(environ.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS") or "")
            put(
                "Access-Control-Allow-Headers",
                requested if headers == ["*"] and requested else ", ".join(headers),
            )
        if cors.get("AccessControlMaxAgeSec") is not None:
            put("Access-Control-Max-Age", str(cors["AccessControlMaxAgeSec"]))
        if answer.status >= 400:
            answer.status, answer.body = 200, b""
            answer.headers = [(k, v) for k, v in answer.headers if k.lower().startswith("access-control-")]


# --- helpers ---------------------------------------------------------------------------------------------
def _canonical_as_arn(statement: policy.Statement, principal: Principal) -> policy.Statement:
    """S3 stores a `CanonicalUser` principal of an origin access identity as the identity's ARN."""
    if not statement.principals or principal.account != "cloudfront":
        return statement
    renamed = tuple(
        ("AWS", principal.arn) if kind == "CanonicalUser" and value == principal.user_id else (kind, value)
        for kind, value in statement.principals
    )
    return replace(statement, principals=renamed)


def _public(statement: policy.Statement) -> bool:
    return statement.effect == "Allow" and any(
        kind == "*" or (kind == "AWS" and value == "*") for kind, value in statement.principals or ()
    )


def _block(bucket_name: str) -> Any:
    from moto.s3.models import s3_backends

    bucket = s3_backends[iam.ACCOUNT]["aws"].buckets.get(bucket_name)
    return getattr(bucket, "public_access_block", None)


def _restricts_public(bucket_name: str) -> bool:
    """Block Public Access's RestrictPublicBuckets: a public policy grants anonymous callers nothing."""
    block = _block(bucket_name)
    return bool(block is not None and block.restrict_public_buckets)


def _public_acl(bucket_name: str, key_name: str) -> bool:
    """Whether an object (or its bucket) is public-read by ACL, and Block Public Access does not ignore it."""
    from moto.s3.models import s3_backends

    block = _block(bucket_name)
    if block is not None and block.ignore_public_acls:
        return False
    backend = s3_backends[iam.ACCOUNT]["aws"]
    bucket = backend.buckets.get(bucket_name)
    key = backend.get_object(bucket_name, key_name) if bucket is not None else None
    for acl in (getattr(key, "acl", None), getattr(bucket, "acl", None)):
        if acl is not None and acl.public_read:
            return True
    return False


def _conditional(answer: _Answer, environ: Mapping[str, Any], modified: datetime.datetime | None) -> _Answer:
    """If-None-Match / If-Modified-Since (304) and a single byte Range (206), as S3 answers them."""
    etag = answer.header("ETag") or ""
    if_none_match = str(environ.get("HTTP_IF_NONE_MATCH") or "")
    not_modified = False
    if if_none_match:
        not_modified = any(tag.strip() in (etag, "*", f"W/{etag}") for tag in if_none_match.split(","))
    elif environ.get("HTTP_IF_MODIFIED_SINCE") and modified is not None:
        try:
            since = email.utils.parsedate_to_datetime(str(environ["HTTP_IF_MODIFIED_SINCE"]))
        except (TypeError, ValueError):
            since = None
        not_modified = since is not None and modified.replace(microsecond=0) <= since
    if not_modified:
        kept = ("etag", "last-modified", "cache-control", "expires", "x-amz-version-id", "server")
        return _Answer(304, [(k, v) for k, v in answer.headers if k.lower() in kept], b"")
    ranged = re.fullmatch(r"bytes=(\d*)-(\d*)", str(environ.get("HTTP_RANGE") or "").strip())
    if ranged and (ranged[1] or ranged[2]):
        size = len(answer.body)
        if ranged[1]:
            start, end = int(ranged[1]), min(int(ranged[2]) if ranged[2] else size - 1, size - 1)
        else:
            start, end = max(size - int(ranged[2]), 0), size - 1
        if start >= size or start > end:
            error = _s3_error(416, "InvalidRange", "The requested range is not satisfiable")
            error.set("Content-Range", f"bytes */{size}")
            return error
        answer.status, answer.body = 206, answer.body[start : end + 1]
        answer.set("Content-Range", f"bytes {start}-{end}/{size}")
    answer.set("Content-Length", str(len(answer.body)))
    return answer


def _proxy(
    local_url: str,
    path: str,
    method: str,
    environ: Mapping[str, Any],
    forwarded: Forwarded,
    origin: _Origin,
) -> _Answer:
    """The request passed on to an endpoint served here (an HTTP API), as CloudFront forwards it: only the
    viewer headers the behavior's policies forward (`forwarded_headers`); the Host of the origin; the
    body's Content-Type; CloudFront's User-Agent unless the viewer's is forwarded; X-Forwarded-For and Via;
    and the origin's custom headers."""
    parsed = urllib.parse.urlsplit(local_url)
    query = str(environ.get("QUERY_STRING") or "")
    target = urllib.parse.quote(path) + (f"?{query}" if query else "")
    headers: dict[str, str] = {}
    for key, value in environ.items():
        if not key.startswith("HTTP_"):
            continue
        name = key[5:].replace("_", "-").lower()
        if name not in _HOP_HEADERS and forwarded.allows(name):
            headers[name.title()] = str(value)
    if environ.get("CONTENT_TYPE"):
        headers["Content-Type"] = str(environ["CONTENT_TYPE"])
    headers.setdefault("User-Agent", "Amazon CloudFront")
    viewer_ip = str(environ.get("REMOTE_ADDR") or "127.0.0.1")
    sent_for = str(environ.get("HTTP_X_FORWARDED_FOR") or "")
    headers["X-Forwarded-For"] = f"{sent_for}, {viewer_ip}" if sent_for else viewer_ip
    headers["Via"] = f"1.1 {uuid.uuid4().hex}.cloudfront.net (CloudFront)"
    for name, value in origin.custom_headers:
        headers[name] = value
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else None
    connection = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port, timeout=60)
    try:
        connection.request(method, target, body=body, headers=headers)
        response = connection.getresponse()
        content = response.read()
        kept = [
            (k, v) for k, v in response.getheaders() if k.lower() not in _HOP_HEADERS | {"content-length"}
        ]
        return _Answer(response.status, kept, content, "origin" if response.status >= 400 else "")
    except OSError as exc:
        return _cloudfront_error(502, "ERROR", f"CloudFront could not connect to the origin: {exc}")
    finally:
        connection.close()
