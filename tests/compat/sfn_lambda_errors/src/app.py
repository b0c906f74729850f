"""A payment step: the gateway is sometimes busy, some cards are declined."""


class GatewayBusy(Exception):
    """The payment gateway asked us to come back later."""


class PaymentDeclined(Exception):
    """The card issuer refused the payment."""


def charge(event, context):
    order = event["order"]
    if order.get("card") == "declined":
        raise PaymentDeclined(f"Card for order {order['id']} was declined")
    if event.get("attempt", 0) < order.get("busy_times", 0):
        raise GatewayBusy(f"Gateway busy on attempt {event.get('attempt', 0)}")
    if order.get("card") == "broken":
        raise KeyError("card_number")
    return {"order_id": order["id"], "status": "charged", "attempt": event.get("attempt", 0)}


def oversized(event, context):
    return {"blob": "x" * (300 * 1024)}
