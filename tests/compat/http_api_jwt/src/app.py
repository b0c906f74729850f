"""Who is calling: the JWT authorizer's claims and scopes as API Gateway passes them."""

import json


def whoami(event, context):
    authorizer = event["requestContext"].get("authorizer")
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json", "x-request-id": event["requestContext"]["requestId"]},
        "body": json.dumps({"routeKey": event["routeKey"], "authorizer": authorizer}),
    }
