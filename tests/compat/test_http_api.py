"""API Gateway HTTP APIs as AWS documents them: routes, Lambda proxy payloads, JWT authorizers, CORS.

Each template is deployed once for the module (a deploy costs more than all its requests).
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from embedded_aws import apigateway, cfn_models
from embedded_aws.errors import UnsupportedResourceError
from embedded_aws.oidc import mint_token
from embedded_aws.stack import DeployedStack, EmbeddedAws, poll_until
from embedded_aws.template import plan_deploy
from tests.compat.conftest import COMPAT, DEPLOY_SECONDS
from tests.http import call

ALLOWED_ORIGIN = "https://d111111abcdef8.cloudfront.net"


@contextlib.contextmanager
def _deployed(
    aws: EmbeddedAws, name: str, parameters: dict[str, str] | None = None
) -> Iterator[DeployedStack]:
    """The compat template `name` deployed for the module, deleted after it."""
    stack = aws.deploy(COMPAT / name / "template.yaml", f"m-{name.replace('_', '-')}", parameters)
    DEPLOY_SECONDS[name].append(stack.seconds)
    try:
        yield stack
    finally:
        aws.delete(stack.name)


@pytest.fixture(scope="module")
def lambda_api(aws: EmbeddedAws) -> Iterator[str]:
    """The implicit ServerlessHttpApi's local URL (no final `/`)."""
    with _deployed(aws, "http_api_lambda") as stack:
        yield stack.outputs["HttpApiUrl"]


@pytest.fixture(scope="module")
def jwt_stack(aws: EmbeddedAws) -> Iterator[DeployedStack]:
    """The JWT-protected HttpApi, trusting the development issuer."""
    with _deployed(aws, "http_api_jwt", {"IssuerUrl": aws.oidc_issuer}) as stack:
        yield stack


@pytest.fixture(scope="module")
def jwt_api(jwt_stack: DeployedStack) -> str:
    """The JWT-protected HttpApi's local URL (no final `/`)."""
    return jwt_stack.outputs["ApiUrl"].rstrip("/")


@pytest.fixture(scope="module")
def lambda_authorizer_api(aws: EmbeddedAws) -> Iterator[DeployedStack]:
    with _deployed(aws, "http_api_lambda_authorizer") as stack:
        yield stack


@pytest.fixture(scope="module")
def cfn_api(aws: EmbeddedAws) -> Iterator[DeployedStack]:
    with _deployed(aws, "http_api_cfn") as stack:
        yield stack


# --- Lambda proxy integrations, payload format 2.0 ----------------------------------------------------------
def test_a_get_with_a_path_parameter_and_a_query_string_reaches_the_function_as_a_payload_2_0_event(
    aws: EmbeddedAws, lambda_api: str
) -> None:
    # Given the implicit HTTP API's `GET /items/{id}` route to a function that answers the event it saw
    # When it is called with a repeated query parameter, a header and cookies
    answer = call(
        f"{lambda_api}/items/42?tag=a&tag=b&q=x%20y",
        headers={"X-Custom": "one", "Cookie": "session=s1; theme=dark", "User-Agent": "tests/1"},
    )

    # Then the function saw the payload 2.0 event API Gateway builds
    assert answer.status == 200
    event = answer.json()
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /items/{id}"
    assert event["rawPath"] == "/items/42"
    assert event["rawQueryString"] == "tag=a&tag=b&q=x%20y"
    assert event["queryStringParameters"] == {"tag": "a,b", "q": "x y"}
    assert event["pathParameters"] == {"id": "42"}
    assert event["cookies"] == ["session=s1", "theme=dark"]
    assert event["headers"]["x-custom"] == "one"
    assert "cookie" not in event["headers"]
    assert event["isBase64Encoded"] is False
    assert "body" not in event
    context = event["requestContext"]
    api_id = context["apiId"]
    assert len(api_id) == 10 and api_id.isalnum() and api_id.islower()
    assert context["domainName"] == f"{api_id}.execute-api.{aws.region}.amazonaws.com"
    assert context["domainPrefix"] == api_id
    assert context["stage"] == "$default"
    assert context["routeKey"] == "GET /items/{id}"
    assert context["accountId"] == "123456789012"
    assert context["http"] == {
        "method": "GET",
        "path": "/items/42",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "tests/1",
    }
    assert context["requestId"] == answer.headers["apigw-requestid"]
    assert isinstance(context["timeEpoch"], int) and context["time"].endswith("+0000")
    # And the function's own headers and cookies came back, with the headers API Gateway adds
    assert answer.headers["x-handler"] == "echo"
    assert answer.headers["set-cookie"] == "seen=1; Path=/"
    assert answer.headers["content-length"] == str(len(answer.body))
    assert "date" in answer.headers


