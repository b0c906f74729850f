"""S3 POST Object (browser form uploads, boto3's `generate_presigned_post`) enforced as S3 enforces it.

moto stored whatever a multipart/form-data POST to a bucket carried: no policy, signature, expiry, size or
IAM check, and answered 201 with an empty body. Here, before moto stores it, the upload must pass what S3
checks, in this order (S3's codes and sentences):

1. the form is multipart/form-data (400 MalformedPOSTRequest), names each field once whatever its case, has
   `key` and exactly one file upload, named `file` (400 InvalidArgument); fields after the file are ignored;
2. a SigV4 policy: `x-amz-credential`'s access key is known (403 InvalidAccessKeyId), `x-amz-signature` is
   the HMAC of the base64 policy with that key's secret (403 SignatureDoesNotMatch), a session token
   matches the key's session (403 InvalidToken);
3. the policy has not expired ("Invalid according to Policy: Policy expired."), each condition holds
   ("Policy Condition failed: [...]"), each form field is covered by a condition ("Extra input fields:
   ..."), all 403 AccessDenied; the file's size is within `content-length-range` (400 EntityTooLarge /
   EntityTooSmall);
4. IAM: the signer may `s3:PutObject` on the object (identity policy and bucket policy, `iam`); without a
   policy the uploader is anonymous and only a bucket policy can admit it.

The upload is then stored through moto's backend, exactly as checked (key, file, metadata, Content-Type,
canned ACL; moto's own form handling read other fields and file parts than these checks did), and its S3
event's `userIdentity.principalId` names the signer. Every multipart/form-data POST to a bucket without a
subresource is such an upload, whatever the case of its media type or the headers it carries.
The answer is S3's: 204 (default), 200, or 201 with the XML `PostResponse`; `success_action_redirect`
answers 303 to it; CORS headers as the bucket's rules give them (`s3_cors`).

Where the signer's secret cannot be known (the admin's own keys, which the embedded AWS takes for the
account root whatever their secret), the signature is not checked.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit, urlunsplit
from xml.sax.saxutils import escape

from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

from embedded_aws import iam, s3_cors
from embedded_aws.actions import Check
from embedded_aws.formats import s3_error_xml
from embedded_aws.policy import Principal

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

#: Form fields no policy condition needs to cover.
_EXEMPT = frozenset({"file", "policy", "x-amz-signature", "signature", "awsaccesskeyid"})
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your key and "
    "signing method."
)
UNKNOWN_KEY = "The AWS Access Key Id you provided does not exist in our records."
EXPIRED = "Invalid according to Policy: Policy expired."


class PostRefusedError(Exception):
    """S3's refusal of a POST upload: status, code, message and extra XML elements."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


@dataclass
class _Form:
    fields: dict[str, str]  # names lower-cased (S3's field names are case-insensitive), values as sent
    names: dict[str, str]  # lower-cased name → as sent
    data: bytes
    filename: str
    has_file: bool


#: Query parameters naming a bucket or object subresource a multipart/form-data POST may address instead of
#: POST Object (DeleteObjects, CreateMultipartUpload, ..., RestoreObject, SelectObjectContent).
_SUBRESOURCES = frozenset(
    {
        "delete",
        "uploads",
        "uploadid",
        "restore",
        "select",
        "select-type",
        "renameobject",
        "metadatatable",
        "metadatainventorytable",
        "metadatajournaltable",
    }
)
_CANNED_ACLS = frozenset(
    {
        "private",
        "public-read",
        "public-read-write",
        "authenticated-read",
        "bucket-owner-read",
        "bucket-owner-full-control",
        "aws-exec-read",
        "log-delivery-write",
    }
)
ONE_FILE = "POST requires exactly one file upload per request."
MALFORMED = "The body of your POST request is not well-formed multipart/form-data."


