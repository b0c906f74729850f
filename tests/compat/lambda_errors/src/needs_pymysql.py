import pymysql  # not in Lambda's runtime: it must be packaged with the function


def handler(event, context):
    return pymysql.__version__
