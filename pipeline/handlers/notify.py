"""SQS batch of item events → one notification each on the UserNotifications topic, once per event (D7).

SNS fans it out to the subscribers whose filter policy matches its attributes (event, owner, collection).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

from pipeline.adapters.idempotency import persistence_layer
from pipeline.adapters.queues import Queue
from pipeline.adapters.topics import Topic
from pipeline.config import settings
from pipeline.errors import PermanentError
from pipeline.handlers.batch import SQSRecord, process_partial_response
from pipeline.handlers.observability import logger, metrics
from pipeline.logic.envelopes import sns_message
from pipeline.logic.notifications import event_identity, message_structure, render
from pipeline.models import ItemEvent, Notification

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

#: Far longer than any redelivery (SQS keeps a message at most 14 days), so that replaying the archive of the
#: past year notifies nobody twice; an idempotency record is a few hundred bytes.
REMEMBER_SECONDS = 366 * 24 * 3600

topic = Topic(settings().user_notifications_topic_arn)
dead_letters = Queue(settings().notify_dead_letter_queue_url)


def _already_sent(response: Any, idempotent_data: DataRecord) -> Any:
    metrics.add_metric(name="DuplicateItemEvents", unit=MetricUnit.Count, value=1)
    logger.info(
        "duplicate item event: already notified", extra={"idempotency_key": idempotent_data.idempotency_key}
    )
    return response


config = IdempotencyConfig(
    event_key_jmespath="event_id",
    raise_on_no_idempotency_key=True,
    expires_after_seconds=REMEMBER_SECONDS,
    response_hook=_already_sent,
)


def _send(notification: dict[str, Any]) -> dict[str, str]:
    note = Notification.model_validate(notification)
    attributes = {**note.attributes, "AWS.SNS.SMS.SMSType": "Transactional"}  # SMS: sent as time-critical
    message_id = topic.publish_per_protocol(message_structure(note), note.subject, attributes)
    metrics.add_metric(name="NotificationsSent", unit=MetricUnit.Count, value=1)
    return {"message_id": message_id}


@cache
def _idempotent_send() -> Callable[..., dict[str, str]]:
    """`_send` behind the idempotency table; its DynamoDB client is made on the first notification."""
    return idempotent_function(  # type: ignore[no-any-return]
        data_keyword_argument="notification",
        config=config,
        persistence_store=persistence_layer(settings().idempotency_table),
    )(_send)


def send(notification: dict[str, Any]) -> dict[str, str]:
    """Publish one notification; a repeat of its event_id returns the first result and sends nothing."""
    return _idempotent_send()(notification=notification)


def _notification(body: str) -> Notification:
    text = sns_message(body)
    try:
        message = json.loads(text)
        event = ItemEvent.model_validate(message)
    except ValueError as exc:  # JSONDecodeError and pydantic's ValidationError are both ValueErrors
        raise PermanentError(f"Not an item event: {exc}", reason="unknown_event") from exc
    return render(event, event_identity(event, message))


def record_handler(record: SQSRecord) -> None:
    try:
        note = _notification(record.body)
    except PermanentError as exc:
        # No retry can fix it (D6): straight to the dead-letter queue, with the reason, for an operator.
        dead_letters.send(record.body, {"reason": exc.reason, "error": exc.message[:1000]})
        metrics.add_metric(name="UnnotifiableItemEvents", unit=MetricUnit.Count, value=1)
        logger.warning("item event kept in the dead-letter queue", extra={"reason": exc.reason})
        return
    send(notification=note.model_dump())


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> Any:
    config.register_lambda_context(context)
    return process_partial_response(event, record_handler, context)
