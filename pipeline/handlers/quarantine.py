"""FileWorkflow step for refused files: a copy in quarantine with a JSON error record; nothing published."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pipeline.adapters.objects import ObjectStore
from pipeline.config import settings
from pipeline.errors import REASONS, PermanentError, split_cause
from pipeline.handlers.observability import logger, metrics
from pipeline.logic.keys import item_id, parse_upload_key
from pipeline.logic.owners import ownership
from pipeline.models import ObjectRef

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

store = ObjectStore()


def _reason(error: dict[str, Any]) -> tuple[str, str]:
    """The reason code and detail from a Catch's {Error, Cause}; Cause is the Lambda error payload."""
    try:
        payload = json.loads(error.get("Cause") or "{}")
    except json.JSONDecodeError:
        payload = {"errorMessage": error.get("Cause", "")}
    return split_cause(str(payload.get("errorMessage", "")))


def _claimed_owner(ref: ObjectRef) -> str | None:
    """The `owner` the uploader claimed in S3 user metadata (never believed; reported when false)."""
    try:
        head = store.head(ref)
    except PermanentError:  # the object is gone (missing_object): no claim to read
        return None
    return head.metadata.get("owner")


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    ref = ObjectRef.model_validate(event["source"])
    reason, detail = _reason(event.get("error", {}))
    item = item_id(ref.bucket, ref.key)
    logger.set_correlation_id(item)
    bucket = settings().quarantine_bucket
    base = f"quarantine/{ref.key}/{ref.version_id or 'null'}"
    record = {
        "key": ref.key,
        "version_id": ref.version_id,
        "item_id": item,
        "reason": reason,
        "reason_text": REASONS.get(reason, REASONS["internal_error"]),
        "detail": detail,
        "time": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    }
    if reason not in ("missing_object", "too_large"):  # too large to copy safely: the record says where it is
        store.copy(ref, bucket, f"{base}/object")
    store.put_json(bucket, f"{base}/error.json", record, cache_control="no-store")
    try:
        collection, name = parse_upload_key(ref.key)
    except PermanentError:
        collection, name = "none", ref.key.rsplit("/", 1)[-1]  # SNS refuses empty attribute values
    owners = ownership(ref.uploader, _claimed_owner(ref), settings().uploader_role_id)
    failed = {
        "event": "failed",
        "event_id": f"failed:{item}:{ref.version_id or 'null'}",
        "item_id": item,
        "name": name,
        "collection": collection,
        # the uploader's identity, so that owner-filtered subscribers hear of their refused files too
        "owner": owners.owner or "unowned",
        "reason": reason,
        "detail": detail,
        "key": ref.key,
    }
    if owners.ignored_claim:
        failed["ignored_owner_claim"] = owners.ignored_claim
    return failed