def test_a_post_with_a_json_body_reaches_the_function_as_text_and_a_binary_body_as_base64(
    lambda_api: str,
) -> None:
    # Given the `POST /items/{id}` route
    document = {"title": "A title", "tags": ["x"]}

    # When a JSON body and then a binary body are posted
    as_json = call(
        f"{lambda_api}/items/abc",
        "POST",
        json.dumps(document).encode(),
        {"Content-Type": "application/json"},
    )
    as_binary = call(f"{lambda_api}/items/abc", "POST", b"\x89PNG\r\n\x00\xff", {"Content-Type": "image/png"})

    # Then the JSON arrives as text, the binary body base64-encoded
    event = as_json.json()
    assert event["routeKey"] == "POST /items/{id}"
    assert event["requestContext"]["http"]["method"] == "POST"
    assert json.loads(event["body"]) == document
    assert event["isBase64Encoded"] is False
    binary = as_binary.json()
    assert binary["isBase64Encoded"] is True
    assert base64.b64decode(binary["body"]) == b"\x89PNG\r\n\x00\xff"


def test_a_greedy_proxy_route_takes_the_rest_of_the_path_for_any_method(lambda_api: str) -> None:
    # Given `ANY /files/{proxy+}`
    # When a DELETE names a nested path
    answer = call(f"{lambda_api}/files/a/b/c.txt", "DELETE")

    # Then the route's greedy parameter holds the rest of the path
    event = answer.json()
    assert event["routeKey"] == "ANY /files/{proxy+}"
    assert event["pathParameters"] == {"proxy": "a/b/c.txt"}
    assert event["requestContext"]["http"]["method"] == "DELETE"


def test_a_route_with_payload_format_1_0_gets_the_rest_api_shaped_event(lambda_api: str) -> None:
    # Given `GET /legacy/{id}` with PayloadFormatVersion 1.0
    # When it is called with a repeated query parameter
    answer = call(f"{lambda_api}/legacy/7?a=1&a=2")

    # Then the function saw the 1.0 event (last values, and every value in the multi-value maps)
    event = answer.json()
    assert event["version"] == "1.0"
    assert event["resource"] == "/legacy/{id}"
    assert event["path"] == "/legacy/7"
    assert event["httpMethod"] == "GET"
    assert event["queryStringParameters"] == {"a": "2"}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"]}
    assert event["pathParameters"] == {"id": "7"}
    assert event["requestContext"]["resourcePath"] == "/legacy/{id}"
    assert event["body"] is None


def test_a_function_that_returns_a_plain_dict_answers_200_with_that_json(lambda_api: str) -> None:
    # Given a function that returns `{"hello": "world", ...}` without statusCode
    # When its route is called
    answer = call(f"{lambda_api}/plain")

    # Then payload format 2.0 makes it a 200 JSON answer
    assert answer.status == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {"hello": "world", "items": [1, 2]}


def test_a_function_error_answers_500_internal_server_error(lambda_api: str) -> None:
    # Given a function that raises
    # When its route is called
    answer = call(f"{lambda_api}/boom")

    # Then API Gateway answers its own 500
    assert answer.status == 500
    assert answer.json() == {"message": "Internal Server Error"}
    assert answer.headers["apigw-requestid"]


