"""Endpoints the embedded AWS serves to browsers and HTTP clients: HTTP APIs and CloudFront distributions.

On AWS each has a host name of its own (`<api id>.execute-api.<region>.amazonaws.com`, `<id>.cloudfront.net`).
Locally each gets a port of its own on the loopback address, so a browser sees them as separate origins and
CORS behaves as on AWS. Where a stack names such an endpoint by its AWS URL (`https://<host>`), in its Outputs
or in a function's environment variables, the embedded AWS gives the local URL instead (`http://127.0.0.1:<port>`):
the AWS host names resolve nowhere here.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

log = logging.getLogger(__name__)

#: Seconds between the endpoint servers' checks for a shutdown.
_POLL_S = 0.05

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@dataclass
class _Served:
    aws_host: str
    local_url: str
    server: BaseWSGIServer
    thread: threading.Thread


class LocalEndpoints:
    """The endpoints being served, by their AWS host name."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self._served: dict[str, _Served] = {}
        self._lock = threading.Lock()
        self._pattern: re.Pattern[str] | None = None

    def serve(self, aws_host: str, app: WsgiApp) -> str:
        """Serve `app` as `https://<aws_host>` on a free local port; returns its local URL (no final `/`)."""
        aws_host = aws_host.lower()
        with self._lock:
            if aws_host in self._served:
                raise ValueError(f"{aws_host} is already served at {self._served[aws_host].local_url}")
            server = make_server(self.host, 0, app, threaded=True)
            local_url = f"http://{self.host}:{server.server_port}"
            # A short poll: closing an endpoint (each stack delete) waits one poll for the loop to end.
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": _POLL_S},
                name=f"endpoint-{aws_host}",
                daemon=True,
            )
            thread.start()
            self._served[aws_host] = _Served(aws_host, local_url, server, thread)
            self._pattern = None
        log.info("Serving https://%s at %s", aws_host, local_url)
        return local_url

    def close(self, aws_host: str) -> None:
        """Stop serving one endpoint (its resource was deleted)."""
        with self._lock:
            served = self._served.pop(aws_host.lower(), None)
            self._pattern = None
        if served is not None:
            served.server.shutdown()
            served.server.server_close()

    def close_all(self) -> None:
        """Stop serving every endpoint."""
        for aws_host in list(self._served):
            self.close(aws_host)

    def local_url(self, aws_host: str) -> str | None:
        """The local URL of an endpoint served as `https://<aws_host>`, or None."""
        served = self._served.get(aws_host.lower())
        return served.local_url if served else None

    def served(self) -> dict[str, str]:
        """Every endpoint served: AWS host name → local URL."""
        return {host: served.local_url for host, served in self._served.items()}

    def rewrite(self, value: Any) -> Any:
        """`value` with every `https://<served host>` (or `http://`) in its text replaced by the local URL.

        Lists and dicts are rewritten item by item; anything else is returned unchanged.
        """
        if isinstance(value, str):
            pattern, local = self._url_pattern()
            if pattern is None:
                return value
            return pattern.sub(lambda m: local[m.group(1).lower()], value)
        if isinstance(value, list):
            return [self.rewrite(item) for item in value]
        if isinstance(value, dict):
            return {key: self.rewrite(item) for key, item in value.items()}
        return value

    def _url_pattern(self) -> tuple[re.Pattern[str] | None, dict[str, str]]:
        """The pattern of every served host's URL, and their local URLs, read together (a `close` in another
        thread cannot take a host away between the match and its replacement)."""
        with self._lock:
            if self._pattern is None and self._served:
                hosts = "|".join(re.escape(host) for host in sorted(self._served, key=len, reverse=True))
                # The host must end there: `d1.cloudfront.net.evil` is not the distribution.
                self._pattern = re.compile(rf"https?://({hosts})(?![\w.-])", re.IGNORECASE)
            return self._pattern, {host: served.local_url for host, served in self._served.items()}


#: The running embedded AWS's endpoints (None when none runs): CloudFormation models register here.
_current: LocalEndpoints | None = None


def install(endpoints: LocalEndpoints | None) -> None:
    """Make `endpoints` the ones CloudFormation models serve on (None: stop every endpoint served)."""
    global _current  # noqa: PLW0603
    if endpoints is None and _current is not None:
        _current.close_all()
    _current = endpoints


def current() -> LocalEndpoints | None:
    """The running embedded AWS's endpoints, or None."""
    return _current


def rewrite(value: Any) -> Any:
    """`LocalEndpoints.rewrite` of the running embedded AWS (unchanged when none runs)."""
    return _current.rewrite(value) if _current is not None else value