def is_post_upload(environ: Mapping[str, Any]) -> bool:
    """Whether a request is a POST Object upload: a multipart/form-data POST (media type compared
    case-insensitively) to an existing bucket with no subresource, whatever other headers it carries (an
    `Authorization` header does not make it an API call S3 answers otherwise)."""
    if environ.get("REQUEST_METHOD") != "POST":
        return False
    media_type, _ = parse_options_header(str(environ.get("CONTENT_TYPE") or ""))
    if media_type.lower() != "multipart/form-data":
        return False
    query = parse_qs(str(environ.get("QUERY_STRING") or ""), keep_blank_values=True)
    if any(name.lower() in _SUBRESOURCES for name in query):
        return False
    return s3_cors.request_bucket(environ) is not None


@dataclass
class _Part:
    name: str
    filename: str | None  # None: a plain field, not a file upload
    data: bytearray


def _parts(environ: Mapping[str, Any], raw: bytes) -> list[_Part]:
    """The form's parts in the order sent; 400 MalformedPOSTRequest when the body is not multipart."""
    _, options = parse_options_header(str(environ.get("CONTENT_TYPE") or ""))
    boundary = options.get("boundary")
    if not boundary:
        raise PostRefusedError(400, "MalformedPOSTRequest", MALFORMED)
    decoder = MultipartDecoder(boundary.encode("latin-1"))
    parts: list[_Part] = []
    try:
        decoder.receive_data(raw)
        decoder.receive_data(None)
        while True:
            event = decoder.next_event()
            if isinstance(event, (NeedData, Epilogue)):
                break
            if isinstance(event, File):
                parts.append(_Part(event.name, event.filename or "", bytearray()))
            elif isinstance(event, Field):
                parts.append(_Part(event.name, None, bytearray()))
            elif isinstance(event, Data) and parts:
                parts[-1].data += event.data
    except ValueError as exc:
        raise PostRefusedError(400, "MalformedPOSTRequest", MALFORMED) from exc
    if not isinstance(event, Epilogue):
        raise PostRefusedError(400, "MalformedPOSTRequest", MALFORMED)
    return parts


def _read_form(environ: dict[str, Any]) -> _Form:
    """The form as S3 reads it: field names case-insensitive and each at most once (400 InvalidArgument
    otherwise), exactly one file upload, named `file`, and the fields after it ignored."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else environ["wsgi.input"].read()
    fields: dict[str, str] = {}
    names: dict[str, str] = {}
    file: _Part | None = None
    for part in _parts(environ, raw):
        name = part.name.lower()
        if file is not None:
            if part.filename is not None or name == "file":
                raise PostRefusedError(400, "InvalidArgument", ONE_FILE)
            continue  # S3 ignores the fields after the file
        if name == "file":
            file = part
        elif part.filename is not None:
            raise PostRefusedError(400, "InvalidArgument", ONE_FILE)
        elif name in fields:
            raise PostRefusedError(
                400,
                "InvalidArgument",
                f"POST form fields must be unique: '{part.name}' repeats '{names[name]}' (field names are "
                "case-insensitive).",
                ArgumentName=part.name,
            )
        else:
            fields[name] = part.data.decode("utf-8", "replace")
            names[name] = part.name
    if file is None:
        return _Form(fields, names, b"", "", has_file=False)
    return _Form(fields, names, bytes(file.data), file.filename or "", has_file=True)


def _secret_for(access_key: str) -> tuple[str, str | None] | None:
    """(secret, session token) of an access key moto's STS or IAM issued, or None when unknown."""
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    for assumed in list(sts_backends[iam.ACCOUNT]["aws"].assumed_roles):
        if assumed.access_key_id == access_key:
            return str(assumed.secret_access_key), str(assumed.session_token)
    for user in list(iam_backends[iam.ACCOUNT]["aws"].users.values()):
        for key in user.access_keys:
            if key.access_key_id == access_key:
                return str(key.secret_access_key), None
    return None


def _signature(secret: str, credential: str, policy_b64: str) -> str:
    _key, date, region, service, _terminal = [*credential.split("/"), "", "", "", ""][:5]
    signing = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        signing = hmac.new(signing, part.encode(), hashlib.sha256).digest()
    return hmac.new(signing, policy_b64.encode(), hashlib.sha256).hexdigest()


