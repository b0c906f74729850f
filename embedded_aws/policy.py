"""IAM policy evaluation as AWS documents it, pure: no moto, no I/O (issue 12).

- Statements match `Action`/`NotAction` (case-insensitive, `*` and `?` wildcards), `Resource`/`NotResource`
  (case-sensitive) and, in resource-based policies, `Principal`/`NotPrincipal`.
- Conditions: the String, Arn, Bool, Null, Numeric, Date and IpAddress operators, their `IfExists` forms and
  the `ForAnyValue:`/`ForAllValues:` set qualifiers. Condition keys are case-insensitive. A key absent from
  the request fails its condition, except under a negated operator, `IfExists`, `Null` or `ForAllValues:`.
- The decision (AWS's evaluation logic, one account): an explicit `Deny` in any policy wins; else an `Allow`
  in an identity-based policy (within the permissions boundary, when the role has one), or an `Allow` in the
  resource-based policy that names the principal itself, allows; else the request is implicitly denied.
  A resource policy that names the account (`arn:aws:iam::111122223333:root` or `111122223333`) hands the
  decision to the account's identity-based policies, as on AWS.
"""

from __future__ import annotations

import datetime
import functools
import ipaddress
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Principal:
    """Who makes a request: an assumed role's session, an IAM user, the account root (admin) or a service."""

    arn: str  # as GetCallerIdentity answers: arn:aws:sts::123456789012:assumed-role/Role/session
    account: str
    user_id: str = ""  # aws:userid: "AROA…:session" for a role session
    role_arn: str | None = None  # an assumed role's own ARN: arn:aws:iam::123456789012:role/Role
    service: str | None = None  # a service principal: "sns.amazonaws.com"
    admin: bool = False  # the account root: identity-based policies do not limit it

    @property
    def kind(self) -> str:
        """aws:PrincipalType."""
        if self.service:
            return "Service"
        if self.admin:
            return "Account"
        return "AssumedRole" if self.role_arn else "User"


def root(account: str) -> Principal:
    """The account's root principal: what the CLI and tests act as."""
    return Principal(arn=f"arn:aws:iam::{account}:root", account=account, user_id=account, admin=True)


def service_principal(service: str, account: str) -> Principal:
    """A service acting for a resource of `account` (SNS delivering to a queue, S3 publishing an event)."""
    return Principal(arn=service, account=account, user_id=service, service=service)


# --- wildcards ---------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=8192)
def _pattern(text: str, ignore_case: bool) -> re.Pattern[str]:
    escaped = re.escape(text).replace(r"\*", ".*").replace(r"\?", ".")
    return re.compile(f"(?s:{escaped})\\Z", re.IGNORECASE if ignore_case else 0)


def wildcard_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM's wildcard match: `*` any run of characters, `?` one character, nothing else special."""
    if pattern == "*":
        return True
    if "*" not in pattern and "?" not in pattern:
        return pattern.lower() == value.lower() if ignore_case else pattern == value
    return _pattern(pattern, ignore_case).match(value) is not None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


# --- conditions --------------------------------------------------------------------------------------
def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _date(text: str) -> datetime.datetime | None:
    number = _number(text)
    if number is not None:
        return datetime.datetime.fromtimestamp(number, datetime.UTC)
    try:
        parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)


def _in_network(address: str, network: str) -> bool:
    try:
        return ipaddress.ip_address(address) in ipaddress.ip_network(network, strict=False)
    except ValueError:
        return False


_COMPARE = {
    "Equals": lambda a, b: a == b,
    "NotEquals": lambda a, b: a != b,
    "LessThan": lambda a, b: a < b,
    "LessThanEquals": lambda a, b: a <= b,
    "GreaterThan": lambda a, b: a > b,
    "GreaterThanEquals": lambda a, b: a >= b,
}


def _value_matches(base: str, actual: str, expected: str) -> bool | None:
    """Whether a request value matches a policy value under a positive operator (None: unknown operator)."""
    if base in ("StringEquals", "ArnEquals", "BinaryEquals"):
        return actual == expected
    if base == "StringEqualsIgnoreCase":
        return actual.lower() == expected.lower()
    if base in ("StringLike", "ArnLike"):
        return wildcard_match(expected, actual)
    if base == "Bool":
        return actual.lower() == expected.lower()
    if base == "IpAddress":
        return _in_network(actual, expected)
    for family, parse in (("Numeric", _number), ("Date", _date)):
        if base.startswith(family) and base[len(family) :] in _COMPARE:
            a, b = parse(actual), parse(expected)
            return a is not None and b is not None and bool(_COMPARE[base[len(family) :]](a, b))
    return None