def test_a_path_no_route_matches_answers_404_not_found(lambda_api: str) -> None:
    # Given routes under /items/{id}, /files/{proxy+}, ...
    # When a path none matches is called, or a method the route does not take, or a parameter left empty
    answers = [
        call(f"{lambda_api}/nothing"),
        call(f"{lambda_api}/items/42", "DELETE"),
        call(f"{lambda_api}/items/"),
    ]

    # Then each is API Gateway's 404
    assert [(a.status, a.json()) for a in answers] == [(404, {"message": "Not Found"})] * 3


def test_a_function_slower_than_the_integration_timeout_answers_503(lambda_api: str) -> None:
    # Given a route with TimeoutInMillis 1000 to a function that takes 2.5 s (`?fast=1`: at once), warmed
    # first: a fast call through the same integration answers 200 within the timeout (retried until the
    # function is warm and a worker free, so a cold start or a wait for a slot cannot be the 503 below)
    warm = poll_until(lambda: call(f"{lambda_api}/slow?fast=1").status == 200, timeout_s=120, interval_s=0.2)
    assert warm, "the function never answered a fast call within the 1 s integration timeout"

    # When the slow call is made
    started = time.monotonic()
    answer = call(f"{lambda_api}/slow")
    elapsed = time.monotonic() - started

    # Then API Gateway gives up at the integration timeout, not before it and without waiting for the function
    assert answer.status == 503, answer.body
    assert answer.json() == {"message": "Service Unavailable"}
    assert 1.0 <= elapsed < 2.5, elapsed


def test_the_api_is_listed_by_the_apigatewayv2_api(aws: EmbeddedAws, lambda_api: str) -> None:
    # Given the implicit HTTP API
    api_id = call(f"{lambda_api}/items/1").json()["requestContext"]["apiId"]

    # When the ApiGatewayV2 API lists APIs and the API's routes
    client = aws.client("apigatewayv2")
    listed = {api["ApiId"]: api for api in client.get_apis()["Items"]}
    routes = {route["RouteKey"] for route in client.get_routes(ApiId=api_id)["Items"]}

    # Then it is there with its AWS endpoint, and its routes are those of the functions' events
    assert listed[api_id]["ProtocolType"] == "HTTP"
    assert listed[api_id]["ApiEndpoint"] == f"https://{api_id}.execute-api.{aws.region}.amazonaws.com"
    assert routes == {
        "GET /items/{id}",
        "POST /items/{id}",
        "ANY /files/{proxy+}",
        "GET /legacy/{id}",
        "GET /boom",
        "GET /plain",
        "GET /slow",
    }


# --- JWT authorizers and the development OIDC issuer --------------------------------------------------------
def test_a_valid_token_lets_the_call_through_and_its_claims_reach_the_function(
    aws: EmbeddedAws, jwt_api: str
) -> None:
    # Given the API's default JWT authorizer trusting the development issuer for audience `pipeline`
    token = mint_token(aws.endpoint_url, "alice", scope="read write", claims={"groups": ["a", "b"], "n": 3})

    # When `GET /me` is called with the token, as `Bearer <token>` and bare
    answers = [
        call(f"{jwt_api}/me", headers={"Authorization": f"Bearer {token}"}),
        call(f"{jwt_api}/me", headers={"Authorization": token}),
    ]

    # Then the function saw the claims as text (lists as API Gateway writes them) and the token's scopes
    for answer in answers:
        assert answer.status == 200
        jwt = answer.json()["authorizer"]["jwt"]
        assert jwt["claims"]["sub"] == "alice"
        assert jwt["claims"]["iss"] == aws.oidc_issuer
        assert jwt["claims"]["aud"] == "pipeline"
        assert jwt["claims"]["groups"] == "[a b]"
        assert jwt["claims"]["n"] == "3"
        assert jwt["scopes"] == ["read", "write"]


