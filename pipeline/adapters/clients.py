"""boto3 client construction: the one place clients are made.

Handlers get a default client once per cold start, made when an adapter first calls AWS (not at import: a
handler's module loads without building clients it may not need, e.g. Notify's dead-letter queue); tools pass
an explicit endpoint (the embedded AWS).
"""

from __future__ import annotations

import threading
from functools import cache
from typing import Any

import boto3
from botocore.config import Config

#: Fake credentials for the embedded AWS: moto accepts any, real AWS never sees them.
LOCAL_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def client(
    service: str,
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    max_attempts: int = 3,
    read_timeout: float = 70.0,
    credentials: dict[str, str] | None = None,
    signature_version: str | None = None,
) -> Any:
    """Make a boto3 client; with `endpoint_url` it talks to that endpoint with local credentials, with
    `credentials` (`aws_access_key_id`, `aws_secret_access_key`, `aws_session_token`) as someone else.

    Clients come from one shared session, whose loaded models make each new client cheap (a new session
    costs a third of a second of CPU: too much for tools that poll for an outcome).
    """
    config = Config(
        retries={"max_attempts": max_attempts, "mode": "standard"},
        read_timeout=read_timeout,
        connect_timeout=5,
        signature_version=signature_version,  # None: botocore's default for the service
    )
    kwargs: dict[str, Any] = {"config": config}
    if region:
        kwargs["region_name"] = region
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
        kwargs.update(LOCAL_CREDENTIALS)
    if credentials:
        kwargs.update(credentials)
    with _session_lock:  # a session is not thread-safe; the clients it makes are
        return _shared_session().client(service, **kwargs)  # type: ignore[call-overload]


_session_lock = threading.Lock()


@cache
def _shared_session() -> boto3.session.Session:
    return boto3.session.Session()


@cache
def default_client(service: str) -> Any:
    """The process-wide client for `service`, made once per cold start from the environment."""
    with _session_lock:  # boto3's default session is not thread-safe either
        return boto3.client(service)  # type: ignore[call-overload]


class LazyClient:
    """An adapter's client attribute: the injected client, or this process's default one for `service`, made
    on first use (once per cold start: a handler that never calls the service never pays for its client)."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.slot = f"_{service}"

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = f"_{name}"

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        if instance is None:
            return self
        client = instance.__dict__.get(self.slot)
        if client is None:
            client = instance.__dict__[self.slot] = default_client(self.service)
        return client

    def __set__(self, instance: object, client: Any) -> None:
        instance.__dict__[self.slot] = client


def string_attributes(values: dict[str, str]) -> dict[str, dict[str, str]]:
    """SNS/SQS `MessageAttributes` from plain strings."""
    return {name: {"DataType": "String", "StringValue": value} for name, value in values.items()}
