"""The embedded AWS's HTTP front answers every refusal and every failure as AWS does, never with HTML.

These drive `AwsErrorMiddleware` with stand-in WSGI apps (no network): what moto's app does on an action it
lacks (raises NotImplementedError, or Flask's HTML 404), on a bug (raises), and on success.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Iterable
from typing import Any
from xml.etree import ElementTree

import pytest
from werkzeug.test import EnvironBuilder

from embedded_aws.server import S3_UNIMPLEMENTED_SUBRESOURCES, AwsErrorMiddleware, ErrorLog

HTML_404 = (
    b"<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n"
    b"<p>The requested URL was not found on the server.</p>\n"
)


def _auth(service: str) -> list[tuple[str, str]]:
    credential = f"Credential=testing/20250101/us-east-1/{service}/aws4_request"
    return [("Authorization", f"AWS4-HMAC-SHA256 {credential}, SignedHeaders=host, Signature=0")]


def _json_request(service: str, target: str, version: str = "1.0") -> dict[str, Any]:
    return EnvironBuilder(
        method="POST",
        path="/",
        data=b"{}",
        headers=[
            *_auth(service),
            ("X-Amz-Target", target),
            ("Content-Type", f"application/x-amz-json-{version}"),
        ],
    ).get_environ()


def _query_request(service: str, action: str) -> dict[str, Any]:
    return EnvironBuilder(
        method="POST",
        path="/",
        data=f"Action={action}&Version=2010-03-31",
        headers=[*_auth(service), ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")],
    ).get_environ()


class Raising:
    """A WSGI app that raises, as moto's Flask app does in debug mode."""

    def __init__(self, exc: Exception) -> None:
        self.exc = exc
        self.bodies: list[bytes] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        self.bodies.append(environ["wsgi.input"].read())
        raise self.exc


class Answering:
    """A WSGI app that answers a fixed response."""

    def __init__(self, status: str, content_type: str, body: bytes) -> None:
        self.status, self.content_type, self.body = status, content_type, body

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response(
            self.status, [("Content-Type", self.content_type), ("Content-Length", str(len(self.body)))]
        )
        return [self.body]


def call(
    app: Any, environ: dict[str, Any], errors: ErrorLog | None = None
) -> tuple[int, dict[str, str], bytes]:
    answered: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        answered["status"], answered["headers"] = status, dict(headers)
        return lambda data: None

    body = b"".join(AwsErrorMiddleware(app, errors)(environ, start_response))
    return int(answered["status"].split()[0]), answered["headers"], body


def test_an_action_moto_lacks_answers_501_not_implemented_naming_service_and_action() -> None:
    # Given moto's app raising as it does for an SQS action it has no method for
    errors = ErrorLog()
    app = Raising(NotImplementedError("The list_message_move_tasks action has not been implemented"))

    # When the SDK calls it (JSON protocol)
    status, headers, body = call(app, _json_request("sqs", "AmazonSQS.ListMessageMoveTasks"), errors)

    # Then the answer is AWS's JSON error shape, 501 (not retried by SDKs), naming sqs:ListMessageMoveTasks
    assert status == 501
    assert headers["x-amzn-ErrorType"] == "NotImplemented"
    assert headers["x-amzn-query-error"] == "NotImplemented;Receiver"  # SQS is awsQueryCompatible
    assert headers["Content-Type"] == "application/x-amz-json-1.0"
    assert json.loads(body) == {
        "__type": "NotImplemented",
        "message": "The embedded AWS does not implement sqs:ListMessageMoveTasks yet.",
    }
    # And the answer is recorded as a refusal, not as a bug
    (recorded,) = errors.since(0)
    assert (recorded.name, recorded.status, recorded.internal) == ("sqs:ListMessageMoveTasks", 501, False)
    assert errors.unexpected_failures() == []


def test_a_partial_feature_names_what_moto_said_is_missing() -> None:
    # Given moto raising NotImplementedError for one part of an action it has
    app = Raising(NotImplementedError("FilterPolicyScope MessageAttributes is not supported"))

    # When it is called
    status, _, body = call(app, _json_request("states", "AWSStepFunctions.StartExecution"))

    # Then the message names the action and moto's reason
    assert status == 501
    assert json.loads(body)["message"] == (
        "The embedded AWS does not implement this part of states:StartExecution yet: "
        "FilterPolicyScope MessageAttributes is not supported"
    )