@pytest.mark.parametrize(
    ("case", "why"),
    [
        ("missing", None),
        ("expired", "the token has expired"),
        ("wrong audience", "the token's audience is not allowed"),
        ("not a token", "the token is not a JWT"),
        ("forged", "signature is invalid"),
    ],
)
def test_a_missing_or_invalid_token_answers_401_unauthorized(
    aws: EmbeddedAws, jwt_api: str, case: str, why: str | None
) -> None:
    # Given a token that is missing, expired, for another audience, not a JWT, or signed by someone else
    valid = mint_token(aws.endpoint_url, "bob")
    tokens = {
        "missing": None,
        "expired": mint_token(aws.endpoint_url, "bob", expires_in=-60),
        "wrong audience": mint_token(aws.endpoint_url, "bob", audience="someone-else"),
        "not a token": "Bearer hello",
        "forged": valid.rsplit(".", 1)[0] + "." + base64.urlsafe_b64encode(b"x" * 256).decode().rstrip("="),
    }
    headers = {} if tokens[case] is None else {"Authorization": str(tokens[case])}

    # When the protected route is called with it
    answer = call(f"{jwt_api}/me", headers=headers)

    # Then API Gateway refuses it without calling the function, saying why in WWW-Authenticate
    assert answer.status == 401
    assert answer.json() == {"message": "Unauthorized"}
    if why is not None:
        assert why in answer.headers["www-authenticate"]


def test_a_token_not_yet_valid_answers_401_and_one_naming_the_audience_as_client_id_gets_through(
    aws: EmbeddedAws, jwt_api: str
) -> None:
    # Given a token valid only in ten minutes, and an access token with `client_id` instead of `aud` (as
    # Cognito's access tokens are) whose scopes are a `scp` list
    now = int(time.time())
    early = mint_token(aws.endpoint_url, "erin", claims={"nbf": now + 600})
    client = mint_token(
        aws.endpoint_url, "frank", claims={"aud": None, "client_id": "pipeline", "scp": ["a", "b"]}
    )

    # When each calls the protected route
    refused = call(f"{jwt_api}/me", headers={"Authorization": f"Bearer {early}"})
    admitted = call(f"{jwt_api}/me", headers={"Authorization": f"Bearer {client}"})

    # Then the early one is unauthorized; the client_id one gets through with its scopes
    assert refused.status == 401
    assert "nbf" in refused.headers["www-authenticate"]
    assert admitted.status == 200
    jwt = admitted.json()["authorizer"]["jwt"]
    assert "aud" not in jwt["claims"]
    assert (jwt["claims"]["client_id"], jwt["scopes"]) == ("pipeline", ["a", "b"])


def test_a_token_without_the_route_s_scope_answers_403_and_one_with_it_gets_through(
    aws: EmbeddedAws, jwt_api: str
) -> None:
    # Given `POST /admin`, which wants the scope `admin`
    reader = mint_token(aws.endpoint_url, "carol", scope="read")
    admin = mint_token(aws.endpoint_url, "dan", scope="read admin")

    # When it is called with each
    refused = call(f"{jwt_api}/admin", "POST", b"{}", {"Authorization": f"Bearer {reader}"})
    allowed = call(f"{jwt_api}/admin", "POST", b"{}", {"Authorization": f"Bearer {admin}"})

    # Then the token lacking the scope is forbidden, the other reaches the function
    assert (refused.status, refused.json()) == (403, {"message": "Forbidden"})
    assert allowed.status == 200
    assert allowed.json()["authorizer"]["jwt"]["claims"]["sub"] == "dan"


@pytest.mark.parametrize("claim", ["scope", "scp"])
def test_a_signed_token_whose_scopes_claim_is_not_text_or_a_list_answers_401(
    aws: EmbeddedAws, jwt_api: str, claim: str
) -> None:
    # Given a token the trusted issuer signed whose `scope` / `scp` claim is a number
    token = mint_token(aws.endpoint_url, "grace", claims={claim: 7})

    # When it calls the route without scopes and the route wanting the scope `admin`
    answers = [
        call(f"{jwt_api}/me", headers={"Authorization": f"Bearer {token}"}),
        call(f"{jwt_api}/admin", "POST", b"{}", {"Authorization": f"Bearer {token}"}),
    ]

    # Then API Gateway refuses the malformed claim as unauthorized (not a 500), saying which claim
    for answer in answers:
        assert (answer.status, answer.json()) == (401, {"message": "Unauthorized"})
        assert claim in answer.headers["www-authenticate"]


