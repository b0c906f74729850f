import os


def handler(event, context):
    names = [
        "FEATURE_ON",
        "FEATURE_OFF",
        "RELEASED",
        "MODE",
        "LOG_LEVEL",
        "TABLE_ARN",
        "TABLE_REF",
        "JOINED",
        "ZONE",
        "ENCODED",
        "ONLY_PROD",
        "CHOSEN",
    ]
    return {name: os.environ.get(name) for name in names}