def _failed(condition: Any) -> PostRefusedError:
    shown = condition
    if isinstance(condition, dict):
        (name, value), *_ = condition.items()
        shown = ["eq", f"${name}", value]
    text = json.dumps(shown, separators=(", ", ": "))
    return PostRefusedError(
        403, "AccessDenied", f"Invalid according to Policy: Policy Condition failed: {text}"
    )


def check_policy(document: Mapping[str, Any], form: _Form, bucket: str, now: datetime.datetime) -> None:
    """Raise `PostRefusedError` unless the policy is current, every condition holds and covers every field."""
    expiration = str(document.get("expiration") or "")
    try:
        expires = datetime.datetime.fromisoformat(expiration.replace("Z", "+00:00"))
    except ValueError as exc:
        raise PostRefusedError(
            400, "InvalidPolicyDocument", "Invalid Policy: Invalid 'expiration' value."
        ) from exc
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=datetime.UTC)
    if expires <= now:
        raise PostRefusedError(403, "AccessDenied", EXPIRED)
    values = {**form.fields, "bucket": bucket}
    covered = {"bucket"}
    size_range: tuple[int, int] | None = None
    for condition in document.get("conditions") or []:
        if isinstance(condition, dict):
            for name, expected in condition.items():
                covered.add(name.lower())
                if values.get(name.lower()) != str(expected):
                    raise _failed({name: expected})
            continue
        if not isinstance(condition, list) or len(condition) != 3:
            raise PostRefusedError(
                400, "InvalidPolicyDocument", f"Invalid Policy: Invalid Condition: {condition}"
            )
        operator = str(condition[0]).lower()
        if operator == "content-length-range":
            size_range = (int(condition[1]), int(condition[2]))
            continue
        name = str(condition[1]).lstrip("$").lower()
        covered.add(name)
        actual = values.get(name, "")
        if operator == "eq":
            ok = actual == str(condition[2])
        elif operator == "starts-with":
            prefix = str(condition[2])
            parts = actual.split(",") if name == "content-type" else [actual]
            ok = name in values and all(p.strip().startswith(prefix) for p in parts)
        else:
            raise PostRefusedError(
                400, "InvalidPolicyDocument", f"Invalid Policy: Invalid Condition: {condition}"
            )
        if not ok:
            raise _failed(condition)
    extra = [
        form.names.get(name, name)
        for name in form.fields
        if name not in covered and name not in _EXEMPT and not name.startswith("x-ignore-")
    ]
    if extra:
        raise PostRefusedError(
            403, "AccessDenied", f"Invalid according to Policy: Extra input fields: {extra[0]}"
        )
    if size_range is not None:
        size = len(form.data)
        if size > size_range[1]:
            raise PostRefusedError(
                400,
                "EntityTooLarge",
                "Your proposed upload exceeds the maximum allowed size",
                ProposedSize=size,
                MaxSizeAllowed=size_range[1],
            )
        if size < size_range[0]:
            raise PostRefusedError(
                400,
                "EntityTooSmall",
                "Your proposed upload is smaller than the minimum allowed size",
                ProposedSize=size,
                MinSizeAllowed=size_range[0],
            )


