"""Pricing order lines and processing batches of records."""

PRICES = {"apple": 30, "pear": 45, "plum": 20}


class UnknownSku(Exception):
    """No price is known for this SKU."""


class BadRecord(Exception):
    """A record in the batch cannot be processed."""


def price(event, context):
    line = event["line"]
    if line["sku"] not in PRICES:
        raise UnknownSku(f"No price for {line['sku']}")
    return {
        "index": event["index"],
        "sku": line["sku"],
        "total": PRICES[line["sku"]] * line["qty"],
        "currency": event["currency"],
    }


def batch(event, context):
    items = event["Items"]
    if any(item.get("bad") for item in items):
        raise BadRecord(f"Batch with {[item['id'] for item in items]} has a bad record")
    return {"source": event["BatchInput"]["source"], "ids": [item["id"] for item in items]}
