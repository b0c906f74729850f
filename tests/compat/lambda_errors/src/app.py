import sys
from decimal import Decimal


class OrderRejected(Exception):
    pass


def reject(order_id):
    raise OrderRejected(f"order {order_id} has no items")


def raises(event, context):
    reject(event.get("order", "o-1"))


def returns_a_set(event, context):
    return {"tags": {"a", "b"}}


def returns_decimals(event, context):
    return {"price": Decimal("19.5"), "count": Decimal("3")}


def exits(event, context):
    sys.exit(2)
