"""The one error tree (DESIGN.md D6).

Every refusal carries a stable `reason` code and a sentence a person can act on.
`PermanentError` is bad input: never retried. `TransientError` is retried by Step Functions or SQS.
"""

from __future__ import annotations


class PipelineError(Exception):
    """Base of every error this project raises on purpose."""

    reason: str = "pipeline_error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason

    @property
    def message(self) -> str:
        """The sentence for a person."""
        return str(self.args[0]) if self.args else ""


class PermanentError(PipelineError):
    """Bad input: quarantine or reject, never retry."""

    reason = "permanent_error"


class TransientError(PipelineError):
    """A passing fault: throttling, a service error, a timeout. Safe to retry."""

    reason = "transient_error"


class LocalStackError(PipelineError):
    """The embedded AWS could not do what was asked (deploy, start, invoke)."""

    reason = "local_stack_error"


class UnsupportedResourceError(LocalStackError):
    """A template names a resource type the embedded AWS cannot honour."""

    reason = "unsupported_resource"


class TemplateError(LocalStackError):
    """A template could not be read or translated."""

    reason = "invalid_template"


class DeployError(LocalStackError):
    """The stack did not reach CREATE_COMPLETE."""

    reason = "deploy_failed"
