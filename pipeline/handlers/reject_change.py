"""ChangeWorkflow step for contract violations: an error record with the schema path; nothing is published."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pipeline.adapters.objects import ObjectStore
from pipeline.config import settings
from pipeline.errors import split_cause
from pipeline.handlers.observability import logger, metrics
from pipeline.logic import changes

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

store = ObjectStore()


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    raw = str(event["raw"])
    cause = json.loads(event.get("error", {}).get("Cause") or "{}")
    reason, detail = split_cause(str(cause.get("errorMessage", "")))
    digest = hashlib.sha256(raw.encode()).hexdigest()[:32]
    now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    record = {"reason": reason, "detail": detail, "time": now, "event": raw[:4096]}
    store.put_json(
        settings().quarantine_bucket,
        f"rejected/changes/{now[:10]}/{digest}.json",
        record,
        cache_control="no-store",
    )
    owner, collection = changes.labels_of_raw(raw)
    return {
        "event": "rejected",
        "event_id": f"rejected:{digest}",
        "item_id": f"change/{digest}",
        "collection": collection or "none",
        "owner": owner or "unowned",
        "reason": reason,
        "detail": detail,
    }