def test_a_bug_answers_500_internal_failure_with_its_message_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given an exception inside moto or inside a patch
    errors = ErrorLog()
    app = Raising(KeyError("Entries"))

    # When EventBridge PutEvents hits it
    with caplog.at_level(logging.ERROR, logger="embedded_aws.server"):
        status, headers, body = call(app, _json_request("events", "AWSEvents.PutEvents", "1.1"), errors)

    # Then the client gets an AWS-shaped 500 carrying the exception's message
    assert status == 500
    assert headers["x-amzn-ErrorType"] == "InternalFailure"
    assert headers["Content-Type"] == "application/x-amz-json-1.1"
    assert json.loads(body)["message"] == "The embedded AWS failed on events:PutEvents: KeyError: 'Entries'"
    # And the traceback is logged, not swallowed
    (record,) = [r for r in caplog.records if r.name == "embedded_aws.server"]
    assert record.exc_info is not None and record.exc_info[0] is KeyError
    # And the guard sees an unexpected internal failure
    assert [e.name for e in errors.unexpected_failures()] == ["events:PutEvents"]


def test_a_failure_inside_expect_is_not_unexpected() -> None:
    # Given a test that provokes a failure on purpose
    errors = ErrorLog()

    # When the failure happens inside expect()
    with errors.expect():
        call(Raising(RuntimeError("boom")), _json_request("sqs", "AmazonSQS.SendMessage"), errors)

    # Then it is recorded but not counted as unexpected
    assert len(errors) == 1
    assert errors.unexpected_failures() == []


def test_query_protocol_errors_are_error_responses_and_the_body_reaches_moto() -> None:
    # Given an SNS (query protocol) action moto lacks
    app = Raising(NotImplementedError("The get_sms_sandbox_account_status action has not been implemented"))

    # When it is called
    status, headers, body = call(app, _query_request("sns", "GetSMSSandboxAccountStatus"))

    # Then moto still read the form body, and the answer is <ErrorResponse> with Type/Code/Message/RequestId
    assert app.bodies == [b"Action=GetSMSSandboxAccountStatus&Version=2010-03-31"]
    assert status == 501
    assert headers["Content-Type"] == "text/xml"
    ns = {"sns": "http://sns.amazonaws.com/doc/2010-03-31/"}
    root = ElementTree.fromstring(body)
    assert root.tag == "{http://sns.amazonaws.com/doc/2010-03-31/}ErrorResponse"
    assert root.findtext("sns:Error/sns:Type", namespaces=ns) == "Receiver"
    assert root.findtext("sns:Error/sns:Code", namespaces=ns) == "NotImplemented"
    assert root.findtext("sns:Error/sns:Message", namespaces=ns) == (
        "The embedded AWS does not implement sns:GetSMSSandboxAccountStatus yet."
    )
    assert root.findtext("sns:RequestId", namespaces=ns)


def test_an_action_the_service_does_not_have_is_invalid_action_or_unknown_operation() -> None:
    # Given calls naming actions no AWS service has (moto fails looking them up)
    from botocore.model import OperationNotFoundError

    app = Raising(OperationNotFoundError("Bogus"))

    # When they are sent over the query and the JSON protocols
    q_status, _, q_body = call(app, _query_request("sns", "Bogus"))
    j_status, j_headers, j_body = call(app, _json_request("sqs", "AmazonSQS.Bogus"))

    # Then AWS's codes for an unknown action come back, as 400s
    assert q_status == 400 and b"<Code>InvalidAction</Code>" in q_body
    assert b"The action Bogus is not valid for this web service." in q_body
    assert j_status == 400 and j_headers["x-amzn-ErrorType"] == "UnknownOperationException"
    assert json.loads(j_body)["__type"] == "UnknownOperationException"


def test_flask_html_404_on_a_lambda_route_moto_lacks_becomes_rest_json_not_implemented() -> None:
    # Given moto's Lambda app answering Flask's HTML 404 for GetAccountSettings
    app = Answering("404 NOT FOUND", "text/html; charset=utf-8", HTML_404)
    environ = EnvironBuilder(
        method="GET", path="/2016-08-19/account-settings", headers=_auth("lambda")
    ).get_environ()

    # When it is called
    status, headers, body = call(app, environ)

    # Then Lambda's REST-JSON error shape comes back, naming the action
    assert status == 501
    assert headers["x-amzn-ErrorType"] == "NotImplemented"
    assert json.loads(body) == {
        "Type": "Service",
        "message": "The embedded AWS does not implement lambda:GetAccountSettings yet.",
    }