def test_a_route_with_authorizer_none_takes_calls_without_a_token(jwt_api: str) -> None:
    # Given `GET /public` with `Auth: {Authorizer: NONE}` under a default JWT authorizer
    # When it is called without a token
    answer = call(f"{jwt_api}/public")

    # Then the function answers, with no authorizer context
    assert answer.status == 200
    assert answer.json() == {"routeKey": "GET /public", "authorizer": None}


def test_each_request_writes_a_line_in_the_stage_s_access_log(
    aws: EmbeddedAws, jwt_stack: DeployedStack
) -> None:
    # Given the API's $default stage logging to a log group in a JSON format
    url = jwt_stack.outputs["ApiUrl"].rstrip("/")
    token = mint_token(aws.endpoint_url, "grace")

    # When a call gets through and another is refused
    admitted = call(f"{url}/me", headers={"Authorization": f"Bearer {token}"})
    refused = call(f"{url}/me")

    # Then each has its line, with the route, status, the caller's subject or the authorizer's error
    events = aws.client("logs").filter_log_events(logGroupName=jwt_stack.outputs["AccessLogGroup"])["events"]
    lines = {line["requestId"]: line for line in (json.loads(event["message"]) for event in events)}
    assert lines[admitted.headers["apigw-requestid"]] == {
        "requestId": admitted.headers["apigw-requestid"],
        "route": "GET /me",
        "status": "200",
        "sub": "grace",
        "error": "-",
    }
    assert lines[refused.headers["apigw-requestid"]]["status"] == "401"
    assert lines[refused.headers["apigw-requestid"]]["sub"] == "-"


def test_the_development_issuer_publishes_its_discovery_document_and_keys_and_refuses_a_token_without_sub(
    aws: EmbeddedAws,
) -> None:
    # Given the embedded AWS's development OIDC issuer
    issuer = aws.oidc_issuer

    # When its discovery document and keys are read, and a token without a subject is asked for
    discovery = call(f"{issuer}/.well-known/openid-configuration")
    keys = call(discovery.json()["jwks_uri"]).json()["keys"]
    refused = call(
        f"{issuer}/token",
        "POST",
        json.dumps({"aud": "pipeline"}).encode(),
        {"Content-Type": "application/json", "Origin": "http://127.0.0.1:9"},
    )

    # Then discovery names the issuer and RS256, the key set holds an RSA signing key, and the refusal is a
    # 400 JSON error a browser page on another origin may read
    assert discovery.json()["issuer"] == issuer
    assert discovery.json()["id_token_signing_alg_values_supported"] == ["RS256"]
    assert discovery.json()["token_endpoint"] == f"{issuer}/token"
    assert [(key["kty"], key["alg"], key["use"]) for key in keys] == [("RSA", "RS256", "sig")]
    assert refused.status == 400
    assert refused.json()["error"] == "invalid_request"
    assert "sub" in refused.json()["error_description"]
    assert refused.headers["access-control-allow-origin"] == "*"


