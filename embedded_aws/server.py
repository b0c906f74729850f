"""The HTTP front of the embedded AWS: moto's server, answering every refusal as AWS would (DESIGN.md D14).

moto's server answers an action it lacks, or any exception inside moto or inside our patches, with
werkzeug's HTML "500 Internal Server Error" page; boto3 then raises an unparseable error and retries it.
`AwsErrorMiddleware` wraps moto's WSGI app so that instead:

- an action AWS has but the embedded AWS lacks → HTTP 501 `NotImplemented`, "The embedded AWS does not
  implement sqs:ListMessageMoveTasks yet." (501 is S3's status for `NotImplemented`; SDKs do not retry it);
- an action the service does not have → `UnknownOperationException` (JSON and REST protocols) or
  `InvalidAction` (query protocol), HTTP 400 (404 for an unknown REST path), as AWS answers;
- an exception (a bug) → HTTP 500 `InternalFailure` (S3: `InternalError`) with the exception's message,
  logged with its traceback;
- any other HTML error page (405, 400 from werkzeug) → the same status with an AWS-shaped body.

Each error is shaped for the service's protocol: JSON (`__type`, `x-amzn-ErrorType`), REST-JSON
(Lambda's `{"Type", "message"}`), query (`<ErrorResponse>`) or REST-XML (S3's `<Error>`). Every 5xx answer
is recorded in an `ErrorLog`, so tests can fail on an internal failure nobody expected.
"""

from __future__ import annotations

import contextlib
import html
import io
import json
import logging
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote
from xml.sax.saxutils import escape

from botocore.exceptions import DataNotFoundError, UnknownServiceError
from botocore.model import OperationNotFoundError
from moto.moto_server.werkzeug_app import DEFAULT_SERVICE_REGION, DomainDispatcherApplication
from moto.server import ThreadedMotoServer
from werkzeug.exceptions import NotFound

from embedded_aws import actions, custom_resources, faults, iam, oidc, s3_cors, s3_post
from embedded_aws.formats import s3_error_xml
from embedded_aws.policy import Principal

log = logging.getLogger(__name__)

StartResponse = Callable[..., Callable[[bytes], object]]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

#: Signing names (the service in a SigV4 credential scope) whose botocore model has another name.
SIGNING_TO_MODEL = {
    "states": "stepfunctions",
    "monitoring": "cloudwatch",
    "email": "ses",
    "execute-api": "apigateway",
    "tagging": "resourcegroupstaggingapi",
    "elasticloadbalancing": "elbv2",
    "eventbridge": "events",
}
#: A SigV4 credential (header or presigned query): access key, date, region, service.
_CREDENTIAL = re.compile(r"Credential=(?P<key>[^/]+)/[^/]+/(?P<region>[^/]+)/(?P<service>[^/]+)/")
#: moto's words for an action it has no method for (moto/core/responses.py `call_action`).
_MOTO_UNIMPLEMENTED = re.compile(r"^The \w+ action has not been implemented$")
#: S3 subresources moto's S3 does not handle: it falls through to another operation (a PUT re-creates the
#: bucket, a GET lists objects) and answers 200, so these are refused before moto sees them.
S3_UNIMPLEMENTED_SUBRESOURCES = frozenset(
    {
        "abac",
        "analytics",
        "annotation",
        "intelligent-tiering",
        "metadataAnnotationTable",
        "metadataConfiguration",
        "metadataInventoryTable",
        "metadataJournalTable",
        "metadataTable",
        "metrics",
        "renameObject",
        "requestPayment",
        "session",
        "torrent",
    }
)


@dataclass(frozen=True)
class ServerError:
    """One 5xx answer of the embedded AWS."""

    service: str  # the IAM prefix: sqs, states, lambda...
    action: str  # e.g. StartMessageMoveTask; "" when the request named none
    status: int
    code: str
    message: str
    internal: bool  # an exception nobody expected (a bug), not a refusal
    expected: bool = False  # answered inside `ErrorLog.expect()`

    @property
    def name(self) -> str:
        return f"{self.service}:{self.action or '?'}"


