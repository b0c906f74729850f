"""boto3 clients that talk to the embedded AWS itself (pollers, deploys, delivery)."""

from __future__ import annotations

import functools
from typing import Any

import boto3
from botocore.config import Config

#: Credentials of the embedded AWS's own calls: moto accepts any.
LOCAL_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@functools.cache
def client(service: str, *, endpoint_url: str, region: str, max_attempts: int = 3) -> Any:
    """The boto3 client for `service` at `endpoint_url`, made once and shared.

    Clients are thread-safe; making one loads botocore's models (a third of a second of CPU), which pollers,
    deliveries and tests polling an outcome would otherwise pay on every call, holding the server's GIL.
    """
    # No host prefix: `sync-127.0.0.1` (StartSyncExecution's `sync-` prefix on an IP endpoint) never resolves.
    config = Config(
        retries={"max_attempts": max_attempts, "mode": "standard"},
        read_timeout=70,
        connect_timeout=5,
        inject_host_prefix=False,
    )
    return boto3.session.Session().client(  # type: ignore[call-overload]
        service, endpoint_url=endpoint_url, region_name=region, config=config, **LOCAL_CREDENTIALS
    )
