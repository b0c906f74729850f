import sys

from greetings import greet


def handler(event, context):
    result = {"greeting": greet(event.get("name", "world"))}
    if event.get("powertools"):
        from aws_lambda_powertools import Logger

        Logger(service="layers").info("powertools from its layer")
        result["powertools"] = True
    result["layer_on_path"] = any(p.endswith("python") for p in sys.path)
    return result