def authenticate(form: _Form, bucket: str) -> Principal | None:
    """Who signed the upload (None: anonymous, no policy); raises `PostRefusedError` for a bad credential,
    signature, token or policy."""
    fields = form.fields
    if "policy" not in fields:
        return None
    if "awsaccesskeyid" in fields:
        raise PostRefusedError(
            400,
            "InvalidArgument",
            "The embedded AWS accepts only Signature Version 4 POST uploads (x-amz-algorithm "
            "AWS4-HMAC-SHA256); sign with boto3's s3v4 signer.",
        )
    for required in ("x-amz-credential", "x-amz-signature", "x-amz-algorithm", "x-amz-date"):
        if required not in fields:
            raise PostRefusedError(
                400,
                "InvalidArgument",
                f"Bucket POST must contain a field named '{required}'.  If it is specified, please check the "
                "order of the fields.",
            )
    credential = fields["x-amz-credential"]
    access_key = credential.split("/", 1)[0]
    naming = iam.identities()
    principal = naming.principal(access_key) if naming is not None else None
    issued = _secret_for(access_key)
    if issued is None and (principal is None or not principal.admin):
        raise PostRefusedError(403, "InvalidAccessKeyId", UNKNOWN_KEY, AWSAccessKeyId=access_key)
    if issued is not None:
        secret, token = issued
        expected = _signature(secret, credential, fields["policy"])
        if not hmac.compare_digest(expected, fields["x-amz-signature"].lower()):
            raise PostRefusedError(
                403, "SignatureDoesNotMatch", SIGNATURE_MISMATCH, AWSAccessKeyId=access_key
            )
        if token is not None and fields.get("x-amz-security-token") != token:
            raise PostRefusedError(
                400, "InvalidToken", "The provided token is malformed or otherwise invalid."
            )
    try:
        document = json.loads(base64.b64decode(fields["policy"], validate=False))
    except ValueError as exc:
        raise PostRefusedError(400, "InvalidPolicyDocument", "Invalid Policy: Invalid JSON.") from exc
    check_policy(document, form, bucket, datetime.datetime.now(datetime.UTC))
    return principal


def object_key(form: _Form) -> str:
    """The key the object is stored under: `${filename}` replaced by the file's name."""
    return form.fields["key"].replace("${filename}", form.filename.rsplit("/", 1)[-1])


def authorize(principal: Principal | None, bucket: str, key: str, form: _Form, source_ip: str) -> None:
    """Raise `PostRefusedError` unless the uploader may s3:PutObject on the object (IAM on)."""
    authority = iam.current()
    if authority is None:
        return
    context = {
        f"s3:{h}": form.fields[h] for h in ("x-amz-acl", "x-amz-server-side-encryption") if h in form.fields
    }
    if "acl" in form.fields:
        context["s3:x-amz-acl"] = form.fields["acl"]
    check = Check("s3:PutObject", f"arn:aws:s3:::{bucket}/{key}", context)
    who = principal or Principal(arn="*", account="", user_id="anonymous")
    try:
        authority.require(who, [check], {"aws:SourceIp": source_ip})
    except iam.AccessDeniedError as denied:
        raise PostRefusedError(403, "AccessDenied", str(denied)) from denied


def error_body(refused: PostRefusedError) -> bytes:
    return s3_error_xml(refused.code, refused.message, **refused.extra)


def handle(environ: dict[str, Any], start_response: StartResponse, app: WsgiApp) -> Iterable[bytes]:
    """Answer a POST upload: refused as S3 refuses it, or stored as the signer, under the key checked and
    with the file checked (moto's own form handling is not used: it read another key or file part)."""
    del app  # the upload is stored through moto's backend, not its form handling
    bucket = s3_cors.request_bucket(environ) or ""
    cors = s3_cors.actual_headers(bucket, environ)
    try:
        form = _read_form(environ)
        if "key" not in form.fields:
            raise PostRefusedError(
                400,
                "InvalidArgument",
                "Bucket POST must contain a field named 'key'.  If it is specified, please check the "
                "order of the fields.",
            )
        if not form.has_file:
            raise PostRefusedError(400, "InvalidArgument", ONE_FILE)
        if form.fields.get("acl", "private") not in _CANNED_ACLS:
            raise PostRefusedError(400, "InvalidArgument", "", ArgumentName="x-amz-acl")
        principal = authenticate(form, bucket)
        key = object_key(form)
        authorize(principal, bucket, key, form, str(environ.get("REMOTE_ADDR", "127.0.0.1")))
    except PostRefusedError as refused:
        log.info("S3 refused a POST upload to %s: %s %s", bucket, refused.code, refused.message)
        body = error_body(refused)
        headers = [("Content-Type", "application/xml"), ("Content-Length", str(len(body))), *cors]
        start_response(f"{refused.status} {_phrase(refused.status)}", headers)
        return [body]
    stored = store(form, bucket, key, principal)
    return _success(environ, start_response, form, bucket, key, stored, cors)


