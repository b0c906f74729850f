"""CloudFront distributions served locally as CloudFront serves them: S3 origins read as the distribution
(origin access control, origin access identity), the bucket policy deciding, default root object, cache
behaviors, custom error responses and response headers policies (issue 13)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from embedded_aws import endpoints
from embedded_aws.errors import UnsupportedResourceError
from embedded_aws.stack import DeployedStack, EmbeddedAws
from tests.compat.conftest import COMPAT
from tests.http import Answer, call

TEMPLATE = COMPAT / "cloudfront_s3_oac" / "template.yaml"


def _get(url: str, method: str = "GET", **headers: str) -> Answer:
    return call(url, method, headers=headers)


@pytest.fixture(scope="module")
def site(aws: EmbeddedAws) -> Iterator[DeployedStack]:
    """The template deployed once for the module, with a small site in its bucket."""
    stack = aws.deploy(TEMPLATE, "compat-cloudfront")
    s3, bucket = aws.client("s3"), stack.outputs["BucketName"]
    s3.put_object(
        Bucket=bucket,
        Key="index.html",
        Body=b"<h1>home</h1>",
        ContentType="text/html",
        CacheControl="no-cache",
    )
    s3.put_object(
        Bucket=bucket,
        Key="data/items.json",
        Body=b'{"items": [1, 2, 3]}',
        ContentType="application/json",
        ContentEncoding="identity",
        Metadata={"collection": "birds"},
    )
    s3.put_object(Bucket=bucket, Key="static/assets/app.js", Body=b"export {}", ContentType="text/javascript")
    s3.put_object(Bucket=bucket, Key="reports/summary.json", Body=b"{}", Metadata={"owner": "ann"})
    yield stack
    aws.delete(stack.name)


def test_the_stack_output_names_the_distribution_by_its_local_url(site: DeployedStack) -> None:
    # Given the deployed stack; When its output is read; Then it is the local endpoint of the distribution
    served = endpoints.current()
    assert served is not None
    domain = f"d{site.outputs['DistributionId'][1:].lower()}.cloudfront.net"
    assert site.outputs["WebsiteUrl"] == served.local_url(domain)
    assert site.outputs["WebsiteUrl"].startswith("http://127.0.0.1:")


def test_the_root_serves_the_default_root_object_with_s3_and_cloudfront_headers(site: DeployedStack) -> None:
    # When the site's root is fetched through the distribution
    reply = _get(site.outputs["WebsiteUrl"] + "/")

    # Then it is index.html as S3 stored it, with CloudFront's headers and the security headers policy's
    assert (reply.status, reply.body) == (200, b"<h1>home</h1>")
    assert reply.headers["content-type"] == "text/html"
    assert reply.headers["cache-control"] == "no-cache"
    assert reply.headers["etag"].startswith('"') and reply.headers["last-modified"].endswith("GMT")
    assert reply.headers["x-cache"] == "Miss from cloudfront"
    assert reply.headers["via"].endswith(".cloudfront.net (CloudFront)")
    assert reply.headers["x-amz-cf-pop"] and reply.headers["x-amz-cf-id"]
    assert reply.headers["strict-transport-security"] == "max-age=31536000"
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert reply.headers["x-frame-options"] == "SAMEORIGIN"
    assert reply.headers["referrer-policy"] == "strict-origin-when-cross-origin"


def test_an_object_carries_its_metadata_and_a_conditional_get_is_not_modified(site: DeployedStack) -> None:
    url = site.outputs["WebsiteUrl"] + "/data/items.json"
    # Given the object fetched once
    first = _get(url)
    assert (first.status, first.body) == (200, b'{"items": [1, 2, 3]}')
    assert first.headers["content-type"] == "application/json"
    assert first.headers["content-encoding"] == "identity"
    assert first.headers["x-amz-meta-collection"] == "birds"
    assert first.headers["content-length"] == str(len(first.body))

    # When it is fetched again with its ETag, then with its Last-Modified, then as a HEAD and a byte range
    by_etag = _get(url, **{"If-None-Match": first.headers["etag"]})
    by_date = _get(url, **{"If-Modified-Since": first.headers["last-modified"]})
    head = _get(url, method="HEAD")
    ranged = _get(url, Range="bytes=0-9")

    # Then S3's answers come through: 304 twice, the headers without a body, the first ten bytes
    assert (by_etag.status, by_etag.body, by_date.status) == (304, b"", 304)
    assert (head.status, head.body, head.headers["content-length"]) == (
        200,
        b"",
        first.headers["content-length"],
    )
    assert (ranged.status, ranged.body, ranged.headers["content-range"]) == (
        206,
        b'{"items": ',
        "bytes 0-9/20",
    )


def test_a_missing_key_falls_back_to_the_single_page_app(site: DeployedStack) -> None:
    # When a client-side route is fetched (no such key; the distribution may list the bucket: S3 said 404)
    reply = _get(site.outputs["WebsiteUrl"] + "/gallery/birds/42")

    # Then the custom error response serves /index.html with status 200
    assert (reply.status, reply.body) == (200, b"<h1>home</h1>")


def test_a_cache_behavior_reads_its_own_origin_path_with_its_own_headers_policy(site: DeployedStack) -> None:
    # When an asset is fetched from another origin, under /assets/* (OriginPath /static), from a page's origin
    reply = _get(site.outputs["WebsiteUrl"] + "/assets/app.js", Origin="http://127.0.0.1:9")

    # Then static/assets/app.js is served with the SimpleCORS policy's header, not the security headers
    assert (reply.status, reply.body) == (200, b"export {}")
    assert reply.headers["access-control-allow-origin"] == "*"
    assert "strict-transport-security" not in reply.headers


def test_a_behavior_with_the_stacks_own_headers_policy_adds_and_removes_its_headers(
    site: DeployedStack,
) -> None:
    # Given /reports/* answered with the stack's ResponseHeadersPolicy (a custom header, a removed one)
    # When a document there is fetched
    reply = _get(site.outputs["WebsiteUrl"] + "/reports/summary.json")
    # Then the policy's header is added, the removed one is gone, and no managed security header is there
    assert reply.status == 200
    assert reply.headers["x-data-version"] == "2"
    assert "x-amz-meta-owner" not in reply.headers
    assert "strict-transport-security" not in reply.headers


def test_a_method_the_behavior_does_not_allow_is_refused_by_cloudfront(site: DeployedStack) -> None:
    # When a DELETE is sent to a behavior allowing GET, HEAD and OPTIONS
    reply = _get(site.outputs["WebsiteUrl"] + "/index.html", method="DELETE")

    # Then CloudFront answers 403 itself
    assert reply.status == 403
    assert b"not configured to allow the HTTP request method" in reply.body
    assert reply.headers["x-cache"] == "Error from cloudfront"


def test_a_distribution_the_bucket_policy_does_not_admit_gets_access_denied(site: DeployedStack) -> None:
    # When a distribution whose ARN the bucket policy does not name reads an existing object
    reply = _get(site.outputs["UnlistedUrl"] + "/index.html")

    # Then S3 refused it, and CloudFront passes S3's 403 AccessDenied on
    assert reply.status == 403
    assert b"<Code>AccessDenied</Code>" in reply.body
    assert reply.headers["content-type"] == "application/xml"


def test_an_origin_access_identity_reads_what_the_policy_grants_its_canonical_user(
    site: DeployedStack,
) -> None:
    # When the legacy distribution reads an object, then a missing key (its OAI may not s3:ListBucket)
    found = _get(site.outputs["LegacyUrl"] + "/data/items.json")
    missing = _get(site.outputs["LegacyUrl"] + "/nothing-here.txt")

    # Then the object is served, and the missing key is 403 as S3 answers a reader that cannot list
    assert (found.status, found.body) == (200, b'{"items": [1, 2, 3]}')
    assert missing.status == 403 and b"<Code>AccessDenied</Code>" in missing.body


def test_edge_functions_are_refused_at_deploy_naming_the_association(
    aws: EmbeddedAws, tmp_path: Path
) -> None:
    # Given a distribution running a CloudFront Function on its default behavior
    template = tmp_path / "template.yaml"
    template.write_text(
        "Resources:\n"
        "  Site:\n"
        "    Type: AWS::CloudFront::Distribution\n"
        "    Properties:\n"
        "      DistributionConfig:\n"
        "        Enabled: true\n"
        "        Origins:\n"
        "          - {Id: o, DomainName: example.com, S3OriginConfig: {}}\n"
        "        DefaultCacheBehavior:\n"
        "          TargetOriginId: o\n"
        "          ViewerProtocolPolicy: allow-all\n"
        "          FunctionAssociations:\n"
        "            - {EventType: viewer-request, FunctionARN: arn:aws:cloudfront::1:function/f}\n"
    )

    # When it is deployed, Then the deploy is refused before anything is created, naming what to change
    with pytest.raises(UnsupportedResourceError, match="CloudFront Functions \\(FunctionAssociations"):
        aws.deploy(template, "compat-cloudfront-functions")


# --- an HTTP API origin: which viewer headers reach it ----------------------------------------------------
API_ORIGIN_TEMPLATE = COMPAT / "cloudfront_api_origin" / "template.yaml"
VIEWER_HEADERS = {
    "Authorization": "Bearer viewer-token",
    "X-Wanted": "wanted",
    "X-Custom": "custom",
    "X-Cache-Key": "key",
    "User-Agent": "viewer-browser/1.0",
}


@pytest.fixture(scope="module")
def api_site(aws: EmbeddedAws) -> Iterator[str]:
    """A distribution in front of an HTTP API that answers with the headers it got; its local URL."""
    stack = aws.deploy(API_ORIGIN_TEMPLATE, "compat-cloudfront-api")
    yield stack.outputs["DistributionUrl"]
    aws.delete(stack.name)


def _origin_saw(url: str) -> dict[str, str]:
    reply = _get(url, **VIEWER_HEADERS)
    assert reply.status == 200, reply.body
    seen: dict[str, str] = json.loads(reply.body)["headers"]
    return {k.lower(): v for k, v in seen.items()}


def test_an_api_origin_gets_only_the_viewer_headers_its_behavior_forwards(api_site: str) -> None:
    # Given behaviors with the managed CachingDisabled policy only, AllViewerExceptHostHeader, legacy
    # ForwardedValues naming X-Wanted, and the stack's own cache and origin request policies
    # When the same viewer request (Authorization, X-Wanted, X-Custom, X-Cache-Key) goes through each
    default = _origin_saw(f"{api_site}/items/1")
    all_viewer = _origin_saw(f"{api_site}/all/1")
    legacy = _origin_saw(f"{api_site}/legacy/1")
    custom = _origin_saw(f"{api_site}/custom/1")
    viewer = {name.lower() for name in VIEWER_HEADERS} - {"user-agent"}

    # Then CachingDisabled forwards none of them (CloudFront's own User-Agent instead of the viewer's)
    assert viewer.isdisjoint(default), default
    assert default["user-agent"] == "Amazon CloudFront"
    # And AllViewerExceptHostHeader forwards them all, the viewer's Authorization and User-Agent included
    assert {k: all_viewer.get(k) for k in viewer} == {
        k.lower(): v for k, v in VIEWER_HEADERS.items() if k.lower() in viewer
    }
    assert all_viewer["user-agent"] == "viewer-browser/1.0"
    # And ForwardedValues forwards X-Wanted only; the stack's policies their X-Custom and X-Cache-Key only
    assert viewer & set(legacy) == {"x-wanted"}
    assert viewer & set(custom) == {"x-custom", "x-cache-key"}
    # And the origin's custom header is added to every origin request
    assert {d["x-origin-secret"] for d in (default, all_viewer, legacy, custom)} == {"from-cloudfront"}
