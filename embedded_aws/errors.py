"""What the embedded AWS raises to its caller (the CLI, tests): a reason code and a sentence to act on.

Requests from AWS clients never see these: they get AWS-shaped error responses (see `server.py`).
"""

from __future__ import annotations


class EmbeddedAwsError(Exception):
    """The embedded AWS could not do what was asked (start, deploy, invoke)."""

    reason: str = "embedded_aws_error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason

    @property
    def message(self) -> str:
        """The sentence for a person."""
        return str(self.args[0]) if self.args else ""

    def __str__(self) -> str:
        return f"{self.reason}: {self.message}"


class UnsupportedResourceError(EmbeddedAwsError):
    """A template names a resource type or property the embedded AWS cannot honour."""

    reason = "unsupported_resource"


class TemplateError(EmbeddedAwsError):
    """A template could not be read or translated."""

    reason = "invalid_template"


class DeployError(EmbeddedAwsError):
    """The stack did not reach CREATE_COMPLETE."""

    reason = "deploy_failed"


class ThrottledError(EmbeddedAwsError):
    """The function may not run now (reserved concurrency 0): the caller retries, as with AWS throttling."""

    reason = "throttled"
