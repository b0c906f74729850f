"""S3 CORS as S3 evaluates it for browsers (issue 13).

A bucket's CORS rules (`PutBucketCors`, or `CorsConfiguration.CorsRules` on an `AWS::S3::Bucket`, which
moto's CloudFormation ignored) govern:

- a **preflight** `OPTIONS` with `Origin` and `Access-Control-Request-Method` (and `-Headers`): the first
  rule whose origin, method and every requested header match answers 200 with its `Access-Control-Allow-*`
  headers; none matching answers S3's 403 `AccessForbidden` "CORSResponse: This CORS request is not
  allowed...", a bucket without rules "CORSResponse: CORS is not enabled for this bucket.";
- an **actual request** carrying `Origin`: the first rule matching origin and method adds
  `Access-Control-Allow-Origin`, `-Allow-Methods`, `-Expose-Headers`, `-Max-Age`, `-Allow-Credentials`
  and `Vary`; no rule matching adds nothing (the browser then withholds the answer).

moto matched every rule in turn, raised on the first whose origin differed and ignored methods and headers:
its own CORS headers are replaced by these. Origins in rules are compared as written and after
`endpoints.rewrite` (a rule for `https://d111.cloudfront.net` admits that distribution's local origin).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from embedded_aws import endpoints, iam
from embedded_aws.formats import s3_error_xml

NOT_ALLOWED = (
    "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, "
    "request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted "
    "by the resource's CORS spec."
)
NOT_ENABLED = "CORSResponse: CORS is not enabled for this bucket."
_VARY = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"
_METHODS = frozenset({"GET", "PUT", "HEAD", "POST", "DELETE"})


def _wildcard(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, value, re.IGNORECASE if ignore_case else 0) is not None


def _list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]


def origin_allowed(allowed: list[str], origin: str) -> bool:
    """Whether an `Origin` matches one of a rule's AllowedOrigins (one `*` wildcard each), as written or as
    the local URL of an endpoint served here."""
    for pattern in allowed:
        for candidate in {pattern, str(endpoints.rewrite(pattern))}:
            if _wildcard(candidate, origin):
                return True
    return False


def bucket_rules(bucket_name: str) -> list[Any] | None:
    """The bucket's CORS rules (moto's CorsRule objects), or None when the bucket does not exist."""
    from moto.s3.models import s3_backends

    bucket = s3_backends[iam.ACCOUNT]["aws"].buckets.get(bucket_name)
    return None if bucket is None else list(bucket.cors)


def _matching_rule(rules: list[Any], origin: str, method: str, headers: list[str]) -> Any:
    for rule in rules:
        if not origin_allowed(_list(rule.allowed_origins), origin):
            continue
        if method not in _list(rule.allowed_methods):
            continue
        allowed_headers = _list(rule.allowed_headers)
        if all(any(_wildcard(a, h, ignore_case=True) for a in allowed_headers) for h in headers):
            return rule
    return None


def _rule_headers(rule: Any, origin: str, *, preflight: bool, requested: list[str]) -> list[tuple[str, str]]:
    wildcard = "*" in _list(rule.allowed_origins)
    headers = [("Access-Control-Allow-Origin", "*" if wildcard else origin)]
    headers.append(("Access-Control-Allow-Methods", ", ".join(_list(rule.allowed_methods))))
    if preflight and requested:
        headers.append(("Access-Control-Allow-Headers", ", ".join(requested)))
    exposed = _list(rule.exposed_headers)
    if exposed:
        headers.append(("Access-Control-Expose-Headers", ", ".join(exposed)))
    if rule.max_age_seconds not in (None, ""):
        headers.append(("Access-Control-Max-Age", str(rule.max_age_seconds)))
    if not wildcard:
        headers.append(("Access-Control-Allow-Credentials", "true"))
    headers.append(("Vary", _VARY))
    return headers


def _forbidden(message: str, method: str = "OPTIONS") -> tuple[int, list[tuple[str, str]], bytes]:
    body = s3_error_xml("AccessForbidden", message, Method=method, ResourceType="BUCKET")
    return 403, [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))], body


def preflight(bucket_name: str, environ: Mapping[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    """S3's answer to a CORS preflight `OPTIONS` on a bucket (or an object in it): (status, headers, body)."""
    origin = str(environ.get("HTTP_ORIGIN") or "")
    method = str(environ.get("HTTP_ACCESS_CONTROL_REQUEST_METHOD") or "")
    if not origin or not method:
        message = "Insufficient information. Origin request header needed."
        if origin:
            message = "Invalid Access-Control-Request-Method: null"
        body = s3_error_xml("BadRequest", message)
        return 400, [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))], body
    rules = bucket_rules(bucket_name)
    if not rules:
        return _forbidden(NOT_ENABLED, method)
    requested_text = str(environ.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS") or "")
    requested = [h.strip().lower() for h in requested_text.split(",") if h.strip()]
    rule = _matching_rule(rules, origin, method.upper(), requested)
    if rule is None:
        return _forbidden(NOT_ALLOWED, method)
    return (
        200,
        [*_rule_headers(rule, origin, preflight=True, requested=requested), ("Content-Length", "0")],
        b"",
    )


def actual_headers(bucket_name: str, environ: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The CORS headers S3 adds to a (non-preflight) request carrying `Origin`: none when no rule matches."""
    origin = str(environ.get("HTTP_ORIGIN") or "")
    rules = bucket_rules(bucket_name) if origin else None
    if not rules:
        return []
    rule = _matching_rule(rules, origin, str(environ.get("REQUEST_METHOD", "GET")).upper(), [])
    return [] if rule is None else _rule_headers(rule, origin, preflight=False, requested=[])


def request_bucket(environ: Mapping[str, Any]) -> str | None:
    """The bucket an S3 request addresses (virtual-hosted or path style), if it exists; else None."""
    host = str(environ.get("HTTP_HOST") or "").split(":", 1)[0].lower()
    path = unquote(str(environ.get("PATH_INFO") or "/"))
    if ".s3." in host or host.endswith((".s3.amazonaws.com", ".localhost")):
        name = host.split(".s3.", 1)[0].removesuffix(".localhost").removesuffix(".s3.amazonaws.com")
    else:
        name = path.lstrip("/").split("/", 1)[0]
    if not name or name.startswith(("_", "moto-api")):
        return None
    return name if bucket_rules(name) is not None else None


def with_cors(environ: Mapping[str, Any], headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """An S3 answer's headers with moto's CORS headers replaced by S3's (unchanged without `Origin`)."""
    if not environ.get("HTTP_ORIGIN"):
        return headers
    bucket = request_bucket(environ)
    if bucket is None:
        return headers
    kept = [(k, v) for k, v in headers if not k.lower().startswith("access-control-") and k.lower() != "vary"]
    return kept + actual_headers(bucket, environ)


def cfn_rules(cors_configuration: Mapping[str, Any]) -> list[dict[str, Any]]:
    """CloudFormation's `CorsConfiguration` → the rules moto's `put_bucket_cors` takes (S3 API names)."""
    rules = []
    for rule in cors_configuration.get("CorsRules") or []:
        methods = _list(rule.get("AllowedMethods"))
        unknown = sorted(set(methods) - _METHODS)
        if unknown:
            raise ValueError(f"CORS rule AllowedMethods {unknown}: S3 allows only {sorted(_METHODS)}")
        api: dict[str, Any] = {"AllowedMethod": methods, "AllowedOrigin": _list(rule.get("AllowedOrigins"))}
        if rule.get("AllowedHeaders"):
            api["AllowedHeader"] = _list(rule["AllowedHeaders"])
        if rule.get("ExposedHeaders"):
            api["ExposeHeader"] = _list(rule["ExposedHeaders"])
        if rule.get("MaxAge") is not None:
            api["MaxAgeSeconds"] = str(rule["MaxAge"])
        if rule.get("Id"):
            api["ID"] = str(rule["Id"])
        rules.append(api)
    return rules
