"""Marks an input processed; an input flagged invalid is refused."""


class InvalidInput(Exception):
    """The input is flagged invalid."""


def handler(event, context):
    if event.get("invalid"):
        raise InvalidInput("The input is flagged invalid")
    return {**event, "processed": True}
