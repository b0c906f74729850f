"""S3 POST Object (browser form uploads, boto3's `generate_presigned_post`) enforced as S3 enforces it.

moto stored whatever a multipart/form-data POST to a bucket carried: no policy, signature, expiry, size or
IAM check, and answered 201 with an empty body. Here, before moto stores it, the upload must pass what S3
checks, in this order (S3's codes and sentences):

1. the form has `key` and one `file` (400 InvalidArgument);
2. a SigV4 policy: `x-amz-credential`'s access key is known (403 InvalidAccessKeyId), `x-amz-signature` is
   the HMAC of the base64 policy with that key's secret (403 SignatureDoesNotMatch), a session token
   matches the key's session (403 InvalidToken);
3. the policy has not expired ("Invalid according to Policy: Policy expired."), each condition holds
   ("Policy Condition failed: [...]"), each form field is covered by a condition ("Extra input fields:
   ..."), all 403 AccessDenied; the file's size is within `content-length-range` (400 EntityTooLarge /
   EntityTooSmall);
4. IAM: the signer may `s3:PutObject` on the object (identity policy and bucket policy, `iam`); without a
   policy the uploader is anonymous and only a bucket policy can admit it.

The upload is then stored by moto *as the signer*: its S3 event's `userIdentity.principalId` names them.
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
import io
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit, urlunsplit
from xml.sax.saxutils import escape

from werkzeug.formparser import parse_form_data

from embedded_aws import iam, s3_cors
from embedded_aws.actions import Check
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


def is_post_upload(environ: Mapping[str, Any]) -> bool:
    """Whether a request is a browser-form POST to a bucket (not a signed API call such as DeleteObjects)."""
    return (
        environ.get("REQUEST_METHOD") == "POST"
        and str(environ.get("CONTENT_TYPE", "")).startswith("multipart/form-data")
        and not environ.get("HTTP_AUTHORIZATION")
        and s3_cors.request_bucket(environ) is not None
    )


def _read_form(environ: dict[str, Any]) -> tuple[_Form, bytes]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else environ["wsgi.input"].read()
    probe = dict(environ)
    probe["wsgi.input"] = io.BytesIO(raw)
    _, form, files = parse_form_data(probe)
    fields: dict[str, str] = {}
    names: dict[str, str] = {}
    for name, value in form.items(multi=False):
        fields[name.lower()] = value
        names[name.lower()] = name
    upload = files.get("file")
    has_file = upload is not None or "file" in fields
    data = upload.read() if upload is not None else fields.pop("file", "").encode()
    names.pop("file", None)
    return _Form(fields, names, data, (upload.filename or "") if upload is not None else "", has_file), raw


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
    extra = "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in refused.extra.items())
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{refused.code}</Code>'
        f"<Message>{escape(refused.message)}</Message>{extra}<RequestId>LOCAL</RequestId>"
        "<HostId>embedded-aws</HostId></Error>"
    ).encode()


def handle(environ: dict[str, Any], start_response: StartResponse, app: WsgiApp) -> Iterable[bytes]:
    """Answer a POST upload: refused as S3 refuses it, or stored by `app` (moto) as the signer."""
    bucket = s3_cors.request_bucket(environ) or ""
    cors = s3_cors.actual_headers(bucket, environ)
    form, raw = _read_form(environ)
    try:
        if "key" not in form.fields:
            raise PostRefusedError(
                400,
                "InvalidArgument",
                "Bucket POST must contain a field named 'key'.  If it is specified, please check the "
                "order of the fields.",
            )
        if not form.has_file:
            raise PostRefusedError(
                400, "InvalidArgument", "POST requires exactly one file upload per request."
            )
        principal = authenticate(form, bucket)
        key = object_key(form)
        authorize(principal, bucket, key, form, str(environ.get("REMOTE_ADDR", "127.0.0.1")))
    except PostRefusedError as refused:
        log.info("S3 refused a POST upload to %s: %s %s", bucket, refused.code, refused.message)
        body = error_body(refused)
        headers = [("Content-Type", "application/xml"), ("Content-Length", str(len(body))), *cors]
        start_response(f"{refused.status} {_phrase(refused.status)}", headers)
        return [body]
    iam.set_requester(principal)  # the S3 event names the signer (anonymous: AWS:LOCAL)
    environ["wsgi.input"] = io.BytesIO(raw)
    captured: list[Any] = []

    def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], Any]:
        captured[:] = [status, headers]
        return lambda _data: None

    try:
        result = app(environ, capture)
        stored = b"".join(result)
        if hasattr(result, "close"):
            result.close()
    finally:
        iam.set_requester(None)
    status = int(str(captured[0]).split(" ", 1)[0])
    if status >= 300 and status != 303:
        start_response(str(captured[0]), list(captured[1]))
        return [stored]
    return _success(environ, start_response, form, bucket, key, cors)


def _phrase(status: int) -> str:
    from http import HTTPStatus

    return HTTPStatus(status).phrase


def _success(
    environ: Mapping[str, Any],
    start_response: StartResponse,
    form: _Form,
    bucket: str,
    key: str,
    cors: list[tuple[str, str]],
) -> list[bytes]:
    from moto.s3.models import s3_backends

    stored = s3_backends[iam.ACCOUNT]["aws"].get_object(bucket, key)
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
