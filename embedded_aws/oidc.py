"""A development OpenID Connect issuer, for JWT authorizers of HTTP APIs run locally.

**For local development only.** It signs a token for whoever asks, for any subject, audience and scopes:
it proves nothing about anyone. It exists so that an HTTP API's JWT authorizer can be exercised locally
exactly as on AWS (discovery document, JWKS, RS256 signatures, `iss`/`aud`/`exp` checks) without an
identity provider. Never point a deployed API's authorizer at it.

The embedded AWS serves it under `/_local/oidc` of its own endpoint (a path prefix moto never uses), so
its issuer URL is `http://127.0.0.1:4566/_local/oidc` (`EmbeddedAws.oidc_issuer`):

- `GET  /_local/oidc/.well-known/openid-configuration`: the discovery document (`issuer`, `jwks_uri`, ...);
- `GET  /_local/oidc/.well-known/jwks.json`: the RSA public key (made when the embedded AWS starts);
- `POST /_local/oidc/token` with JSON `{"sub", "aud"?, "expires_in"?, "scope"?, "claims"?}`:
  `{"access_token", "token_type": "Bearer", "expires_in"}`. A negative `expires_in` mints a token that has
  already expired; `claims` are added last (they may override any standard claim, and a null removes one).

Every answer admits any origin (CORS): a page served on another local port mints its tokens here.
`mint_token` is the same call from Python.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey

StartResponse = Callable[..., Any]

#: The path prefix the embedded AWS's server hands to `wsgi`.
PREFIX = "/_local/oidc"
_MAX_BODY = 64 * 1024


class Issuer:
    """One signing key and the issuer URL its tokens name."""

    def __init__(self, issuer_url: str) -> None:
        self.url = issuer_url.rstrip("/")
        self.key_id = uuid.uuid4().hex[:16]
        self._key = RSAKey.generate_key(2048, parameters={"kid": self.key_id, "alg": "RS256", "use": "sig"})

    def configuration(self) -> dict[str, Any]:
        return {
            "issuer": self.url,
            "jwks_uri": f"{self.url}/.well-known/jwks.json",
            "token_endpoint": f"{self.url}/token",
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
            "grant_types_supported": ["client_credentials"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["none"],
            "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "scope", "client_id"],
        }

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self._key.as_dict(private=False)]}

    def mint(
        self,
        sub: str,
        audience: str | list[str] = "pipeline",
        expires_in: int = 3600,
        scope: str | None = None,
        claims: dict[str, Any] | None = None,
    ) -> str:
        """A signed RS256 access token for `sub`."""
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": self.url,
            "sub": sub,
            "aud": audience,
            "iat": now,
            "nbf": now,
            "exp": now + expires_in,
            "jti": uuid.uuid4().hex,
            "token_use": "access",
        }
        if scope:
            payload["scope"] = scope
        payload.update(claims or {})
        payload = {name: value for name, value in payload.items() if value is not None}
        return jwt.encode({"alg": "RS256", "kid": self.key_id, "typ": "JWT"}, payload, self._key)


_issuer: Issuer | None = None


def install(issuer_url: str | None) -> Issuer | None:
    """Start the issuer at `issuer_url` with a new key (None: stop it)."""
    global _issuer  # noqa: PLW0603 - the running embedded AWS's issuer, as its server is process-wide
    _issuer = Issuer(issuer_url) if issuer_url else None
    return _issuer


def current() -> Issuer | None:
    return _issuer


_CORS = [
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Methods", "GET, POST, OPTIONS"),
    ("Access-Control-Allow-Headers", "content-type, authorization"),
    ("Access-Control-Max-Age", "600"),
]


def _answer(start_response: StartResponse, status: str, body: Any | None) -> list[bytes]:
    data = b"" if body is None else json.dumps(body).encode()
    headers = [*_CORS, ("Content-Length", str(len(data))), ("Cache-Control", "no-store")]
    if body is not None:
        headers.append(("Content-Type", "application/json"))
    start_response(status, headers)
    return [data]


def _error(start_response: StartResponse, status: str, code: str, description: str) -> list[bytes]:
    return _answer(start_response, status, {"error": code, "error_description": description})


def wsgi(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """Answer a request under `PREFIX` (the embedded AWS's server routes them here)."""
    issuer = _issuer
    path = str(environ.get("PATH_INFO", ""))[len(PREFIX) :] or "/"
    method = str(environ.get("REQUEST_METHOD", "GET"))
    if issuer is None:
        return _error(
            start_response, "404 Not Found", "not_found", "The development OIDC issuer is not running."
        )
    if method == "OPTIONS":
        return _answer(start_response, "204 No Content", None)
    if path == "/.well-known/openid-configuration" and method in ("GET", "HEAD"):
        return _answer(start_response, "200 OK", issuer.configuration())
    if path == "/.well-known/jwks.json" and method in ("GET", "HEAD"):
        return _answer(start_response, "200 OK", issuer.jwks())
    if path == "/token" and method == "POST":
        return _token(issuer, environ, start_response)
    return _error(start_response, "404 Not Found", "not_found", f"No {method} {PREFIX}{path} here.")


def _token(issuer: Issuer, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length > _MAX_BODY:
        return _error(start_response, "400 Bad Request", "invalid_request", "The request body is too large.")
    raw = environ["wsgi.input"].read(length) if length else b""
    try:
        request = json.loads(raw or b"{}")
    except ValueError:
        return _error(start_response, "400 Bad Request", "invalid_request", "The body must be a JSON object.")
    if not isinstance(request, dict):
        return _error(start_response, "400 Bad Request", "invalid_request", "The body must be a JSON object.")
    sub, audience = request.get("sub"), request.get("aud", "pipeline")
    expires_in, scope, claims = request.get("expires_in", 3600), request.get("scope"), request.get("claims")
    problem = None
    if not isinstance(sub, str) or not sub:
        problem = '"sub" is required: the subject (user id) the token is for, a non-empty string.'
    elif not (
        isinstance(audience, str)
        or (isinstance(audience, list) and all(isinstance(a, str) for a in audience))
    ):
        problem = '"aud" must be a string or a list of strings.'
    elif not isinstance(expires_in, int) or isinstance(expires_in, bool):
        problem = '"expires_in" must be a whole number of seconds.'
    elif scope is not None and not isinstance(scope, str):
        problem = '"scope" must be a space-separated string.'
    elif claims is not None and not isinstance(claims, dict):
        problem = '"claims" must be a JSON object.'
    if problem is not None:
        return _error(start_response, "400 Bad Request", "invalid_request", problem)
    token = issuer.mint(str(sub), audience, expires_in, scope, claims)
    return _answer(
        start_response, "200 OK", {"access_token": token, "token_type": "Bearer", "expires_in": expires_in}
    )


def mint_token(
    endpoint_url: str,
    sub: str,
    audience: str | list[str] = "pipeline",
    expires_in: int = 3600,
    scope: str | None = None,
    claims: dict[str, Any] | None = None,
) -> str:
    """A token from the development issuer of the embedded AWS at `endpoint_url` (an HTTP call, so it works
    against an embedded AWS in another process). Raises `ValueError` with the issuer's reason on a refusal."""
    body: dict[str, Any] = {"sub": sub, "aud": audience, "expires_in": expires_in}
    if scope is not None:
        body["scope"] = scope
    if claims is not None:
        body["claims"] = claims
    request = urllib.request.Request(
        f"{endpoint_url.rstrip('/')}{PREFIX}/token",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return str(json.loads(response.read())["access_token"])
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")
        raise ValueError(f"The development OIDC issuer refused the token: {detail}") from exc