class ErrorLog:
    """The 5xx answers the server gave, in order; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[ServerError] = []
        self._expecting = 0

    def record(self, error: ServerError) -> None:
        with self._lock:
            if self._expecting:
                error = ServerError(**{**error.__dict__, "expected": True})
            self._entries.append(error)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def since(self, mark: int) -> list[ServerError]:
        """The answers recorded after `mark` (a `len()` taken earlier)."""
        with self._lock:
            return list(self._entries[mark:])

    def unexpected_failures(self, mark: int = 0) -> list[ServerError]:
        """Internal failures (bugs) since `mark` that no `expect()` block asked for."""
        return [e for e in self.since(mark) if e.internal and not e.expected]

    @contextlib.contextmanager
    def expect(self) -> Iterator[None]:
        """Internal failures answered inside this block are expected (a test provoking one)."""
        with self._lock:
            self._expecting += 1
        try:
            yield
        finally:
            with self._lock:
                self._expecting -= 1


@dataclass
class _Request:
    """What the middleware knows of a request: enough to name it and shape an error."""

    environ: dict[str, Any]
    body: bytes | None  # kept only for form-encoded (query protocol) bodies
    signing_name: str
    access_key: str = ""
    region: str = ""
    principal: Principal | None = None  # who IAM took the caller for (None: IAM is off)

    @classmethod
    def read(cls, environ: dict[str, Any]) -> _Request:
        body = None
        content_type = environ.get("CONTENT_TYPE", "")
        if content_type.startswith("application/x-www-form-urlencoded"):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)  # moto reads it again
        # The credential scope names the service: in the Authorization header, or a presigned URL's query.
        scope = environ.get("HTTP_AUTHORIZATION", "") or unquote(str(environ.get("QUERY_STRING", "")))
        match = _CREDENTIAL.search(scope)
        if match is None:
            return cls(environ, body, "")
        return cls(environ, body, match["service"].lower(), match["key"], match["region"])

    @property
    def method(self) -> str:
        return str(self.environ.get("REQUEST_METHOD", "GET"))

    def model(self) -> Any:
        """The botocore service model moto routes this request to, or None."""
        from moto.core.utils import get_service_model

        if not self.signing_name:
            return None
        try:
            return get_service_model(SIGNING_TO_MODEL.get(self.signing_name, self.signing_name))
        except (UnknownServiceError, DataNotFoundError):
            return None

    def protocol(self, model: Any) -> str:
        if model is None:
            return "json"
        if model.service_name == "s3":
            return "rest-xml"
        supported = model.metadata.get("protocols", [model.protocol])
        if self.body is not None and "query" in supported:
            return "query"
        return str(model.protocol)

    def action(self, model: Any) -> tuple[str, bool]:
        """The operation's name, and whether the service model has it."""
        from moto.core.request import Request
        from moto.core.routing import get_service_router

        named = self._named_action()
        if model is None:
            return named, False
        environ = dict(self.environ)
        environ["wsgi.input"] = io.BytesIO(self.body or b"")
        try:
            operation, _ = get_service_router(model.service_name).match(Request(environ))
        except (NotFound, NotImplementedError):
            return named, False
        return str(operation.name), True

    def _named_action(self) -> str:
        target = self.environ.get("HTTP_X_AMZ_TARGET", "")
        if target:
            return str(target).rsplit(".", 1)[-1]
        from urllib.parse import parse_qs

        for source in (self.environ.get("QUERY_STRING", ""), (self.body or b"").decode("utf-8", "replace")):
            values = parse_qs(source).get("Action")
            if values:
                return str(values[0])
        return ""


