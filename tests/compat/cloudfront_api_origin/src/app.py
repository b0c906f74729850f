"""The origin behind the distribution: answers with the request headers API Gateway passed it."""

import json


def headers(event, context):
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps({"headers": event.get("headers") or {}}),
    }
