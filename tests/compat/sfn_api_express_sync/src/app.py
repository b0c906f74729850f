"""Greets a caller by name; a missing name is the caller's mistake."""


class MissingName(Exception):
    """The input has no name to greet."""


def handler(event, context):
    name = event.get("name")
    if not name:
        raise MissingName("The input has no 'name' to greet")
    # A caller may ask for the greeting repeated (a large result).
    return {"greeting": f"Hello, {name}!" * int(event.get("times", 1))}
