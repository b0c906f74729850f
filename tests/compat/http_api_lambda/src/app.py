"""Handlers behind the HTTP API: each answers what API Gateway gave it, or fails the way a test wants."""

import json
import time


def echo(event, context):
    """Answer 200 with the event the function saw, plus a header and a cookie of its own."""
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json", "x-handler": "echo"},
        "cookies": ["seen=1; Path=/"],
        "body": json.dumps(event),
    }


def boom(event, context):
    raise RuntimeError("the handler failed")


def plain(event, context):
    """A plain dict without statusCode: payload format 2.0 makes it a 200 JSON answer."""
    return {"hello": "world", "items": [1, 2]}


def slow(event, context):
    """2.5 s, past the route's 1 s integration timeout; `?fast=1` answers at once (to warm the function)."""
    if (event.get("queryStringParameters") or {}).get("fast"):
        return {"statusCode": 200, "body": "warm"}
    time.sleep(2.5)
    return {"statusCode": 200, "body": "too late"}
