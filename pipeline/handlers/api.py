"""The upload API (HTTP API, payload format 2.0, behind a JWT authorizer): thin routes over `logic.api`.

- `POST /items`: create an item owned by the caller; answer its id and an upload form for version 1.
- `PUT /items/{id}`: an upload form for the next version of an item the caller owns.
- `GET /items/{id}`: a redirect to the item's public document (no token needed).
- `GET /uploads/{id}/status`: where the item's latest upload is: waiting, published or quarantined.
Refusals answer `{"error": {"reason", "message"}}` with the reason's HTTP status.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types

from pipeline.adapters.metadata_table import MetadataTable
from pipeline.adapters.objects import ObjectStore, newest_json
from pipeline.adapters.upload_forms import UploadForms
from pipeline.config import settings
from pipeline.errors import PipelineError, TransientError
from pipeline.handlers.observability import logger, metrics
from pipeline.logic import api
from pipeline.logic.documents import item_key
from pipeline.logic.keys import item_id
from pipeline.models import ItemState

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

app = APIGatewayHttpResolver()
table = MetadataTable(settings().table_name)
store = ObjectStore()
forms = UploadForms(settings().uploader_role_arn)

#: The HTTP status of each refusal the API makes.
STATUS = {
    "bad_request": HTTPStatus.BAD_REQUEST,
    "bad_identity": HTTPStatus.FORBIDDEN,
    "not_owner": HTTPStatus.FORBIDDEN,
    "not_found": HTTPStatus.NOT_FOUND,
}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _caller() -> str:
    claims = app.current_event.request_context.authorizer.jwt_claim or {}
    return api.owner_for(claims.get("sub"))


def _public_url(item: str) -> str:
    return f"{settings().public_base_url.rstrip('/')}/{item_key(item)}"


def _form_answer(
    state: ItemState, key: str, version: int, fields: dict[str, str], conditions: list[Any]
) -> dict[str, Any]:
    config = settings()
    form = forms.presigned_post(
        state.owner or "", config.ingest_bucket, key, fields, conditions, api.UPLOAD_FORM_SECONDS
    )
    expires = datetime.now(UTC).timestamp() + api.UPLOAD_FORM_SECONDS
    return {
        "id": state.item_id,
        "version": version,
        "collection": state.collection,
        "key": key,
        "owner": state.owner,
        "upload": {
            "url": form["url"],
            "fields": form["fields"],
            "expires_at": datetime.fromtimestamp(expires, UTC)
            .isoformat(timespec="seconds")
            .replace("+00:00", "Z"),
            "max_bytes": config.max_upload_bytes,
        },
        "status_url": f"/uploads/{state.item_id}/status",
        "public_url": _public_url(state.item_id),
    }


def _owned(item: str) -> ItemState:
    state = table.state(item)
    if state is None or not state.key:
        raise PipelineError(f"There is no item {item} (created through this API).", reason="not_found")
    if state.owner != _caller():
        raise PipelineError(
            f"Item {item} belongs to someone else; only its owner may do that.", reason="not_owner"
        )
    return state


@app.post("/items")
def create_item() -> Response[Any]:
    owner = _caller()
    event = app.current_event
    body = api.parse_body(event.body, bool(event.is_base64_encoded), api.CreateItem)
    key = api.upload_key(body.collection, body.title, secrets.token_hex(4))
    item = item_id(settings().ingest_bucket, key)
    state = ItemState(item_id=item, collection=body.collection, owner=owner, key=key)
    fields, conditions = api.upload_form(
        key,
        settings().max_upload_bytes,
        {"title": body.title, "author": body.author, "category": body.category},
    )
    answer = _form_answer(state, key, 1, fields, conditions)  # signed first: a failure leaves no item behind
    table.register(item, body.collection, owner, key, _now())
    logger.info("item created", extra={"item_id": item, "owner": owner, "collection": body.collection})
    return _json(HTTPStatus.CREATED, answer)


@app.put("/items/<item>")
def new_version(item: str) -> Response[Any]:
    state = _owned(item)
    event = app.current_event
    body = api.parse_body(event.body, bool(event.is_base64_encoded), api.UpdateItem, required=False)
    latest = table.version(item, state.latest) if state.latest else None
    user = latest.user if latest else None
    metadata = {
        name: getattr(body, name) or (getattr(user, name) if user else None) for name in api.METADATA_FIELDS
    }
    fields, conditions = api.upload_form(state.key or "", settings().max_upload_bytes, metadata)
    table.note_upload_request(item, _now())
    return _json(HTTPStatus.OK, _form_answer(state, state.key or "", state.allocated + 1, fields, conditions))


@app.get("/items/<item>")
def read_item(item: str) -> Response[Any]:
    state = table.state(item)
    if state is None or state.latest is None:
        raise PipelineError(f"There is no published item {item}.", reason="not_found")
    return Response(status_code=HTTPStatus.FOUND, headers={"Location": _public_url(item)}, body="")


@app.get("/uploads/<item>/status")
def upload_status(item: str) -> Response[Any]:
    state = _owned(item)
    latest = table.version(item, state.latest) if state.latest else None
    refusal = newest_json(store, settings().quarantine_bucket, f"quarantine/{state.key}/", "error.json")
    document = store.read_json(settings().public_bucket, item_key(item))[0] if latest else None
    status = api.upload_status(
        item,
        state.upload_requested_at,
        (latest.version, latest.recorded_at) if latest else None,
        refusal,
        _public_url(item),
        public_version=int(document["version"]) if document else None,
    )
    return _json(HTTPStatus.OK, status.model_dump(mode="json", exclude_none=True))


@app.exception_handler(PipelineError)  # type: ignore[untyped-decorator]  # Powertools leaves it untyped
def _refused(error: PipelineError) -> Response[Any]:
    if isinstance(error, TransientError):
        logger.warning("transient failure", extra={"detail": error.message})
        status = HTTPStatus.SERVICE_UNAVAILABLE
        message = "The service is busy or a dependency failed; retry in a moment."
    else:
        status = STATUS.get(error.reason, HTTPStatus.BAD_REQUEST)
        message = error.message
    return _json(status, {"error": {"reason": error.reason, "message": message}})


def _json(status: HTTPStatus, body: dict[str, Any]) -> Response[Any]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
