"""ChangeWorkflow step: the record's public document and its entity listing, from the stored winner (D9)."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from pipeline.adapters.metadata_table import MetadataTable
from pipeline.adapters.objects import ObjectStore
from pipeline.config import settings
from pipeline.errors import TransientError
from pipeline.handlers.observability import logger, metrics
from pipeline.logic import changes
from pipeline.logic.documents import CACHE_MUTABLE
from pipeline.models import ChangeEvent

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

store = ObjectStore()
table = MetadataTable(settings().table_name)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    change = ChangeEvent.model_validate(event["change"])
    stored = table.stored_change(changes.record_key(change))
    if stored is None:
        raise TransientError(f"{changes.record_key(change)} is not recorded yet.")
    config = settings()
    key = changes.record_doc_key(change.entity, change.id)
    document = store.update_json(
        config.public_bucket,
        key,
        partial(changes.newer_document, candidate=changes.record_document(stored)),
        cache_control=CACHE_MUTABLE,
    )
    url = f"{config.public_base_url.rstrip('/')}/{key}"
    store.update_json(
        config.public_bucket,
        changes.listing_key(change.entity),
        partial(changes.merge_entity_listing, entity=change.entity, document=document, url=url),
        cache_control=CACHE_MUTABLE,
    )
    # The document may be newer than the change this run read: describe what is published.
    winner = stored.change
    kind = "deleted" if document["deleted"] else "published"
    entity, record_id, sequence = document["entity"], document["id"], document["sequence"]
    return {
        "event": kind,
        "event_id": f"{kind}:{document['source']}/{entity}/{record_id}@{sequence}",
        "item_id": f"{entity}/{record_id}",
        "title": changes.record_title(entity, record_id, document.get("data")),
        "entity": entity,
        "sequence": sequence,
        "collection": document.get("collection") or winner.collection or entity,
        "owner": document.get("owner") or winner.owner or "unowned",
        "url": url,
    }
