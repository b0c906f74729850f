"""The upload API end to end on the embedded AWS: the project template's HTTP API behind a JWT authorizer,
presigned POST uploads to S3, and the result read through the CloudFront distribution."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image

from embedded_aws.oidc import mint_token
from embedded_aws.stack import DeployedStack, EmbeddedAws, poll_until
from tests.conftest import ROOT
from tests.http import Answer, call, post_form

pytestmark = pytest.mark.stack

MAX_BYTES = 200_000


def _call(
    method: str,
    url: str,
    *,
    token: str | None = None,
    body: bytes | str | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    kind = {"Content-Type": "application/json"} if body is not None else {}
    return call(url, method, body, {**kind, **auth, **(headers or {})})


def _upload(form: dict[str, Any], data: bytes, filename: str = "photo.jpg") -> Answer:
    """POST a file with a presigned form, as a browser does: the form's fields first, the file last."""
    fields: list[tuple[str, Any]] = [
        *form["fields"].items(),
        ("file", (filename, data, "application/octet-stream")),
    ]
    return post_form(form["url"], fields)


def _jpeg(width: int = 320, height: int = 200, seed: int = 0) -> bytes:
    image = Image.new("RGB", (width, height), (30 + seed * 40 % 200, 110, 190))
    for x in range(0, width, 16):
        image.paste((x % 255, 70, 150), (x, 0, x + 8, height))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def api_stack(aws: EmbeddedAws) -> Iterator[DeployedStack]:
    deployed = aws.deploy(
        ROOT / "template.yaml",
        "api",
        {"JwtIssuer": aws.oidc_issuer, "ThumbnailWidths": "64", "MaxUploadBytes": str(MAX_BYTES)},
    )
    yield deployed
    aws.delete("api")


@pytest.fixture(scope="module")
def api_url(api_stack: DeployedStack) -> str:
    url = api_stack.outputs["ApiUrl"]
    assert url.startswith("http://127.0.0.1:"), "the API's Output is its local URL"
    return url


@pytest.fixture(scope="module")
def alice(aws: EmbeddedAws) -> str:
    return mint_token(aws.endpoint_url, "alice")


@pytest.fixture(scope="module")
def bob(aws: EmbeddedAws) -> str:
    return mint_token(aws.endpoint_url, "bob")


def _create(api_url: str, token: str, title: str = "Harbour at dawn", **extra: str) -> dict[str, Any]:
    answer = _call(
        "POST",
        f"{api_url}items",
        token=token,
        body=json.dumps({"title": title, "collection": "trips", **extra}),
    )
    assert answer.status == 201, answer.body
    created: dict[str, Any] = answer.json()
    return created


