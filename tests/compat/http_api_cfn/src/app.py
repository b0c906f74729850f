"""Greets the path's name with the stage's greeting."""

import json


def hello(event, context):
    greeting = (event.get("stageVariables") or {}).get("greeting", "Hi")
    name = (event.get("pathParameters") or {}).get("name", "nobody")
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps({"message": f"{greeting}, {name}", "stage": event["requestContext"]["stage"]}),
    }