#: Services where even the root is checked: their resource-based policies may deny it.
_ADMIN_CHECKED = frozenset({"s3"})
#: How each service answers an IAM refusal: (HTTP status, error code).
_DENIALS = {
    "s3": (403, "AccessDenied"),
    "sqs": (403, "AccessDenied"),
    "sns": (403, "AuthorizationError"),
    "sts": (403, "AccessDenied"),
    "iam": (403, "AccessDenied"),
    "cloudformation": (403, "AccessDenied"),
    "lambda": (403, "AccessDeniedException"),
}


def _denial_shape(service: str) -> tuple[int, str]:
    return _DENIALS.get(service, (400, "AccessDeniedException"))


def _call(request: _Request, account: str) -> actions.Call:
    """What IAM needs of a request: its operation, path, query, headers and parsed parameters."""
    environ = request.environ
    query = {
        k: v[0] for k, v in parse_qs(str(environ.get("QUERY_STRING", "")), keep_blank_values=True).items()
    }
    headers = {k[5:].replace("_", "-").lower(): str(v) for k, v in environ.items() if k.startswith("HTTP_")}
    params: dict[str, Any] = {}
    operation = ""
    target = headers.get("x-amz-target", "")
    content_type = str(environ.get("CONTENT_TYPE", ""))
    if target:
        operation = target.rsplit(".", 1)[-1]
        raw = _peek_body(environ)
        try:
            parsed = json.loads(raw) if raw else {}
        except ValueError:
            parsed = {}
        params = parsed if isinstance(parsed, dict) else {}
    elif request.body is not None:  # query protocol: the form is the parameters
        params = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()}
        operation = str(params.get("Action", ""))
    elif "/operation/" in str(environ.get("PATH_INFO", "")):  # rpc-v2-cbor (CloudWatch)
        operation = str(environ["PATH_INFO"]).rsplit("/", 1)[-1]
    if request.signing_name == "s3" and environ.get("REQUEST_METHOD") == "POST" and "delete" in query:
        raw = _peek_body(environ)
        params = {"objects": _deleted_objects(raw)}
    if not operation and request.signing_name != "s3" and "xml" not in content_type:
        operation, _ = request.action(request.model())
    return actions.Call(
        service=request.signing_name,
        operation=operation,
        region=request.region,
        account=account,
        method=request.method,
        path=str(environ.get("PATH_INFO", "/")),
        query=query,
        headers=headers,
        params=params,
    )


def _deleted_objects(body: bytes) -> list[tuple[str, str | None]]:
    """The (key, version id) pairs of a DeleteObjects request."""
    found = []
    for element in re.findall(rb"<Object>(.*?)</Object>", body, re.S):
        key = re.search(rb"<Key>(.*?)</Key>", element, re.S)
        version = re.search(rb"<VersionId>(.*?)</VersionId>", element, re.S)
        if key is not None:
            text = html.unescape(key.group(1).decode("utf-8", "replace"))
            found.append((text, version.group(1).decode() if version is not None else None))
    return found