def test_an_html_404_on_a_path_lambda_does_not_have_is_unknown_operation() -> None:
    # Given a path no Lambda operation has
    app = Answering("404 NOT FOUND", "text/html; charset=utf-8", HTML_404)
    environ = EnvironBuilder(
        method="GET", path="/2015-03-31/no-such-thing", headers=_auth("lambda")
    ).get_environ()

    # When it is called
    status, headers, body = call(app, environ)

    # Then it is an unknown operation, 404, with no HTML anywhere
    assert status == 404
    assert headers["x-amzn-ErrorType"] == "UnknownOperationException"
    assert b"<" not in body


@pytest.mark.parametrize("query", ["analytics&id=a", "requestPayment", "metrics&id=m", "intelligent-tiering"])
def test_s3_subresources_moto_mishandles_are_refused_as_s3_does(query: str) -> None:
    # Given moto's S3 answering 200 to everything (it would re-create the bucket or list objects)
    app = Answering("200 OK", "application/xml", b"<ok/>")
    environ = EnvironBuilder(
        method="PUT", path="/bucket", query_string=query, headers=_auth("s3")
    ).get_environ()

    # When a bucket subresource moto does not handle is requested
    status, headers, body = call(app, environ)

    # Then S3's <Error> shape with NotImplemented comes back, without reaching moto
    root = ElementTree.fromstring(body)
    assert status == 501 and headers["Content-Type"] == "application/xml"
    assert root.tag == "Error" and root.findtext("Code") == "NotImplemented"
    assert (root.findtext("Message") or "").startswith("The embedded AWS does not implement s3:")
    assert root.findtext("RequestId") == headers["x-amz-request-id"]


def test_refused_s3_subresources_are_ones_moto_does_not_handle() -> None:
    # Given moto's S3 request handling (guards the list against a moto upgrade that adds them)
    import moto.s3.responses

    source = inspect.getsource(moto.s3.responses)

    # Then none of the refused subresources is looked for in it
    handled = [
        name for name in S3_UNIMPLEMENTED_SUBRESOURCES if f'"{name}"' in source or f"'{name}'" in source
    ]
    assert handled == []


def test_a_head_request_error_has_no_body() -> None:
    # Given a HEAD request that fails inside moto
    environ = EnvironBuilder(method="HEAD", path="/bucket/key", headers=_auth("s3")).get_environ()

    # When it is answered
    status, headers, body = call(Raising(RuntimeError("boom")), environ)

    # Then the status says it (S3's InternalError) and there is no body, as HTTP requires
    assert status == 500 and body == b"" and headers["Content-Length"] == "0"


def test_successful_answers_pass_through_untouched_even_html_objects() -> None:
    # Given an S3 object that is an HTML page
    page = b"<!doctype html><title>gallery</title>"
    app = Answering("200 OK", "text/html", page)
    environ = EnvironBuilder(method="GET", path="/public/index.html", headers=_auth("s3")).get_environ()

    # When it is fetched
    status, headers, body = call(app, environ)

    # Then it arrives as stored
    assert (status, headers["Content-Type"], body) == (200, "text/html", page)


def test_moto_management_api_is_not_reshaped() -> None:
    # Given moto's dashboard (HTML by design)
    app = Answering("200 OK", "text/html", b"<!doctype html>dashboard")
    environ = EnvironBuilder(method="GET", path="/moto-api/").get_environ()

    # When it is fetched, Then it is passed through
    assert call(app, environ)[2] == b"<!doctype html>dashboard"


def test_a_presigned_s3_request_is_answered_in_s3s_shape() -> None:
    # Given a presigned GET (the credential scope is in the query string, not in a header)
    query = (
        "requestPayment&X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=testing%2F20250101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=0"
    )
    environ = EnvironBuilder(method="GET", path="/bucket", query_string=query).get_environ()

    # When it asks for a subresource the embedded AWS does not implement
    status, headers, body = call(Answering("200 OK", "application/xml", b"<ok/>"), environ)

    # Then S3's <Error> shape comes back
    assert status == 501 and headers["Content-Type"] == "application/xml"
    assert ElementTree.fromstring(body).findtext("Message") == (
        "The embedded AWS does not implement s3:GetBucketRequestPayment yet."
    )


def test_an_aws_shaped_error_flask_labels_text_html_passes_through() -> None:
    # Given moto's own answer to HeadBucket on a missing bucket: 404, empty, labelled text/html by Flask
    environ = EnvironBuilder(method="HEAD", path="/missing", headers=_auth("s3")).get_environ()
    errors = ErrorLog()

    # When it is answered
    status, _, body = call(Answering("404 NOT FOUND", "text/html; charset=utf-8", b""), environ, errors)

    # Then it is left as moto answered it (the SDK reads the 404 as NotFound)
    assert (status, body) == (404, b"")
    assert len(errors) == 0