_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
    "NotIpAddress": "IpAddress",
    "NumericNotEquals": "NumericEquals",
    "DateNotEquals": "DateEquals",
}


def _one_condition(operator: str, key: str, expected: list[str], context: Mapping[str, Any]) -> bool:
    qualifier = ""
    if ":" in operator:
        qualifier, operator = operator.split(":", 1)
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    raw = context.get(key)
    actual = [str(v) for v in _as_list(raw)]
    if base == "Null":
        wanted_absent = any(v.lower() == "true" for v in expected)
        return (not actual) == wanted_absent
    negated_of = _NEGATED.get(base)
    if not actual:
        # An absent key: ForAllValues holds (no value fails it), ForAnyValue fails (no value matches it);
        # otherwise a negated operator or IfExists holds, anything else fails.
        if qualifier:
            return qualifier == "ForAllValues"
        return bool(negated_of) or if_exists

    def matches(value: str) -> bool:
        """Whether one request value satisfies the operator (a negated one: matches none of the values)."""
        hit = any(_value_matches(negated_of or base, value, e) is True for e in expected)
        return not hit if negated_of else hit

    if qualifier == "ForAllValues":
        return all(matches(v) for v in actual)
    if qualifier == "ForAnyValue":
        return any(matches(v) for v in actual)
    if negated_of:
        return all(matches(v) for v in actual)
    return any(matches(v) for v in actual)


def condition_holds(condition: Mapping[str, Mapping[str, Any]], context: Mapping[str, Any]) -> bool:
    """Whether a statement's `Condition` block holds for a request with these context keys (keys match
    case-insensitively; `context` may hold lists for multi-valued keys)."""
    lowered = {k.lower(): v for k, v in context.items()}
    for operator, entries in condition.items():
        for key, expected in entries.items():
            if not _one_condition(operator, key.lower(), [str(v) for v in _as_list(expected)], lowered):
                return False
    return True


# --- statements --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Statement:
    """One policy statement, normalised for matching."""

    effect: str
    actions: tuple[str, ...]
    not_action: bool
    resources: tuple[str, ...]
    not_resource: bool
    principals: tuple[tuple[str, str], ...] | None  # (kind, value); None: an identity-based statement
    not_principal: bool
    condition: dict[str, dict[str, Any]] = field(default_factory=dict)

    def applies(self, action: str, resource: str | None, context: Mapping[str, Any]) -> bool:
        """Whether action, resource and condition match (principal aside). A resource of None (one the
        embedded AWS cannot name) matches any `Resource`."""
        hit = any(wildcard_match(a, action, ignore_case=True) for a in self.actions)
        if hit == self.not_action:
            return False
        if resource is not None:
            hit = any(wildcard_match(r, resource) for r in self.resources)
            if hit == self.not_resource:
                return False
        return not self.condition or condition_holds(self.condition, context)

    def names(self, principal: Principal, *, for_allow: bool) -> bool:
        """Whether a resource-based statement's `Principal` covers this principal. For an Allow, naming the
        account grants nothing to its roles by itself (their identity-based policies decide)."""
        if self.principals is None:
            return True
        hit = any(_principal_matches(kind, value, principal, for_allow) for kind, value in self.principals)
        return hit != self.not_principal


def _principal_matches(kind: str, value: str, principal: Principal, for_allow: bool) -> bool:
    if kind == "*":
        return True
    if kind == "Service":
        return principal.service is not None and value.lower() == principal.service.lower()
    if kind == "AWS" and value == "*":
        return True  # the same as "Principal": "*": anyone, services included
    if kind != "AWS" or principal.service:
        return False
    account_wide = value in (principal.account, f"arn:aws:iam::{principal.account}:root")
    if account_wide:
        return principal.admin or not for_allow
    return value in (principal.arn, principal.role_arn)


def _principals(statement: Mapping[str, Any], key: str) -> tuple[tuple[str, str], ...]:
    value = statement.get(key)
    if value == "*":
        return (("*", "*"),)
    pairs: list[tuple[str, str]] = []
    if isinstance(value, Mapping):
        for kind, names in value.items():
            pairs.extend((str(kind), str(name)) for name in _as_list(names))
    return tuple(pairs)