def _status_when_done(api_url: str, token: str, item: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        answer = _call("GET", f"{api_url}uploads/{item}/status", token=token)
        assert answer.status == 200, answer.body
        status: dict[str, Any] = answer.json()
        return status if status["state"] != "waiting" else None

    status = poll_until(done, timeout_s=90)
    assert status, f"the upload of {item} was still waiting after 90 s"
    result: dict[str, Any] = status
    return result


def test_an_item_created_through_the_api_and_uploaded_with_its_form_is_published_as_its_owners(
    api_stack: DeployedStack, api_url: str, alice: str
) -> None:
    # Given alice creates an item through the API
    created = _create(api_url, alice, author="Alice")
    assert (created["version"], created["owner"], created["collection"]) == (1, "alice", "trips")
    assert created["upload"]["max_bytes"] == MAX_BYTES
    # When she uploads a photo with the form she was given
    uploaded = _upload(created["upload"], _jpeg())
    assert uploaded.status in (200, 201, 204), uploaded.body
    # Then its status becomes published as version 1
    status = _status_when_done(api_url, alice, created["id"])
    assert (status["state"], status["version"]) == ("published", 1)
    # And GET /items/{id} (no token) redirects to its public document, served by the distribution
    redirect = _call("GET", f"{api_url}items/{created['id']}")
    assert redirect.status == 302
    location = redirect.headers["location"]
    assert location.startswith(api_stack.outputs["PublicBaseUrl"])
    document = _call("GET", location)
    assert document.status == 200
    item = document.json()
    assert (item["id"], item["title"], item["author"], item["owner"]) == (
        created["id"],
        "Harbour at dawn",
        "Alice",
        "alice",
    )


def test_put_hands_out_the_next_version_of_an_item_the_caller_owns(api_url: str, alice: str) -> None:
    # Given alice's published item
    created = _create(api_url, alice, title="Lighthouse")
    assert _upload(created["upload"], _jpeg(seed=1)).status in (200, 201, 204)
    assert _status_when_done(api_url, alice, created["id"])["state"] == "published"
    # When she asks for a new version with a new title, and uploads it
    answer = _call(
        "PUT", f"{api_url}items/{created['id']}", token=alice, body='{"title": "Lighthouse, later"}'
    )
    assert answer.status == 200, answer.body
    second = answer.json()
    assert (second["id"], second["key"], second["version"]) == (created["id"], created["key"], 2)
    assert _upload(second["upload"], _jpeg(seed=2)).status in (200, 201, 204)
    # Then version 2 is published, with the new title
    status = _status_when_done(api_url, alice, created["id"])
    assert (status["state"], status["version"]) == ("published", 2)
    item = _call("GET", status["public_url"]).json()
    assert (item["version"], item["title"]) == (2, "Lighthouse, later")


def test_someone_elses_item_is_refused_with_403(api_url: str, alice: str, bob: str) -> None:
    # Given alice's item
    created = _create(api_url, alice, title="Mine")
    # When bob asks for a new version of it, or its status
    put = _call("PUT", f"{api_url}items/{created['id']}", token=bob, body="{}")
    status = _call("GET", f"{api_url}uploads/{created['id']}/status", token=bob)
    # Then both are refused as not_owner, with a sentence
    for answer in (put, status):
        assert answer.status == 403, answer.body
        assert answer.json()["error"]["reason"] == "not_owner"
        assert "belongs to someone else" in answer.json()["error"]["message"]
    # And an unknown item is 404
    unknown = _call("PUT", f"{api_url}items/000000000000000000000000", token=alice, body="{}")
    assert (unknown.status, unknown.json()["error"]["reason"]) == (404, "not_found")


def test_an_oversize_upload_is_refused_by_s3s_policy(
    aws: EmbeddedAws, api_stack: DeployedStack, api_url: str, alice: str
) -> None:
    # Given a form for an item (limit MAX_BYTES)
    created = _create(api_url, alice, title="Too big")
    # When a file one byte over the limit is posted with it
    refused = _upload(created["upload"], b"\xff" * (MAX_BYTES + 1))
    # Then S3 refuses it (EntityTooLarge) and nothing is stored
    assert refused.status == 400, refused.body
    assert b"EntityTooLarge" in refused.body
    s3 = aws.client("s3")
    listed = s3.list_objects_v2(Bucket=api_stack.outputs["IngestBucketName"], Prefix=created["key"])
    assert listed.get("KeyCount", 0) == 0


def test_a_refused_file_shows_as_quarantined_with_the_reasons_sentence(api_url: str, alice: str) -> None:
    # Given a form for an item
    created = _create(api_url, alice, title="Not a photo")
    # When a text file is uploaded with it
    assert _upload(created["upload"], b"just some text, no image", "notes.txt").status in (200, 201, 204)
    # Then its status says quarantined, with the reason and its sentence
    status = _status_when_done(api_url, alice, created["id"])
    assert (status["state"], status["reason"]) == ("quarantined", "unsupported_type")
    assert "not an image type we accept" in status["message"]


def test_bad_json_and_missing_tokens_are_refused_with_4xx_and_a_message(api_url: str, alice: str) -> None:
    # Given the API
    # When a body is not JSON, a field is missing, an owner is claimed, or no token is sent
    bad_json = _call("POST", f"{api_url}items", token=alice, body="{title: 'x'")
    missing = _call("POST", f"{api_url}items", token=alice, body='{"title": "x"}')
    claimed = _call(
        "POST", f"{api_url}items", token=alice, body='{"title": "x", "collection": "c", "owner": "bob"}'
    )
    anonymous = _call("POST", f"{api_url}items", body='{"title": "x", "collection": "c"}')
    # Then each is refused with its status and a sentence a person can act on
    assert bad_json.status == 400
    assert bad_json.json()["error"]["reason"] == "bad_request"
    assert "not valid JSON" in bad_json.json()["error"]["message"]
    assert (missing.status, missing.json()["error"]["message"]) == (
        400,
        "The body is not valid: `collection` is required.",
    )
    assert claimed.status == 400 and "Remove `owner`" in claimed.json()["error"]["message"]
    assert (anonymous.status, anonymous.json()) == (401, {"message": "Unauthorized"})


def test_the_api_admits_the_gallerys_origin_only(api_stack: DeployedStack, api_url: str) -> None:
    # Given the gallery's origin (the distribution's local URL) and another one
    gallery = api_stack.outputs["PublicBaseUrl"].rstrip("/")

    # When browsers from each send a CORS preflight for POST /items
    def preflight(origin: str) -> Answer:
        return _call(
            "OPTIONS",
            f"{api_url}items",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )

    allowed, other = preflight(gallery), preflight("http://127.0.0.1:9")
    # Then only the gallery's is allowed
    assert allowed.headers.get("access-control-allow-origin") == gallery
    assert "access-control-allow-origin" not in other.headers


def test_the_gallery_is_served_at_the_distributions_root(api_stack: DeployedStack) -> None:
    # Given the deployed stack
    base = api_stack.outputs["PublicBaseUrl"].rstrip("/")
    # When the distribution's root and the gallery's config are read
    page = _call("GET", f"{base}/")
    config = _call("GET", f"{base}/gallery/config.json").json()
    # Then the page is there, and its config names the API's local URL and the size limit
    assert page.status == 200 and page.headers["content-type"].startswith("text/html")
    assert config["apiUrl"] == api_stack.outputs["ApiUrl"]
    assert config["maxUploadBytes"] == MAX_BYTES
