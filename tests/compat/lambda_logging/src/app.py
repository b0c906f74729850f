import logging
import os

logger = logging.getLogger()
if os.environ.get("ROOT_LOG_LEVEL"):
    logger.setLevel(os.environ["ROOT_LOG_LEVEL"])


def handler(event, context):
    logger.debug("debug detail for %s", event["order"])
    logger.info("order %s received", event["order"])
    logger.warning("stock low", extra={"sku": "A-1"})
    print("a plain print line")
    try:
        1 / 0
    except ZeroDivisionError:
        logger.exception("could not split order %s", event["order"])
    return {"order": event["order"]}
