"""The public JSON documents, built from what the metadata table stores (DESIGN.md D9). Pure functions."""

from __future__ import annotations

from typing import Any

from pipeline.models import ItemState, VersionRecord

ITEM_SCHEMA = "pipeline/item/1"
LISTING_SCHEMA = "pipeline/collection/1"
INDEX_SCHEMA = "pipeline/index/1"

#: Mutable documents may be cached briefly; versioned ones never change.
CACHE_MUTABLE = "public, max-age=60"
CACHE_IMMUTABLE = "public, max-age=31536000, immutable"


def item_key(item_id: str) -> str:
    return f"items/{item_id}.json"


def version_key(item_id: str, version: int) -> str:
    return f"items/{item_id}/versions/{version}.json"


def collection_key(collection: str) -> str:
    return f"collections/{collection}.json"


INDEX_KEY = "index.json"


def thumbnail_key(item_id: str, version: int, width: int, extension: str) -> str:
    """Immutable, versioned key of one thumbnail."""
    return f"thumbs/{item_id}/{version}/{width}.{extension}"


def _url(base_url: str, key: str) -> str:
    return f"{base_url.rstrip('/')}/{key}"


def version_document(record: VersionRecord, base_url: str) -> dict[str, Any]:
    """`items/<id>/versions/<n>.json`: one version, never changed once written."""
    return {
        "schema": ITEM_SCHEMA,
        "id": record.item_id,
        "collection": record.collection,
        "name": record.name,
        "title": record.user.title or record.name,
        "author": record.user.author,
        "category": record.user.category,
        "owner": record.user.owner,
        "version": record.version,
        "recorded_at": record.recorded_at,
        "image": {
            "format": record.image.format,
            "mime": record.image.mime,
            "width": record.image.width,
            "height": record.image.height,
            "bytes": record.bytes,
            "sha256": record.sha256,
        },
        "metadata": {
            "taken_at": record.metadata.taken_at,
            "camera_make": record.metadata.camera_make,
            "camera_model": record.metadata.camera_model,
        },
        "source": {"key": record.source.key, "version_id": record.source.version_id},
        "thumbnails": [
            {"width": t.width, "height": t.height, "format": t.format, "url": _url(base_url, t.key)}
            for t in sorted(record.thumbnails, key=lambda t: t.width)
        ],
        "links": {
            "self": _url(base_url, version_key(record.item_id, record.version)),
            "item": _url(base_url, item_key(record.item_id)),
        },
    }


def item_document(state: ItemState, latest: VersionRecord, base_url: str) -> dict[str, Any]:
    """`items/<id>.json`: the latest version, the version count and when the item last changed."""
    document = version_document(latest, base_url)
    document["versions"] = state.versions
    document["updated_at"] = state.updated_at
    document["links"] = {
        "self": _url(base_url, item_key(state.item_id)),
        "version": _url(base_url, version_key(state.item_id, latest.version)),
        "collection": _url(base_url, collection_key(state.collection)),
    }
    return document


def newer_item(current: dict[str, Any] | None, candidate: dict[str, Any]) -> dict[str, Any]:
    """Whichever item document is newer: a slow publish of an older state must not overwrite a newer one."""
    if current is not None and (current["updated_at"], current["versions"]) > (
        candidate["updated_at"],
        candidate["versions"],
    ):
        return current
    return candidate


def listing_entry(item: dict[str, Any]) -> dict[str, Any]:
    """What a collection listing says about one item (from its item document)."""
    thumbnails = item["thumbnails"]
    return {
        "id": item["id"],
        "name": item["name"],
        "title": item["title"],
        "version": item["version"],
        "updated_at": item["updated_at"],
        "thumbnail": thumbnails[0]["url"] if thumbnails else None,
        "url": item["links"]["self"],
    }


def merge_listing(
    current: dict[str, Any] | None, collection: str, entry: dict[str, Any], updated_at: str
) -> dict[str, Any]:
    """A collection listing with `entry` added or replaced (a newer entry for an id wins), newest first."""
    entries = {e["id"]: e for e in (current or {}).get("items", [])}
    previous = entries.get(entry["id"])
    if previous is None or (previous["updated_at"], previous["version"]) <= (
        entry["updated_at"],
        entry["version"],
    ):
        entries[entry["id"]] = entry
    items = sorted(entries.values(), key=lambda e: (e["updated_at"], e["id"]), reverse=True)
    newest = max(updated_at, (current or {}).get("updated_at") or "")
    return {
        "schema": LISTING_SCHEMA,
        "collection": collection,
        "updated_at": newest,
        "count": len(items),
        "items": items,
    }


def merge_index(
    current: dict[str, Any] | None, collection: str, count: int, updated_at: str, base_url: str
) -> dict[str, Any]:
    """The index of collections with one collection's entry brought up to date.

    Listings only grow, so the larger count and the later time are the truer ones whatever order
    concurrent publishes land in.
    """
    collections = {c["name"]: c for c in (current or {}).get("collections", [])}
    previous = collections.get(collection, {"count": 0, "updated_at": ""})
    collections[collection] = {
        "name": collection,
        "count": max(count, previous["count"]),
        "updated_at": max(updated_at, previous["updated_at"]),
        "url": _url(base_url, collection_key(collection)),
    }
    newest = max(updated_at, (current or {}).get("updated_at") or "")
    return {
        "schema": INDEX_SCHEMA,
        "updated_at": newest,
        "collections": sorted(collections.values(), key=lambda c: c["name"]),
    }
