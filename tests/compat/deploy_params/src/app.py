import os


def handler(event, context):
    return {"environment": os.environ["ENVIRONMENT"]}
