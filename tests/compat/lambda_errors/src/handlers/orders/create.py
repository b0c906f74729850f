def lambda_handler(event, context):
    return {"module": __name__}
