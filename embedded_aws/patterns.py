"""Event patterns, as AWS matches them: Lambda event filtering and EventBridge rules share this syntax.

The semantics follow AWS's Event Ruler (the engine behind both): a pattern's fields are ANDed; a field's list
of rules is ORed; a leaf matches when the event's value (or any element of an event array) satisfies one
rule; arrays of objects match when one element satisfies the whole sub-pattern; `$or` (a list of two or more
sub-patterns) matches when any of them does.

Rules: exact strings, numbers (compared as numbers), booleans and null; `prefix` and `suffix` (optionally
`{"equals-ignore-case": …}`), `equals-ignore-case`, `wildcard` (`*`, escaped with `\\`), `anything-but`
(a value, a list, or `prefix`/`suffix`/`equals-ignore-case`/`wildcard`), `numeric` (`=`, or one or two
bounds), `exists` (leaf fields only: an object is not a leaf), `cidr` (IPv4 and IPv6).

API: `parse(pattern)` returns the validated pattern as a dict, `validate(pattern)` checks it, both raising
`PatternError` (a `ValueError`) with a reason; `matches(pattern, event)` says whether the event matches.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from functools import lru_cache
from typing import Any

__all__ = ["PatternError", "matches", "parse", "validate"]


class PatternError(ValueError):
    """The pattern is not valid; the message gives the reason."""


_MISSING: Any = object()
_OPERATORS = {
    "prefix",
    "suffix",
    "equals-ignore-case",
    "wildcard",
    "anything-but",
    "numeric",
    "exists",
    "cidr",
}
_ANYTHING_BUT_OPERATORS = {"prefix", "suffix", "equals-ignore-case", "wildcard"}
_LOWER = {">", ">="}
_UPPER = {"<", "<="}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# --- validation -------------------------------------------------------------------------------------------
def parse(pattern: dict[str, Any] | str) -> dict[str, Any]:
    """The pattern as a dict, after checking it is valid; raises PatternError with the reason."""
    if isinstance(pattern, str):
        try:
            document = json.loads(pattern)
        except json.JSONDecodeError as exc:
            raise PatternError(f"Pattern is not valid JSON: {exc.msg}") from exc
    else:
        document = pattern
    if not isinstance(document, dict):
        raise PatternError("Filter is not an object")
    _check_object(document, "")
    return document


def validate(pattern: dict[str, Any] | str) -> None:
    """Raise PatternError (a ValueError) naming what is wrong, if the pattern is not valid."""
    parse(pattern)


def _is_or(key: str, value: Any) -> bool:
    """`$or` is the OR primitive only as a list of two or more objects whose keys are not operators."""
    return (
        key == "$or"
        and isinstance(value, list)
        and len(value) >= 2
        and all(isinstance(item, dict) and not (set(item) & _OPERATORS) for item in value)
    )


def _check_object(node: dict[str, Any], path: str) -> None:
    if not node:
        raise PatternError(f"Empty objects are not allowed{_at(path)}")
    for key, value in node.items():
        if _is_or(key, value):
            for alternative in value:
                _check_object(alternative, path)
            continue
        where = f"{path}.{key}" if path else key
        if isinstance(value, dict):
            _check_object(value, where)
        elif isinstance(value, list):
            if not value:
                raise PatternError(f"Empty arrays are not allowed{_at(where)}")
            for rule in value:
                _check_rule(rule, where)
        else:
            raise PatternError(f"'{where}' must be an object or an array")


def _at(path: str) -> str:
    return f" (at {path})" if path else ""


def _check_rule(rule: Any, where: str) -> None:
    if rule is None or isinstance(rule, str | bool) or _is_number(rule):
        return
    if not isinstance(rule, dict):
        raise PatternError(f"Match value must be String, number, true, false, or null{_at(where)}")
    if len(rule) != 1:
        raise PatternError(f"A match expression must have exactly one operator{_at(where)}")
    ((operator, argument),) = rule.items()
    if operator not in _OPERATORS:
        raise PatternError(f"Unrecognized match type {operator}{_at(where)}")
    if operator in ("prefix", "suffix"):
        if isinstance(argument, dict) and set(argument) == {"equals-ignore-case"}:
            argument = argument["equals-ignore-case"]
        if not isinstance(argument, str):
            raise PatternError(f"{operator} match pattern must be a string{_at(where)}")
    elif operator == "equals-ignore-case":
        if not isinstance(argument, str):
            raise PatternError(f"equals-ignore-case match pattern must be a string{_at(where)}")
    elif operator == "wildcard":
        if not isinstance(argument, str):
            raise PatternError(f"wildcard match pattern must be a string{_at(where)}")
        _check_wildcard(argument, where)
    elif operator == "exists":
        if not isinstance(argument, bool):
            raise PatternError(f"exists match pattern must be either true or false{_at(where)}")
    elif operator == "cidr":
        if not isinstance(argument, str):
            raise PatternError(f"cidr match pattern must be a string{_at(where)}")
        try:
            ipaddress.ip_network(argument, strict=False)
        except ValueError as exc:
            raise PatternError(f"Nonsensical CIDR IP address: {argument}{_at(where)}") from exc
    elif operator == "numeric":
        _check_numeric(argument, where)
    else:
        _check_anything_but(argument, where)


def _check_wildcard(value: str, where: str) -> None:
    index = 0
    while index < len(value):
        char = value[index]
        if char == "\\":
            if index + 1 >= len(value) or value[index + 1] not in "*\\":
                raise PatternError(f"Invalid escape character at pos {index}{_at(where)}")
            index += 2
            continue
        if char == "*" and index + 1 < len(value) and value[index + 1] == "*":
            raise PatternError(f"Consecutive wildcard characters at pos {index + 1}{_at(where)}")
        index += 1


def _check_numeric(argument: Any, where: str) -> None:
    if not isinstance(argument, list) or len(argument) not in (2, 4):
        raise PatternError(f"Value of numeric must be an array of one or two comparisons{_at(where)}")
    pairs = list(zip(argument[::2], argument[1::2], strict=True))
    for operator, value in pairs:
        if operator not in ("=", *_LOWER, *_UPPER):
            raise PatternError(f"Unrecognized numeric range operator: {operator}{_at(where)}")
        if not _is_number(value) or not math.isfinite(value):
            raise PatternError(f"Value of {operator} must be a number{_at(where)}")
    if len(pairs) == 2:
        (low_op, low), (high_op, high) = pairs
        if low_op not in _LOWER or high_op not in _UPPER:
            raise PatternError(f"Bad numeric range: a lower bound (> or >=) then an upper one{_at(where)}")
        if low >= high:
            raise PatternError(f"Bottom must be less than top{_at(where)}")


def _check_anything_but(argument: Any, where: str) -> None:
    if isinstance(argument, str) or _is_number(argument):
        return
    if isinstance(argument, list):
        if not argument:
            raise PatternError(f"Empty arrays are not allowed{_at(where)}")
        if not (all(isinstance(v, str) for v in argument) or all(_is_number(v) for v in argument)):
            raise PatternError(
                f"Inside anything-but list, values must be all strings or all numbers{_at(where)}"
            )
        return
    if isinstance(argument, dict) and len(argument) == 1:
        ((operator, value),) = argument.items()
        if operator not in _ANYTHING_BUT_OPERATORS:
            raise PatternError(f"Unsupported anything-but pattern: {operator}{_at(where)}")
        values = (
            value if isinstance(value, list) and operator in ("equals-ignore-case", "wildcard") else [value]
        )
        if not values or not all(isinstance(v, str) for v in values):
            raise PatternError(f"Value of anything-but {operator} must be a string{_at(where)}")
        if operator == "wildcard":
            for item in values:
                _check_wildcard(item, where)
        return
    raise PatternError(
        f"Value of anything-but must be an array or single string/number value, or one of "
        f"{', '.join(sorted(_ANYTHING_BUT_OPERATORS))}{_at(where)}"
    )


# --- matching ---------------------------------------------------------------------------------------------
def matches(pattern: dict[str, Any] | str, event: Any) -> bool:
    """Whether `event` (a dict or JSON text) matches `pattern`; an invalid pattern raises PatternError."""
    document = _parsed(pattern) if isinstance(pattern, str) else parse(pattern)
    if isinstance(event, str):
        event = json.loads(event)
    return _match_fields(document, event)


@lru_cache(maxsize=256)
def _parsed(pattern: str) -> dict[str, Any]:
    return parse(pattern)


def _flatten(values: list[Any]) -> list[Any]:
    flat: list[Any] = []
    for value in values:
        if isinstance(value, list):
            flat.extend(_flatten(value))
        else:
            flat.append(value)
    return flat


def _match_fields(pattern: dict[str, Any], node: Any) -> bool:
    for key, sub in pattern.items():
        if _is_or(key, sub):
            if not any(_match_fields(alternative, node) for alternative in sub):
                return False
            continue
        value = node.get(key, _MISSING) if isinstance(node, dict) else _MISSING
        ok = _match_nested(sub, value) if isinstance(sub, dict) else _match_leaf(sub, value)
        if not ok:
            return False
    return True


def _match_nested(pattern: dict[str, Any], value: Any) -> bool:
    if isinstance(value, list):
        objects = [item for item in _flatten(value) if isinstance(item, dict)]
        # Array consistency: one element must satisfy the whole sub-pattern.
        return (
            any(_match_fields(pattern, item) for item in objects) if objects else _match_fields(pattern, None)
        )
    return _match_fields(pattern, value if isinstance(value, dict) else None)


def _match_leaf(rules: list[Any], value: Any) -> bool:
    if value is _MISSING or isinstance(value, dict):
        values: list[Any] = []  # absent, or an object: not a leaf
    elif isinstance(value, list):
        values = [item for item in _flatten(value) if not isinstance(item, dict)]
    else:
        values = [value]
    for rule in rules:
        if isinstance(rule, dict) and "exists" in rule:
            if bool(values) == rule["exists"]:
                return True
        elif any(_match_rule(rule, item) for item in values):
            return True
    return False


def _equal(rule: Any, value: Any) -> bool:
    """JSON equality: numbers by value, never a boolean for a number."""
    if _is_number(rule):
        return _is_number(value) and float(value) == float(rule)
    if isinstance(rule, bool) or rule is None:
        return value is rule
    return isinstance(value, str) and value == rule


def _match_rule(rule: Any, value: Any) -> bool:
    if not isinstance(rule, dict):
        return _equal(rule, value)
    ((operator, argument),) = rule.items()
    if operator == "numeric":
        return _is_number(value) and _numeric(argument, float(value))
    if operator == "anything-but":
        return _anything_but(argument, value)
    if not isinstance(value, str):
        return False
    if operator == "cidr":
        return _in_network(value, argument)
    return _string_match(operator, argument, value)


def _string_match(operator: str, argument: Any, value: str) -> bool:
    if operator in ("prefix", "suffix"):
        if isinstance(argument, dict):
            argument, value = argument["equals-ignore-case"].casefold(), value.casefold()
        return value.startswith(argument) if operator == "prefix" else value.endswith(argument)
    if operator == "equals-ignore-case":
        return bool(value.casefold() == argument.casefold())
    if operator == "wildcard":
        return _wildcard_regex(argument).fullmatch(value) is not None
    return False


def _anything_but(argument: Any, value: Any) -> bool:
    if isinstance(argument, dict):
        ((operator, inner),) = argument.items()
        if not isinstance(value, str):
            return True
        options = inner if isinstance(inner, list) else [inner]
        return not any(_string_match(operator, option, value) for option in options)
    options = argument if isinstance(argument, list) else [argument]
    return not any(_equal(option, value) for option in options)


def _numeric(argument: list[Any], value: float) -> bool:
    for operator, raw in zip(argument[::2], argument[1::2], strict=True):
        bound = float(raw)
        holds = {
            "=": value == bound,
            ">": value > bound,
            ">=": value >= bound,
            "<": value < bound,
            "<=": value <= bound,
        }[operator]
        if not holds:
            return False
    return True


def _in_network(value: str, cidr: str) -> bool:
    try:
        return ipaddress.ip_address(value) in ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False


@lru_cache(maxsize=256)
def _wildcard_regex(pattern: str) -> re.Pattern[str]:
    parts: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            parts.append(re.escape(pattern[index + 1]))
            index += 2
            continue
        parts.append(".*" if char == "*" else re.escape(char))
        index += 1
    return re.compile("".join(parts), re.DOTALL)
