"""Policy conditions the embedded AWS evaluates for bucket policies."""

from __future__ import annotations

import pytest

from embedded_aws.patches import REQUEST_CONTEXT
from embedded_aws.policy import condition_holds

TLS_ONLY = {"Bool": {"aws:SecureTransport": "false"}}


def test_a_tls_only_deny_does_not_apply_to_requests_to_the_embedded_aws() -> None:
    # Given the usual TLS-only deny condition, When a request arrives, Then the deny does not hold
    assert condition_holds(TLS_ONLY, REQUEST_CONTEXT) is False
    assert condition_holds({"Bool": {"aws:SecureTransport": ["true"]}}, REQUEST_CONTEXT) is True


@pytest.mark.parametrize(
    ("condition", "holds"),
    [
        ({"ArnLike": {"aws:SourceArn": "arn:aws:s3:::*"}}, False),
        ({"StringEquals": {"aws:SourceAccount": "123456789012"}}, False),
        ({"StringNotEquals": {"aws:SourceAccount": "123456789012"}}, True),
        ({"StringEqualsIfExists": {"aws:SourceAccount": "123456789012"}}, True),
        ({}, True),
    ],
)
def test_a_key_the_request_lacks_fails_unless_negated_or_if_exists(condition: dict, holds: bool) -> None:  # type: ignore[type-arg]
    assert condition_holds(condition, REQUEST_CONTEXT) is holds


def test_like_operators_match_wildcards() -> None:
    context = {"aws:SourceArn": "arn:aws:s3:::ingest-bucket"}
    assert condition_holds({"ArnLike": {"aws:SourceArn": "arn:aws:s3:::ingest-*"}}, context)
    assert not condition_holds({"ArnNotLike": {"aws:SourceArn": "arn:aws:s3:::ingest-*"}}, context)
