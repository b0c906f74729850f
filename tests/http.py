"""Plain HTTP for tests of what the embedded AWS serves to browsers (HTTP APIs, distributions, S3 forms)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from urllib3 import encode_multipart_formdata


@dataclass
class Answer:
    """One HTTP answer, whatever its status."""

    status: int
    headers: dict[str, str]  # lower-cased names; repeated headers joined with ", "
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def call(
    url: str,
    method: str = "GET",
    body: bytes | str | None = None,
    headers: dict[str, str] | None = None,
    *,
    timeout_s: float = 30,
) -> Answer:
    """One request, redirects not followed: any status is an answer."""
    data = body.encode() if isinstance(body, str) else body
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    try:
        with _opener.open(request, timeout=timeout_s) as response:
            return Answer(response.status, _headers(response.headers), response.read())
    except urllib.error.HTTPError as error:
        return Answer(error.code, _headers(error.headers), error.read())


def post_form(url: str, fields: list[tuple[str, Any]], headers: dict[str, str] | None = None) -> Answer:
    """POST `multipart/form-data` as a browser does, parts in the order given (a file part is a
    `(filename, data, content type)` tuple)."""
    body, content_type = encode_multipart_formdata(fields)
    return call(url, "POST", body, {"Content-Type": content_type, **(headers or {})})


def _headers(message: Any) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in message.items():
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers
