"""Local endpoints (`embedded_aws.endpoints`): served on their own ports, named by their AWS URLs."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from embedded_aws.endpoints import LocalEndpoints


def _hello(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"hello from {environ['PATH_INFO']}".encode()]


@pytest.fixture
def endpoints() -> Iterator[LocalEndpoints]:
    served = LocalEndpoints()
    yield served
    served.close_all()


def test_an_endpoint_is_served_on_its_own_port_and_its_aws_urls_become_local(
    endpoints: LocalEndpoints,
) -> None:
    # Given a distribution's host served locally
    local = endpoints.serve("D111.cloudfront.net", _hello)
    # When text naming its AWS URL is rewritten, alone or inside lists and dicts
    rewritten = endpoints.rewrite(
        {"url": "https://d111.cloudfront.net/items/1.json", "all": ["http://D111.cloudfront.net", 3]}
    )
    # Then the local URL stands in its place, the path kept, and other values are untouched
    assert rewritten == {"url": f"{local}/items/1.json", "all": [local, 3]}
    # And the local URL answers with the endpoint's app
    with urllib.request.urlopen(f"{local}/x", timeout=10) as answer:
        assert answer.read() == b"hello from /x"


def test_a_longer_host_or_an_unserved_one_is_not_rewritten(endpoints: LocalEndpoints) -> None:
    # Given one served host
    endpoints.serve("abc.execute-api.us-east-1.amazonaws.com", _hello)
    # When text names a host that only starts like it, or another host
    texts = [
        "https://abc.execute-api.us-east-1.amazonaws.com.evil.example/",
        "https://abcd.execute-api.us-east-1.amazonaws.com/",
        "abc.execute-api.us-east-1.amazonaws.com",  # no scheme: a host name, not a URL
    ]
    # Then nothing changes
    assert endpoints.rewrite(texts) == texts


def test_a_closed_endpoint_is_no_longer_served_nor_rewritten(endpoints: LocalEndpoints) -> None:
    # Given a served endpoint
    local = endpoints.serve("d222.cloudfront.net", _hello)
    # When it is closed
    endpoints.close("d222.cloudfront.net")
    # Then its AWS URL stays as it is, and its port answers no more
    assert endpoints.rewrite("https://d222.cloudfront.net/") == "https://d222.cloudfront.net/"
    assert endpoints.served() == {}
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{local}/", timeout=5)