def _peek_body(environ: dict[str, Any]) -> bytes:
    """The request body, left in place for moto to read again."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(raw)
    return bytes(raw)


def error_response(
    protocol: str, model: Any, status: int, code: str, message: str, method: str = "POST"
) -> tuple[str, list[tuple[str, str]], bytes]:
    """An AWS error answer for `protocol`: (status line, headers, body)."""
    request_id = str(uuid.uuid4())
    sender = status < 500
    headers = [("x-amzn-RequestId", request_id)]
    if protocol == "query":
        namespace = model.metadata.get("xmlNamespace", "") if model is not None else ""
        xmlns = f' xmlns="{escape(namespace)}"' if namespace else ""
        body = (
            f"<ErrorResponse{xmlns}><Error><Type>{'Sender' if sender else 'Receiver'}</Type>"
            f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        headers.append(("Content-Type", "text/xml"))
    elif protocol == "rest-xml":
        body = s3_error_xml(code, message, request_id).decode()
        headers += [("Content-Type", "application/xml"), ("x-amz-request-id", request_id)]
    elif protocol == "rest-json":
        body = json.dumps({"Type": "User" if sender else "Service", "message": message})
        headers += [("Content-Type", "application/json"), ("x-amzn-ErrorType", code)]
    else:
        version = model.metadata.get("jsonVersion", "1.0") if model is not None else "1.0"
        body = json.dumps({"__type": code, "message": message})
        headers += [("Content-Type", f"application/x-amz-json-{version}"), ("x-amzn-ErrorType", code)]
        if model is not None and "awsQueryCompatible" in model.metadata:
            # SQS: botocore takes the code from this header (and the query-era code from it).
            headers.append(("x-amzn-query-error", f"{code};{'Sender' if sender else 'Receiver'}"))
    data = b"" if method == "HEAD" else body.encode()
    headers.append(("Content-Length", str(len(data))))
    from http import HTTPStatus

    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return f"{status} {phrase}", headers, data


_HTML_PAGE = re.compile(rb"\s*<(!doctype html|html)", re.IGNORECASE)


def _may_be_html_error(headers: list[tuple[str, str]], status: int) -> bool:
    content_type = next((v for k, v in headers if k.lower() == "content-type"), "")
    return status >= 400 and content_type.startswith("text/html")


def _html_message(body: bytes) -> str:
    match = re.search(rb"<p>(.*?)</p>", body, re.S)
    return match.group(1).decode("utf-8", "replace").strip() if match else ""


class AwsErrorMiddleware:
    """WSGI middleware around moto's server app: no HTML error page, no exception, ever reaches a client."""

    def __init__(self, app: WsgiApp, errors: ErrorLog | None = None) -> None:
        self.app = app
        self.errors = errors if errors is not None else ErrorLog()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if str(environ.get("PATH_INFO", "")).startswith("/moto-api"):
            return self._moto_api(environ, start_response)
        if str(environ.get("PATH_INFO", "")).startswith(custom_resources.RESPONSE_PATH):
            return custom_resources.respond(environ, start_response)  # a custom resource's ResponseURL
        if str(environ.get("PATH_INFO", "")).startswith(oidc.PREFIX + "/"):
            return oidc.wsgi(environ, start_response)  # the development OIDC issuer (oidc.py)
        request = _Request.read(environ)
        injected = self._injected_fault(request, start_response)
        if injected is not None:
            return injected
        try:
            refused = self._refused(request, start_response)
        except Exception as exc:  # noqa: BLE001 - a fault while authorizing is an AWS-shaped InternalFailure
            return self._exception(request, exc, start_response)
        if refused is not None:
            return refused
        if request.signing_name in ("", "s3") and request.method in ("POST", "OPTIONS"):
            # S3's browser requests: CORS preflights and form (presigned POST) uploads, the latter whatever
            # headers they carry (an Authorization header does not skip the form's policy)
            try:
                answered = s3_post.browser_request(environ, start_response, self.app)
            except Exception as exc:  # noqa: BLE001 - a fault is an AWS-shaped InternalError
                return self._exception(request, exc, start_response)
            if answered is not None:
                return answered
        if request.signing_name == "s3" and self._s3_unimplemented(environ):
            model = request.model()
            action, _ = request.action(model)
            message = f"The embedded AWS does not implement s3:{action} yet."
            log.warning("%s", message)
            return self._answer(request, model, action, 501, "NotImplemented", message, start_response)
        captured: list[Any] = []
        written: list[bytes] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured[:] = [status, headers, exc_info]
            return written.append

        try:
            body = self.app(environ, capture)
        except Exception as exc:  # noqa: BLE001 - any exception becomes an AWS-shaped answer, logged below
            return self._exception(request, exc, start_response)
        status_line, headers, exc_info = captured
        status = int(status_line.split(" ", 1)[0])
        if _may_be_html_error(headers, status):
            # Flask labels every response text/html unless told otherwise (moto's empty 404 for HeadBucket
            # too): only werkzeug's own error pages are reshaped.
            content = b"".join([*written, *body])
            if hasattr(body, "close"):
                body.close()
            if _HTML_PAGE.match(content):
                return self._html(request, status, content, start_response)
            written, body = [], [content]
        if status >= 500:
            self._record_passthrough(request, status, headers)
        hidden = self._missing_key_refusal(request) if status == 404 else None
        if hidden is not None:
            if hasattr(body, "close"):
                body.close()
            model = request.model()
            return self._answer(request, model, "GetObject", 403, "AccessDenied", hidden, start_response)
        if request.signing_name in ("s3", ""):
            headers = s3_cors.with_cors(environ, headers)  # S3's CORS rules, not moto's
        start_response(status_line, headers, exc_info)
        return [*written, *body] if written else body

    @staticmethod
    def _missing_key_refusal(request: _Request) -> str | None:
        """S3's AccessDenied sentence when it answers this caller's 404 for a missing key as 403, else None.
        As S3 documents: without s3:ListBucket a missing key is 403, so a caller cannot learn which exist."""
        principal, authority = request.principal, iam.current()
        if principal is None or authority is None or principal.admin or request.signing_name != "s3":
            return None
        if request.method not in ("GET", "HEAD"):
            return None
        bucket, _, key = str(request.environ.get("PATH_INFO", "/")).lstrip("/").partition("/")
        if not key:
            return None
        try:
            authority.require(principal, [actions.Check("s3:ListBucket", f"arn:aws:s3:::{unquote(bucket)}")])
        except iam.AccessDeniedError as denied:
            return str(denied)
        return None

    @staticmethod
    def _s3_unimplemented(environ: dict[str, Any]) -> bool:
        query = str(environ.get("QUERY_STRING", ""))
        return bool(query) and any(
            part.split("=", 1)[0] in S3_UNIMPLEMENTED_SUBRESOURCES for part in query.split("&")
        )

    def _injected_fault(self, request: _Request, start_response: StartResponse) -> list[bytes] | None:
        """The service's own error for a function's request that fault injection hits (`faults`), or None."""
        active = faults.current()
        user_agent = str(request.environ.get("HTTP_USER_AGENT", ""))
        hit = active.aws_error(request.signing_name, user_agent) if active and request.signing_name else None
        if active is None or hit is None:
            return None
        status, code, message = hit
        model = request.model()
        action, _ = request.action(model)
        active.record("aws-errors", f"{request.signing_name}:{action or '?'}", f"{status} {code}")
        environ = request.environ
        length = environ.get("CONTENT_LENGTH")
        if request.body is None and (length or environ.get("wsgi.input_terminated")):  # read, unused
            environ["wsgi.input"].read(int(length)) if length else environ["wsgi.input"].read()
        return self._answer(request, model, action, status, code, message, start_response)

    def _refused(self, request: _Request, start_response: StartResponse) -> list[bytes] | None:
        """The service's AccessDenied when IAM refuses the request (`iam`), or None."""
        iam.set_requester(None)
        naming = iam.identities()
        if naming is None or not request.signing_name:
            return None
        principal = request.principal = naming.principal(request.access_key)
        iam.set_requester(principal)  # S3 events name the uploader even when IAM is off
        authority = iam.current()
        if authority is None:
            return None
        if principal.admin and request.signing_name not in _ADMIN_CHECKED:
            return None  # the root: only a resource-based policy's explicit deny refuses it
        call = _call(request, authority.account)
        found = actions.checks(call)
        if not found:
            return None
        if request.signing_name == "sns":
            found += authority.key_checks(found)
        extra = {"aws:SourceIp": str(request.environ.get("REMOTE_ADDR", "127.0.0.1"))}
        if str(request.environ.get("HTTP_X_FORWARDED_PROTO", "")).lower() == "http":
            extra["aws:SecureTransport"] = "false"
        try:
            authority.require(principal, found, extra)
        except iam.AccessDeniedError as denied:
            model = request.model()
            status, code = _denial_shape(request.signing_name)
            if request.signing_name == "sns" and denied.action.startswith("kms:"):
                status, code = 400, "KMSAccessDenied"  # SNS's answer when the topic's key refuses the caller
            log.info("IAM refused %s: %s", call.operation or denied.action, denied)
            return self._answer(request, model, call.operation, status, code, str(denied), start_response)
        return None

    # --- the answers ---------------------------------------------------------------------------------
    def _exception(self, request: _Request, exc: Exception, start_response: StartResponse) -> list[bytes]:
        model = request.model()
        action, known = request.action(model)
        name = f"{request.signing_name or 'aws'}:{action or '?'}"
        if model is not None and not known and isinstance(exc, (NotImplementedError, OperationNotFoundError)):
            return self._unknown(request, model, action, start_response)
        if isinstance(exc, NotImplementedError):
            detail = str(exc)
            generic = not detail or _MOTO_UNIMPLEMENTED.match(detail) is not None
            message = f"The embedded AWS does not implement {name} yet."
            if not generic:
                message = f"The embedded AWS does not implement this part of {name} yet: {detail}"
            log.warning("%s", message)
            return self._answer(request, model, action, 501, "NotImplemented", message, start_response)
        log.error("The embedded AWS failed on %s", name, exc_info=exc)
        code = "InternalError" if request.protocol(model) == "rest-xml" else "InternalFailure"
        message = f"The embedded AWS failed on {name}: {type(exc).__name__}: {exc}"
        return self._answer(request, model, action, 500, code, message, start_response, internal=True)

    def _html(
        self, request: _Request, status: int, content: bytes, start_response: StartResponse
    ) -> list[bytes]:
        model = request.model()
        action, known = request.action(model)
        if status == 404 and known:
            message = f"The embedded AWS does not implement {request.signing_name}:{action} yet."
            log.warning("%s", message)
            return self._answer(request, model, action, 501, "NotImplemented", message, start_response)
        if status in (404, 405) and not known:
            return self._unknown(request, model, action, start_response)
        from http import HTTPStatus

        try:
            code = HTTPStatus(status).phrase.replace(" ", "").replace("-", "")
        except ValueError:
            code = "InternalFailure" if status >= 500 else "BadRequest"
        message = _html_message(content) or code
        internal = status >= 500
        if internal:
            log.error(
                "moto answered %s:%s with an HTML %d: %s", request.signing_name, action, status, message
            )
        return self._answer(request, model, action, status, code, message, start_response, internal=internal)

    def _unknown(
        self, request: _Request, model: Any, action: str, start_response: StartResponse
    ) -> list[bytes]:
        protocol = request.protocol(model)
        service = request.signing_name or "this service"
        if protocol == "query":
            status, code = 400, "InvalidAction"
            message = f"The action {action or '(none)'} is not valid for this web service."
        else:
            status, code = (404 if protocol.startswith("rest") else 400), "UnknownOperationException"
            what = action or f"{request.method} {request.environ.get('PATH_INFO', '')}"
            message = f"{service} has no operation {what}."
        return self._answer(request, model, action, status, code, message, start_response)

    def _answer(
        self,
        request: _Request,
        model: Any,
        action: str,
        status: int,
        code: str,
        message: str,
        start_response: StartResponse,
        *,
        internal: bool = False,
    ) -> list[bytes]:
        status_line, headers, body = error_response(
            request.protocol(model), model, status, code, message, request.method
        )
        if status >= 500:
            self.errors.record(ServerError(request.signing_name, action, status, code, message, internal))
        start_response(status_line, headers)
        return [body]

    def _record_passthrough(self, request: _Request, status: int, headers: list[tuple[str, str]]) -> None:
        model = request.model()
        action, _ = request.action(model)
        code = next((v for k, v in headers if k.lower() == "x-amzn-errortype"), "")
        self.errors.record(ServerError(request.signing_name, action, status, code, "", internal=False))

    def _moto_api(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            return self.app(environ, start_response)
        except Exception as exc:
            log.error("moto's management API failed on %s", environ.get("PATH_INFO"), exc_info=exc)
            body = json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode()
            start_response(
                "500 Internal Server Error",
                [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
            )
            return [body]


class CachedDispatcher(DomainDispatcherApplication):  # type: ignore[misc]
    """moto's dispatcher, resolving each host to its backend once instead of on every request.

    moto lists its own package directory (about 200 `isdir` calls) and then tries its URL patterns one by one
    for every request, all under one lock: under load that was the largest single cost of the server and
    serialised every request. The backend of a host never changes, so it is looked up once; the lock is only
    taken to create a backend's app.
    """

    #: Hosts remembered; only unsigned requests can name arbitrary ones, and those fall back to moto.
    MAX_HOSTS = 4096

    def __init__(self, create_app: Callable[[Any], Any]) -> None:
        super().__init__(create_app)
        self._backends: dict[str | None, Any] = {}

    def get_backend_for_host(self, host: str | None) -> Any:
        try:
            return self._backends[host]
        except KeyError:
            backend = super().get_backend_for_host(host)
            if len(self._backends) < self.MAX_HOSTS:
                self._backends[host] = backend
            return backend

    def get_application(self, environ: dict[str, Any]) -> Any:
        # moto's own routing (moto_server/werkzeug_app.py `get_application`), without its lock around lookups.
        path_info = environ.get("PATH_INFO", "")
        if isinstance(path_info, bytes):
            path_info = path_info.decode("utf-8")
        if path_info.startswith("/moto-api") or path_info == "/favicon.ico":
            host: str | None = "moto_api"
        elif path_info.startswith(("/latest/meta-data/", "/latest/api/")):
            host = "instance_metadata"
        else:
            host = None
        backend = self.get_backend_for_host(host)
        if not backend:
            host = self.infer_service_region_host(environ, path_info)
            if host is None:
                service, region = DEFAULT_SERVICE_REGION
                host = f"{service}.{region}.amazonaws.com"
            backend = self.get_backend_for_host(host)
        app = self.app_instances.get(backend)
        if app is None:
            with self.lock:
                app = self.app_instances.get(backend)
                if app is None:
                    app = self.app_instances[backend] = self.create_app(backend)
        return app


_error_tables: dict[str, Any] = {}


def _error_lookup_for_service(self: Any, service_model: Any) -> Any:
    """moto's `ErrorLookupFactory.for_service` with one table per service for the process: moto makes a new
    factory (so an empty cache) for every error it answers, and rebuilt the service's whole table of error
    shapes each time (a twentieth of the server's CPU under load, from S3's NoSuchKey alone)."""
    from moto.core.errors import ErrorLookupFactory

    service_id = service_model.metadata.get("serviceId")
    table = _error_tables.get(service_id) if service_id is not None else None
    if table is None:
        table = ErrorLookupFactory._create_error_lut(service_model)
        if service_id is not None:
            _error_tables[service_id] = table
    return table


def cache_error_tables() -> None:
    """Install `_error_lookup_for_service`. Idempotent."""
    from moto.core.errors import ErrorLookupFactory

    ErrorLookupFactory.for_service = _error_lookup_for_service


class AwsServer(ThreadedMotoServer):  # type: ignore[misc]
    """moto's threaded server with `AwsErrorMiddleware` in front."""

    def __init__(self, ip_address: str, port: int, errors: ErrorLog) -> None:
        super().__init__(ip_address=ip_address, port=port, verbose=False)
        self.errors = errors

    def _server_entry(self) -> None:
        from moto.moto_server.werkzeug_app import MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        cache_error_tables()
        app = AwsErrorMiddleware(CachedDispatcher(create_backend_app), self.errors)
        self._server = make_server(
            self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()
