"""FileWorkflow step: the public JSON documents, built from what the metadata table stores (D9)."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from pipeline.adapters.metadata_table import MetadataTable
from pipeline.adapters.objects import ObjectStore
from pipeline.config import settings
from pipeline.errors import TransientError
from pipeline.handlers.observability import logger, metrics
from pipeline.logic import documents

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

store = ObjectStore()
table = MetadataTable(settings().table_name)


@logger.inject_lambda_context(correlation_id_path="item_id")
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    item_id, version = str(event["item_id"]), int(event["version"])
    config = settings()
    base, bucket = config.public_base_url, config.public_bucket
    state = table.state(item_id)
    record = table.version(item_id, version)
    if state is None or record is None or state.latest is None:
        raise TransientError(f"Item {item_id} v{version} is not recorded yet.")
    latest = record if state.latest == version else table.version(item_id, state.latest)
    if latest is None:
        raise TransientError(f"Item {item_id}'s latest version {state.latest} is not recorded yet.")

    version_doc = documents.version_document(record, base)
    store.put_json(
        bucket,
        documents.version_key(item_id, version),
        version_doc,
        cache_control=documents.CACHE_IMMUTABLE,
    )
    item = store.update_json(
        bucket,
        documents.item_key(item_id),
        partial(documents.newer_item, candidate=documents.item_document(state, latest, base)),
        cache_control=documents.CACHE_MUTABLE,
    )
    listing = store.update_json(
        bucket,
        documents.collection_key(state.collection),
        partial(
            documents.merge_listing,
            collection=state.collection,
            entry=documents.listing_entry(item),
            updated_at=item["updated_at"],
        ),
        cache_control=documents.CACHE_MUTABLE,
    )
    store.update_json(
        bucket,
        documents.INDEX_KEY,
        partial(
            documents.merge_index,
            collection=state.collection,
            count=listing["count"],
            updated_at=listing["updated_at"],
            base_url=base,
        ),
        cache_control=documents.CACHE_MUTABLE,
    )
    published: dict[str, Any] = {
        "event": "published",
        "event_id": f"published:{item_id}:v{version}",
        "item_id": item_id,
        "title": version_doc["title"],
        "version": version,
        "latest": latest.version,
        "collection": state.collection,
        "owner": record.user.owner or "unowned",
        "url": item["links"]["self"],
        "thumbnail": version_doc["thumbnails"][0]["url"] if version_doc["thumbnails"] else None,
    }
    if record.ignored_owner_claim:
        # The uploader claimed someone else's name as owner: ignored (pipeline.logic.owners), and said so.
        published["ignored_owner_claim"] = record.ignored_owner_claim
    return published
