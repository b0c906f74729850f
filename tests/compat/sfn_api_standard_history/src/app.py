"""Approves orders up to a limit; an order without a total is invalid."""

LIMIT = 100


class InvalidOrder(Exception):
    """The order has no total."""


def handler(event, context):
    if "total" not in event:
        raise InvalidOrder(f"Order {event.get('orderId')} has no total")
    return {"approved": event["total"] <= LIMIT}
