"""boto3 clients that talk to the embedded AWS itself (pollers, deploys, delivery)."""

from __future__ import annotations

import functools
import threading
from typing import Any

import boto3
from botocore.config import Config

#: Credentials of the embedded AWS's own calls: moto accepts any.
LOCAL_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


_session_lock = threading.Lock()
_sessions: list[boto3.session.Session] = []


def new_client(service: str, *, endpoint_url: str, region: str, max_attempts: int = 3) -> Any:
    """A boto3 client of the caller's own (it may register event handlers on it) for `service` at
    `endpoint_url`, made from one shared session: a new session would load botocore's models again (a third
    of a second of CPU, holding the GIL the server needs), a shared one has them cached."""
    # No host prefix: `sync-127.0.0.1` (StartSyncExecution's `sync-` prefix on an IP endpoint) never resolves.
    config = Config(
        retries={"max_attempts": max_attempts, "mode": "standard"},
        read_timeout=70,
        connect_timeout=5,
        inject_host_prefix=False,
    )
    with _session_lock:  # a session is not thread-safe; the clients it makes are
        if not _sessions:
            _sessions.append(boto3.session.Session())
        return _sessions[0].client(  # type: ignore[call-overload]
            service, endpoint_url=endpoint_url, region_name=region, config=config, **LOCAL_CREDENTIALS
        )


@functools.cache
def client(service: str, *, endpoint_url: str, region: str, max_attempts: int = 3) -> Any:
    """The embedded AWS's own shared client for `service` (never given out to be changed)."""
    return new_client(service, endpoint_url=endpoint_url, region=region, max_attempts=max_attempts)