def store(form: _Form, bucket: str, key: str, principal: Principal | None) -> Any:
    """Store the checked file under the checked key, with the form's metadata, Content-Type and canned
    ACL, then send its ObjectCreated:Post event naming the signer (anonymous: AWS:LOCAL)."""
    from moto.s3 import notifications
    from moto.s3.models import get_canned_acl, s3_backends
    from moto.s3.utils import metadata_from_headers

    from embedded_aws.patches import _s3_object_lock

    backend = s3_backends[iam.ACCOUNT]["aws"]
    headers = {form.names[name]: value for name, value in form.fields.items()}
    with _s3_object_lock:
        stored = backend.put_object(bucket, key, form.data, request_method="POST", disable_notification=True)
        if form.fields.get("acl"):
            stored.set_acl(get_canned_acl(form.fields["acl"]))
        stored.set_metadata(metadata_from_headers(headers))
    iam.set_requester(principal)  # the S3 event names the signer
    try:
        notifications.send_event(
            iam.ACCOUNT,
            notifications.S3NotificationEvent.OBJECT_CREATED_POST_EVENT,
            backend.get_bucket(bucket),
            stored,
        )
    finally:
        iam.set_requester(None)
    return stored


def _phrase(status: int) -> str:
    from http import HTTPStatus

    return HTTPStatus(status).phrase


def _success(
    environ: Mapping[str, Any],
    start_response: StartResponse,
    form: _Form,
    bucket: str,
    key: str,
    stored: Any,
    cors: list[tuple[str, str]],
) -> list[bytes]:
    etag = str(stored.etag) if stored is not None else ""
    host = str(environ.get("HTTP_HOST") or "127.0.0.1")
    location = f"http://{host}/{quote(bucket)}/{quote(key)}"
    headers = [("ETag", etag), ("Location", location), *cors]
    if stored is not None and stored.version_id and stored.version_id != "null":
        headers.append(("x-amz-version-id", str(stored.version_id)))
    redirect = form.fields.get("success_action_redirect") or form.fields.get("redirect")
    if redirect:
        parts = urlsplit(redirect)
        query = parse_qs(parts.query)
        query.update({"bucket": [bucket], "key": [key], "etag": [etag]})
        target = urlunsplit(parts._replace(query=urlencode(query, doseq=True)))
        headers = [(k, v) for k, v in headers if k != "Location"] + [
            ("Location", target),
            ("Content-Length", "0"),
        ]
        start_response("303 See Other", headers)
        return [b""]
    wanted = form.fields.get("success_action_status", "204")
    status = int(wanted) if wanted in ("200", "201", "204") else 204
    body = b""
    if status == 201:
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<PostResponse>'
            f"<Location>{escape(location)}</Location><Bucket>{escape(bucket)}</Bucket>"
            f"<Key>{escape(key)}</Key><ETag>{escape(etag)}</ETag></PostResponse>"
        ).encode()
        headers.append(("Content-Type", "application/xml"))
    headers.append(("Content-Length", str(len(body))))
    start_response(f"{status} {_phrase(status)}", headers)
    return [body]


def browser_request(
    environ: dict[str, Any], start_response: StartResponse, app: WsgiApp
) -> Iterable[bytes] | None:
    """S3's answer to an unsigned browser request, a CORS preflight or a form upload, or None for others."""
    method = environ.get("REQUEST_METHOD")
    if method == "OPTIONS":
        bucket = s3_cors.request_bucket(environ)
        if bucket is None:
            return None
        status, headers, body = s3_cors.preflight(bucket, environ)
        start_response(f"{status} {_phrase(status)}", headers)
        return [body]
    if method == "POST" and is_post_upload(environ):
        return handle(environ, start_response, app)
    return None
