"""Browser uploads to S3 with presigned POSTs, enforced as S3 enforces them: the policy's expiry and
conditions, its signature, the signer's s3:PutObject, and the bucket's CORS rules (issue 13)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from urllib3 import encode_multipart_formdata

from embedded_aws import endpoints
from embedded_aws.stack import DeployedStack, EmbeddedAws, poll_until
from tests.compat.conftest import COMPAT
from tests.http import Answer, call

TEMPLATE = COMPAT / "s3_browser_uploads" / "template.yaml"
WEB_APP = "https://gallery.example.com"
KEY = "uploads/photo.jpg"


def _send(url: str, method: str, headers: dict[str, str], body: bytes | None = None) -> Answer:
    return call(url, method, body, headers)


def _upload(post: dict[str, Any], data: bytes, origin: str = WEB_APP, **changed: str) -> Answer:
    """POST the form as a browser does: every field of the presigned POST (some changed), then the file."""
    fields: list[tuple[str, Any]] = [(k, v) for k, v in {**post["fields"], **changed}.items()]
    fields.append(("file", ("photo.jpg", data, "image/jpeg")))
    body, content_type = encode_multipart_formdata(fields)
    return _send(post["url"], "POST", {"Content-Type": content_type, "Origin": origin}, body)


@dataclass
class Uploads:
    stack: DeployedStack
    bucket: str
    uploader: Any  # an S3 client with the uploader role's session
    reader: Any  # an S3 client with the reader role's session
    uploader_id: str  # the uploader session's aws:userid


def _session_client(aws: EmbeddedAws, role_arn: str, session: str) -> tuple[Any, str]:
    credentials = aws.client("sts").assume_role(RoleArn=role_arn, RoleSessionName=session)["Credentials"]
    keys = {
        "aws_access_key_id": credentials["AccessKeyId"],
        "aws_secret_access_key": credentials["SecretAccessKey"],
        "aws_session_token": credentials["SessionToken"],
    }
    s3 = boto3.client(
        "s3",
        endpoint_url=aws.endpoint_url,
        region_name=aws.region,
        config=Config(signature_version="s3v4"),
        **keys,
    )
    sts = boto3.client("sts", endpoint_url=aws.endpoint_url, region_name=aws.region, **keys)
    return s3, str(sts.get_caller_identity()["UserId"])


@pytest.fixture(scope="module")
def uploads(aws: EmbeddedAws) -> Iterator[Uploads]:
    """The template deployed once for the module, with S3 clients for its two roles."""
    stack = aws.deploy(TEMPLATE, "compat-s3-post")
    uploader, uploader_id = _session_client(aws, stack.outputs["UploaderRoleArn"], "alice")
    reader, _ = _session_client(aws, stack.outputs["ReaderRoleArn"], "bob")
    yield Uploads(stack, stack.outputs["BucketName"], uploader, reader, uploader_id)
    aws.delete(stack.name)


def _presigned(
    client: Any, bucket: str, expires_in: int = 300, key: str = KEY, **fields: str
) -> dict[str, Any]:
    conditions: list[Any] = [["content-length-range", 1, 1024], {"x-amz-meta-title": "Birds at dawn"}]
    conditions += [{"Content-Type": "image/jpeg"}, {"success_action_status": "201"}]
    conditions += [{name: value} for name, value in fields.items()]
    post: dict[str, Any] = client.generate_presigned_post(
        Bucket=bucket,
        Key=key,
        Fields={
            "x-amz-meta-title": "Birds at dawn",
            "Content-Type": "image/jpeg",
            "success_action_status": "201",
            **fields,
        },
        Conditions=conditions,
        ExpiresIn=expires_in,
    )
    return post


def _error_code(reply: Answer) -> str:
    text = reply.body.decode()
    return text.split("<Code>", 1)[1].split("</Code>", 1)[0] if "<Code>" in text else text


def _message(reply: Answer) -> str:
    return reply.body.decode().split("<Message>", 1)[1].split("</Message>", 1)[0]


def test_a_presigned_post_within_its_policy_stores_the_object_as_the_signer(
    aws: EmbeddedAws, uploads: Uploads
) -> None:
    # Given a presigned POST the uploader role signed
    post = _presigned(uploads.uploader, uploads.bucket)

    # When the web app's page uploads a small file with it
    reply = _upload(post, b"\xff\xd8 a small jpeg")

    # Then S3 answers 201 with its PostResponse and the CORS headers of the web app's rule
    assert reply.status == 201, reply.body
    assert (
        f"<Key>{KEY}</Key>" in reply.body.decode()
        and f"<Bucket>{uploads.bucket}</Bucket>" in reply.body.decode()
    )
    assert reply.headers["access-control-allow-origin"] == WEB_APP
    assert reply.headers["access-control-expose-headers"] == "ETag, Location"
    # And the object is stored with the form's Content-Type and metadata
    stored = aws.client("s3").head_object(Bucket=uploads.bucket, Key=KEY)
    assert stored["ContentType"] == "image/jpeg"
    assert stored["Metadata"] == {"title": "Birds at dawn"}
    assert stored["ETag"] == reply.headers["etag"]

    # And its event names the signer, as for a PutObject by that session
    sqs, queue = aws.client("sqs"), uploads.stack.outputs["QueueUrl"]

    def created() -> dict[str, Any] | None:
        for message in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
            records = json.loads(message["Body"]).get("Records", [])
            if records and records[0]["s3"]["object"]["key"] == KEY:
                return dict(records[0])
        return None

    record = poll_until(created, timeout_s=10, interval_s=0.1)
    assert record is not None, "no ObjectCreated event for the upload"
    assert record["userIdentity"]["principalId"] == f"AWS:{uploads.uploader_id}"


def test_a_file_larger_than_the_policy_allows_is_entity_too_large(uploads: Uploads) -> None:
    # When a 2 KB file is uploaded with a policy allowing 1 KB
    reply = _upload(_presigned(uploads.uploader, uploads.bucket), b"x" * 2048)

    # Then S3 refuses it with 400 EntityTooLarge, and CORS headers so the page can read why
    assert (reply.status, _error_code(reply)) == (400, "EntityTooLarge")
    assert _message(reply) == "Your proposed upload exceeds the maximum allowed size"
    assert "<MaxSizeAllowed>1024</MaxSizeAllowed>" in reply.body.decode()
    assert reply.headers["access-control-allow-origin"] == WEB_APP


def test_another_key_an_extra_field_an_expired_policy_and_a_bad_signature_are_refused(
    uploads: Uploads,
) -> None:
    post = _presigned(uploads.uploader, uploads.bucket)
    # When the form names another key, adds a field the policy does not cover, is sent after the policy
    # expired, or carries a signature that is not the policy's
    other_key = _upload(post, b"data", key="uploads/other.jpg")
    extra = _upload(post, b"data", **{"x-amz-meta-owner": "mallory"})
    expired = _upload(_presigned(uploads.uploader, uploads.bucket, expires_in=-60), b"data")
    signature = post["fields"]["x-amz-signature"]
    forged = _upload(
        post, b"data", **{"x-amz-signature": ("0" if signature[0] != "0" else "1") + signature[1:]}
    )

    # Then each is S3's 403 with its reason
    assert (other_key.status, _error_code(other_key)) == (403, "AccessDenied")
    assert _message(other_key) == (
        f'Invalid according to Policy: Policy Condition failed: ["eq", "$key", "{KEY}"]'
    )
    assert (extra.status, _message(extra)) == (
        403,
        "Invalid according to Policy: Extra input fields: x-amz-meta-owner",
    )
    assert (expired.status, _message(expired)) == (403, "Invalid according to Policy: Policy expired.")
    assert (forged.status, _error_code(forged)) == (403, "SignatureDoesNotMatch")


def test_a_signer_without_s3_put_object_cannot_upload(uploads: Uploads) -> None:
    # When the reader role (s3:GetObject only) signs a POST and the page uploads with it
    reply = _upload(_presigned(uploads.reader, uploads.bucket), b"data")

    # Then S3 refuses it as IAM refuses the reader's PutObject
    assert (reply.status, _error_code(reply)) == (403, "AccessDenied")
    assert "is not authorized to perform: s3:PutObject" in _message(reply)
    assert f"arn:aws:s3:::{uploads.bucket}/{KEY}" in _message(reply)


def test_a_cors_preflight_is_answered_by_the_first_matching_rule_only(
    aws: EmbeddedAws, uploads: Uploads
) -> None:
    url = f"{aws.endpoint_url}/{uploads.bucket}"
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    # When the web app and another site ask whether they may POST
    allowed = _send(url, "OPTIONS", {"Origin": WEB_APP, **preflight})
    refused = _send(url, "OPTIONS", {"Origin": "https://elsewhere.example.com", **preflight})
    # And another site asks to GET, which the second rule admits from anywhere
    elsewhere_get = {"Origin": "https://elsewhere.example.com", "Access-Control-Request-Method": "GET"}
    reads = _send(url + "/uploads/photo.jpg", "OPTIONS", elsewhere_get)

    # Then the web app's rule answers for it; the other site may GET but not POST
    assert allowed.status == 200
    assert allowed.headers["access-control-allow-origin"] == WEB_APP
    assert allowed.headers["access-control-allow-methods"] == "POST, PUT"
    assert allowed.headers["access-control-allow-headers"] == "content-type"
    assert allowed.headers["access-control-max-age"] == "600"
    assert (refused.status, _error_code(refused)) == (403, "AccessForbidden")
    assert _message(refused).startswith("CORSResponse: This CORS request is not allowed.")
    assert (reads.status, reads.headers["access-control-allow-origin"]) == (200, "*")


def test_a_cors_rule_naming_a_distribution_s_aws_origin_admits_its_local_origin(aws: EmbeddedAws) -> None:
    # Given a distribution's host served locally, and a bucket whose CORS rule names its AWS origin
    served = endpoints.current()
    assert served is not None
    host = "d1corsrewrite.cloudfront.net"
    local_origin = served.serve(host, lambda environ, start_response: [])
    s3, bucket = aws.client("s3"), "compat-cors-rewrite"
    s3.create_bucket(Bucket=bucket)
    rule = {"AllowedOrigins": [f"https://{host}"], "AllowedMethods": ["POST"], "AllowedHeaders": ["*"]}
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [rule]})
    try:
        # When a page of that distribution, served locally, asks whether it may POST
        reply = _send(
            f"{aws.endpoint_url}/{bucket}",
            "OPTIONS",
            {"Origin": local_origin, "Access-Control-Request-Method": "POST"},
        )
    finally:
        served.close(host)
        s3.delete_bucket(Bucket=bucket)

    # Then the rule admits it, as it admits the distribution's origin on AWS
    assert (reply.status, reply.headers.get("access-control-allow-origin")) == (200, local_origin)


def _post_parts(post: dict[str, Any], parts: list[tuple[str, Any]], **headers: str) -> Answer:
    """POST a form made of exactly these parts, in this order (a tuple value is a file part)."""
    body, content_type = encode_multipart_formdata(parts)
    return _send(post["url"], "POST", {"Content-Type": content_type, "Origin": WEB_APP, **headers}, body)


def _stored(aws: EmbeddedAws, bucket: str, key: str) -> bool:
    try:
        aws.client("s3").head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        assert error.response["Error"]["Code"] in ("404", "NoSuchKey"), error.response
        return False
    return True


def test_a_form_repeating_the_key_field_in_another_case_is_refused_and_nothing_is_stored(
    aws: EmbeddedAws, uploads: Uploads
) -> None:
    # Given a presigned POST for uploads/repeat.jpg
    signed_key = "uploads/repeat.jpg"
    post = _presigned(uploads.uploader, uploads.bucket, key=signed_key)
    fields = [(k, v) for k, v in post["fields"].items() if k != "key"]

    # When the form sends key=evil/x first, then Key=<the signed key>
    reply = _post_parts(
        post,
        [("key", "evil/x.jpg"), *fields, ("Key", signed_key), ("file", ("x.jpg", b"data", "image/jpeg"))],
    )

    # Then S3 refuses the form (a field name repeats, whatever its case), and stores nothing under either key
    assert (reply.status, _error_code(reply)) == (400, "InvalidArgument"), reply.body
    assert not _stored(aws, uploads.bucket, "evil/x.jpg")
    assert not _stored(aws, uploads.bucket, signed_key)


def test_a_second_file_part_is_refused_and_nothing_is_stored(aws: EmbeddedAws, uploads: Uploads) -> None:
    # Given a presigned POST allowing 1 byte to 1 KB
    signed_key = "uploads/two-files.jpg"
    post = _presigned(uploads.uploader, uploads.bucket, key=signed_key)
    fields = list(post["fields"].items())
    small = ("file", ("small.jpg", b"x", "image/jpeg"))
    big = ("other", ("big.jpg", b"y" * 4096, "image/jpeg"))

    # When a form carries a 1-byte `file` and a 4 KB second file part, after it or before it
    after = _post_parts(post, [*fields, small, big])
    before = _post_parts(post, [*fields, big, small])

    # Then S3 refuses both (one file per POST), and nothing is stored
    for reply in (after, before):
        assert (reply.status, _error_code(reply)) == (400, "InvalidArgument"), reply.body
        assert _message(reply) == "POST requires exactly one file upload per request."
    assert not _stored(aws, uploads.bucket, signed_key)


def test_a_mixed_case_content_type_or_an_authorization_header_does_not_skip_enforcement(
    aws: EmbeddedAws, uploads: Uploads
) -> None:
    # Given a presigned POST whose signature is forged
    signed_key = "uploads/unenforced.jpg"
    post = _presigned(uploads.uploader, uploads.bucket, key=signed_key)
    signature = post["fields"]["x-amz-signature"]
    post["fields"]["x-amz-signature"] = ("0" if signature[0] != "0" else "1") + signature[1:]
    parts = [*post["fields"].items(), ("file", ("x.jpg", b"data", "image/jpeg"))]
    body, content_type = encode_multipart_formdata(parts)

    # When it is sent as `Multipart/Form-Data`, or with an `Authorization: junk` header
    mixed_case = _send(
        post["url"],
        "POST",
        {"Content-Type": content_type.replace("multipart/form-data", "Multipart/Form-Data")},
        body,
    )
    with_header = _send(post["url"], "POST", {"Content-Type": content_type, "Authorization": "junk"}, body)

    # Then both are refused as any POST upload with a bad signature is, and nothing is stored
    for reply in (mixed_case, with_header):
        assert (reply.status, _error_code(reply)) == (403, "SignatureDoesNotMatch"), reply.body
    assert not _stored(aws, uploads.bucket, signed_key)