# --- CORS ---------------------------------------------------------------------------------------------------
def test_a_preflight_from_an_allowed_origin_is_answered_by_api_gateway_with_the_configured_headers(
    jwt_api: str,
) -> None:
    # Given CorsConfiguration admitting the distribution's origin, and no OPTIONS route
    # When a browser's preflight for a PUT with an Authorization header comes from that origin
    answer = call(
        f"{jwt_api}/me",
        "OPTIONS",
        headers={
            "Origin": ALLOWED_ORIGIN,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )

    # Then API Gateway answers it itself (no token needed), with the configured Allow-* headers
    assert answer.status == 204
    assert answer.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert answer.headers["access-control-allow-methods"] == "GET,POST,PUT"
    assert answer.headers["access-control-allow-headers"] == "authorization,content-type"
    assert answer.headers["access-control-max-age"] == "600"


def test_a_preflight_from_another_origin_gets_no_cors_headers(jwt_api: str) -> None:
    # Given CorsConfiguration admitting one origin
    # When a preflight comes from another
    answer = call(
        f"{jwt_api}/me",
        "OPTIONS",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )

    # Then the answer carries no Access-Control-* header, so the browser refuses the call
    assert answer.status == 204
    assert not [name for name in answer.headers if name.startswith("access-control-")]


def test_an_allowed_origin_written_as_an_aws_url_admits_its_local_url_and_answers_carry_cors_headers(
    aws: EmbeddedAws, jwt_api: str
) -> None:
    # Given the allowed origin's AWS host served locally (as a distribution would be)
    host = ALLOWED_ORIGIN.removeprefix("https://")
    local_origin = aws.endpoints.serve(host, lambda environ, start_response: [])
    try:
        # When the public route is called from the local origin, and from the AWS origin itself
        local = call(f"{jwt_api}/public", headers={"Origin": local_origin})
        remote = call(f"{jwt_api}/public", headers={"Origin": ALLOWED_ORIGIN})
    finally:
        aws.endpoints.close(host)

    # Then both are admitted: Access-Control-Allow-Origin names the caller's origin, with the exposed headers
    assert local.headers["access-control-allow-origin"] == local_origin
    assert remote.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert local.headers["access-control-expose-headers"] == "x-request-id"


# --- plain CloudFormation: Api, Integration, Route, Stage, Permission ---------------------------------------
def test_a_named_stage_serves_its_routes_under_its_name_with_its_stage_variables(
    cfn_api: DeployedStack,
) -> None:
    # Given an Api with a `prod` stage (StageVariables greeting=Hello) and no `$default` stage
    endpoint = cfn_api.outputs["ApiEndpoint"]

    # When `GET /hello/{name}` is called under the stage, and without it
    staged = call(f"{endpoint}/prod/hello/ann")
    unstaged = call(f"{endpoint}/hello/ann")

    # Then the stage's route answers with its variables; without a stage there is nothing to serve
    assert staged.status == 200
    assert staged.json() == {"message": "Hello, ann", "stage": "prod"}
    assert (unstaged.status, unstaged.json()) == (404, {"message": "Not Found"})


def test_a_function_without_a_permission_for_api_gateway_answers_500_and_the_log_names_the_permission(
    cfn_api: DeployedStack, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a route to a function whose resource policy does not admit apigateway.amazonaws.com
    endpoint = cfn_api.outputs["ApiEndpoint"]

    # When it is called
    with caplog.at_level(logging.WARNING, logger="embedded_aws"):
        answer = call(f"{endpoint}/prod/uninvited")

    # Then API Gateway answers 500, and the log says which permission is missing
    assert (answer.status, answer.json()) == (500, {"message": "Internal Server Error"})
    assert any(
        "lambda:InvokeFunction" in record.getMessage()
        and "apigateway.amazonaws.com" in record.getMessage()
        and cfn_api.physical_id("UninvitedFunction") in record.getMessage()
        for record in caplog.records
    )


def test_a_websocket_api_is_refused_at_deploy_naming_the_feature(tmp_path: Path) -> None:
    # Given a template with a WebSocket API
    template = COMPAT / "http_api_websocket" / "template.yaml"

    # When it is planned for deploy, Then it is refused before anything is created
    with pytest.raises(UnsupportedResourceError) as refused:
        plan_deploy(template, supported=cfn_models.supported_types(), work_dir=tmp_path)
    assert "WebSocketApi (AWS::ApiGatewayV2::Api) property ProtocolType: WebSocket APIs" in str(refused.value)


# --- Lambda (REQUEST) authorizers ---------------------------------------------------------------------------
def test_a_simple_response_authorizer_admits_its_token_with_its_context_and_its_answer_is_cached(
    aws: EmbeddedAws, lambda_authorizer_api: DeployedStack
) -> None:
    # Given the default authorizer: simple responses on the Authorization header, cached 300 s
    url = lambda_authorizer_api.outputs["ApiUrl"]
    name = lambda_authorizer_api.outputs["SimpleAuthorizerFunctionName"]
    calls_before = aws.runtime.pool(name).stats.invocations

    # When `GET /simple` is called twice with the expected token, once with another, once without
    admitted = [call(f"{url}/simple", headers={"Authorization": "let-me-in"}) for _ in range(2)]
    refused = call(f"{url}/simple", headers={"Authorization": "guess"})
    missing = call(f"{url}/simple")

    # Then the token gets through with the authorizer's context; the authorizer ran once for it (its answer
    # is cached for that identity) and once for the other; another token is forbidden, none unauthorized
    for answer in admitted:
        assert answer.status == 200
        context = answer.json()["authorizer"]["lambda"]
        assert context["user"] == "alice"
        assert context["routeArn"].endswith("/$default/GET/simple")
    assert aws.runtime.pool(name).stats.invocations - calls_before == 2
    assert (refused.status, refused.json()) == (403, {"message": "Forbidden"})
    assert (missing.status, missing.json()) == (401, {"message": "Unauthorized"})


def test_an_iam_policy_authorizer_allows_or_denies_the_route(lambda_authorizer_api: DeployedStack) -> None:
    # Given a route whose authorizer answers an IAM policy on the `key` query parameter
    url = lambda_authorizer_api.outputs["ApiUrl"]

    # When it is called with the right key and a wrong one
    allowed = call(f"{url}/policy/x?key=open-sesame")
    denied = call(f"{url}/policy/x?key=nope")

    # Then the Allow reaches the function with the policy's context, the Deny is forbidden
    assert allowed.status == 200
    assert allowed.json()["authorizer"] == {"lambda": {"tier": "gold"}}
    assert (denied.status, denied.json()) == (403, {"message": "Forbidden"})


def test_an_authorizer_api_gateway_may_not_invoke_answers_500(
    lambda_authorizer_api: DeployedStack, caplog: pytest.LogCaptureFixture
) -> None:
    # Given an authorizer without EnableFunctionDefaultPermissions (no Lambda permission for its function)
    url = lambda_authorizer_api.outputs["ApiUrl"]
    function = lambda_authorizer_api.outputs["UninvitedAuthorizerFunctionName"]

    # When its route is called with its identity source
    with caplog.at_level(logging.WARNING, logger="embedded_aws"):
        answer = call(f"{url}/uninvited", headers={"x-key": "let-me-in"})

    # Then API Gateway answers 500, and the log names the missing permission for the authorizer's source
    assert (answer.status, answer.json()) == (500, {"message": "Internal Server Error"})
    assert any(
        "lambda:InvokeFunction" in record.getMessage()
        and function in record.getMessage()
        and "/authorizers/" in record.getMessage()
        for record in caplog.records
    )


# --- route selection, as HTTP APIs document it ------------------------------------------------------------
@dataclass
class _Route:
    route_key: str


@dataclass
class _Api:
    routes: dict[str, _Route]


@pytest.mark.parametrize(
    ("method", "path", "chosen", "params"),
    [
        ("GET", "/pets/dog/1", "GET /pets/dog/{id}", {"id": "1"}),
        ("GET", "/pets/cat/1", "GET /pets/{kind}/{id}", {"kind": "cat", "id": "1"}),
        ("GET", "/pets/dog", "GET /pets/dog", {}),
        ("POST", "/pets/dog/1", "ANY /pets/{proxy+}", {"proxy": "dog/1"}),
        ("GET", "/pets/a/b/c", "GET /pets/{proxy+}", {"proxy": "a/b/c"}),
        ("PATCH", "/pets/a/b/c", "ANY /pets/{proxy+}", {"proxy": "a/b/c"}),
        ("GET", "/other", "$default", {}),
    ],
)
def test_the_most_specific_route_wins(method: str, path: str, chosen: str, params: dict[str, str]) -> None:
    # Given routes overlapping as HTTP APIs allow
    keys = [
        "GET /pets/dog/{id}",
        "GET /pets/{kind}/{id}",
        "GET /pets/dog",
        "ANY /pets/{proxy+}",
        "GET /pets/{proxy+}",
        "$default",
    ]
    api = _Api({key: _Route(key) for key in keys})

    # When a request is routed
    selected = apigateway._select_route(api, method, path)

    # Then the most specific path wins, an exact method before ANY, and `$default` takes the rest
    assert selected is not None
    assert (selected[0].route_key, selected[1]) == (chosen, params)