def parse_document(document: str | Mapping[str, Any] | None) -> dict[str, Any]:
    """A policy document as a dict (IAM may hold it URL-encoded or as JSON text)."""
    if document is None or document == "":
        return {}
    if isinstance(document, Mapping):
        return dict(document)
    text = document
    if text.lstrip().startswith("%7B") or text.lstrip().startswith("%7b"):
        from urllib.parse import unquote

        text = unquote(text)
    parsed = json.loads(text)
    return parsed if isinstance(parsed, dict) else {}


@functools.lru_cache(maxsize=4096)
def _compile_text(text: str, resource_based: bool) -> tuple[Statement, ...]:
    return _compile(parse_document(text), resource_based)


def compile_policy(
    document: str | Mapping[str, Any] | None, *, resource_based: bool
) -> tuple[Statement, ...]:
    """A policy's statements, normalised (cached for policy text)."""
    if isinstance(document, str):
        return _compile_text(document, resource_based)
    return _compile(parse_document(document), resource_based)


def _compile(document: Mapping[str, Any], resource_based: bool) -> tuple[Statement, ...]:
    compiled: list[Statement] = []
    for statement in _as_list(document.get("Statement")):
        if not isinstance(statement, Mapping):
            continue
        has_not_principal = "NotPrincipal" in statement
        principals = None
        if resource_based:
            principals = _principals(statement, "NotPrincipal" if has_not_principal else "Principal")
        compiled.append(
            Statement(
                effect=str(statement.get("Effect", "Deny")),
                actions=tuple(str(a) for a in _as_list(statement.get("NotAction", statement.get("Action")))),
                not_action="NotAction" in statement,
                resources=tuple(
                    str(r) for r in _as_list(statement.get("NotResource", statement.get("Resource", "*")))
                ),
                not_resource="NotResource" in statement,
                principals=principals,
                not_principal=has_not_principal,
                condition={
                    str(op): dict(entries) for op, entries in (statement.get("Condition") or {}).items()
                },
            )
        )
    return tuple(compiled)


# --- the decision ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Decision:
    """The outcome for one action on one resource: allowed, or why not (AWS's words)."""

    allowed: bool
    reason: str = ""


ALLOWED = Decision(True)


def decide(
    principal: Principal,
    action: str,
    resource: str | None,
    context: Mapping[str, Any],
    *,
    identity: Sequence[Statement] = (),
    boundary: Sequence[Statement] | None = None,
    resource_policy: Sequence[Statement] = (),
    resource_required: bool = False,
) -> Decision:
    """AWS's policy evaluation for one account: explicit deny, then allow by identity (within the boundary)
    or by a resource-based policy that names the principal, else implicit deny. With `resource_required`
    (KMS key policies, role trust policies) the resource policy must allow too: naming the principal allows,
    naming the account hands the decision to the identity-based policies, naming neither refuses."""
    considered_identity = not (principal.admin or principal.service)
    if considered_identity:
        for statement in identity:
            if statement.effect == "Deny" and statement.applies(action, resource, context):
                return Decision(False, "with an explicit deny in an identity-based policy")
    for statement in resource_policy:
        if (
            statement.effect == "Deny"
            and statement.names(principal, for_allow=False)
            and statement.applies(action, resource, context)
        ):
            return Decision(False, "with an explicit deny in a resource-based policy")
    if resource_required and not principal.admin:
        delegated = any(
            st.effect == "Allow"
            and st.names(principal, for_allow=False)
            and st.applies(action, resource, context)
            for st in resource_policy
        )
        if not delegated:
            return Decision(False, f"because no resource-based policy allows the {action} action")
    if principal.admin:
        return ALLOWED
    for statement in resource_policy:
        if (
            statement.effect == "Allow"
            and statement.names(principal, for_allow=True)
            and statement.applies(action, resource, context)
        ):
            return ALLOWED
    if not considered_identity:
        return Decision(False, "because no resource-based policy allows the " + action + " action")
    if not _allows(identity, action, resource, context):
        return Decision(False, f"because no identity-based policy allows the {action} action")
    if boundary is not None and not _allows(boundary, action, resource, context):
        return Decision(False, f"because no permissions boundary allows the {action} action")
    return ALLOWED


def _allows(
    statements: Iterable[Statement], action: str, resource: str | None, context: Mapping[str, Any]
) -> bool:
    return any(s.effect == "Allow" and s.applies(action, resource, context) for s in statements)


def denial_message(principal: Principal, action: str, resource: str | None, decision: Decision) -> str:
    """AWS's AccessDenied sentence: who, which action, on what, and why."""
    on = f" on resource: {resource}" if resource else ""
    return f"User: {principal.arn} is not authorized to perform: {action}{on} {decision.reason}"
