"""Object keys, item ids and S3 event parsing: pure functions."""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import unquote_plus

from pipeline.errors import PermanentError
from pipeline.models import ObjectRef

UPLOAD_PREFIX = "uploads/"
#: S3 sequencers are hex strings of varying length; compare them left-padded to this width.
SEQUENCER_WIDTH = 32


def parse_upload_key(key: str) -> tuple[str, str]:
    """`uploads/<collection>/<name>` → (collection, name); anything else is refused with `bad_key`."""
    if not key.startswith(UPLOAD_PREFIX):
        raise PermanentError(f"The key {key!r} is not under {UPLOAD_PREFIX}.", reason="bad_key")
    collection, sep, name = key[len(UPLOAD_PREFIX) :].partition("/")
    if not sep or not collection or not name or name.endswith("/"):
        raise PermanentError(
            f"The key {key!r} is not of the form uploads/<collection>/<name>.", reason="bad_key"
        )
    return collection, name


def item_id(bucket: str, key: str) -> str:
    """The stable id of the item behind a logical key: re-uploads of one key are versions of one item."""
    return hashlib.sha256(f"{bucket}/{key}".encode()).hexdigest()[:24]


def source_id(ref: ObjectRef) -> str:
    """The business key of one uploaded object version (DESIGN.md D7)."""
    version = ref.version_id or f"seq:{ref.sequencer or ''}:etag:{ref.etag or ''}"
    return hashlib.sha256(f"{ref.bucket}/{ref.key}@{version}".encode()).hexdigest()[:32]


def execution_name(ref: ObjectRef, delivery: str = "") -> str:
    """A Step Functions execution name: the business key and the queue delivery, ≤ 80 chars.

    A redelivery of the same queue message starts nothing new; a new message for the same object (a
    duplicate S3 event, a replay) does run, and the metadata table's business-key checks make it a no-op.
    """
    return "upload-" + hashlib.sha256(f"{source_id(ref)}|{delivery}".encode()).hexdigest()[:40]


def normalised_sequencer(sequencer: str | None) -> str:
    """A sequencer that compares correctly as a string; absent → lowest."""
    return (sequencer or "").upper().rjust(SEQUENCER_WIDTH, "0")


def object_refs_from_s3_event(event: dict[str, Any]) -> list[ObjectRef]:
    """The created objects an S3 event notification names (test events and other events name none)."""
    refs = []
    for record in event.get("Records", []):
        if not str(record.get("eventName", "")).startswith("ObjectCreated:"):
            continue
        s3 = record["s3"]
        obj = s3["object"]
        refs.append(
            ObjectRef(
                bucket=s3["bucket"]["name"],
                key=unquote_plus(obj["key"]),
                version_id=obj.get("versionId"),
                size=obj.get("size"),
                etag=obj.get("eTag"),
                sequencer=obj.get("sequencer"),
                uploader=(record.get("userIdentity") or {}).get("principalId"),
            )
        )
    return refs
