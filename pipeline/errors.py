"""The one error tree (DESIGN.md D6).

Every refusal carries a stable `reason` code and a sentence a person can act on.
`PermanentError` is bad input: never retried. `TransientError` is retried by Step Functions or SQS.
"""

from __future__ import annotations

#: Every reason code a refusal can carry, with the sentence a person reads. Stable: operators count by them.
REASONS: dict[str, str] = {
    "unsupported_type": (
        "The file's content is not an image type we accept (JPEG, PNG, WebP, GIF, AVIF or HEIC/HEIF)."
    ),
    "too_large": "The file is larger than the upload limit.",
    "empty_file": "The file is empty.",
    "decompression_bomb": "The image claims more pixels than allowed; decoding it could exhaust memory.",
    "corrupt_image": "The image is truncated or damaged and cannot be decoded.",
    "polyglot": "The file is an image but also carries another format (a script, archive or document).",
    "bad_key": "The object key is not of the form uploads/<collection>/<name>.",
    "missing_object": "The uploaded object was deleted before it could be processed.",
    "schema_violation": "The event does not match its JSON Schema contract.",
    "stale_change": "A newer change for this record was already recorded.",
    "invalid_subscription": "The subscription's address, phone number or filter is not valid.",
    "unknown_event": "The item event's type is not one notifications know.",
    "stack_not_found": "There is no deployed stack of that name at that endpoint.",
    "uploader_identity": "The CLI cannot act as the user it was asked to upload as.",
    "bad_request": "The request is not valid; the message names the field or the problem.",
    "bad_identity": "Your identity cannot own uploads: its subject cannot name an upload session.",
    "not_owner": "The item belongs to someone else; only its owner may add versions or read its status.",
    "not_found": "There is no such item.",
    "internal_error": "Processing failed for a reason we did not foresee; operators have the details.",
}


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

    def __str__(self) -> str:
        # "reason: sentence" is what Step Functions carries in an error's Cause; `split_cause` reads it back.
        return f"{self.reason}: {self.message}"


def split_cause(text: str) -> tuple[str, str]:
    """Read a "reason: sentence" error message back into its reason code and sentence."""
    reason, sep, message = text.partition(": ")
    if sep and reason in REASONS:
        return reason, message
    return "internal_error", text


class PermanentError(PipelineError):
    """Bad input: quarantine or reject, never retry."""

    reason = "permanent_error"


class TransientError(PipelineError):
    """A passing fault: throttling, a service error, a timeout. Safe to retry."""

    reason = "transient_error"


class StackNotFoundError(PipelineError):
    """No deployed stack answers where the CLI looked."""

    reason = "stack_not_found"


class UploaderIdentityError(PipelineError):
    """The CLI cannot act as the user it was asked to upload as."""

    reason = "uploader_identity"
