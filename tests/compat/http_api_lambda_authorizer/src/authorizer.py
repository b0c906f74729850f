"""Lambda authorizers for an HTTP API (payload format 2.0)."""


def simple(event, context):
    """A simple response: authorized when the Authorization header is the expected token."""
    token = event["identitySource"][0]
    return {"isAuthorized": token == "let-me-in", "context": {"user": "alice", "routeArn": event["routeArn"]}}


def policy(event, context):
    """An IAM policy response: Allow the route for the key `open-sesame`, Deny otherwise."""
    allowed = event["queryStringParameters"].get("key") == "open-sesame"
    return {
        "principalId": "bob",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Action": "execute-api:Invoke",
                    "Effect": "Allow" if allowed else "Deny",
                    "Resource": event["routeArn"],
                }
            ],
        },
        "context": {"tier": "gold"},
    }
