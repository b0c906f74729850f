import os
import sys
import tempfile


def lambda_handler(event, context):
    try:
        import boto3

        boto3_version = boto3.__version__
    except ImportError:
        boto3_version = None
    with tempfile.NamedTemporaryFile(dir="/tmp") as scratch:
        scratch.write(b"ok")
        scratch.flush()
        tmp_writable = os.path.getsize(scratch.name) == 2
    return {
        "version": list(sys.version_info[:2]),
        "boto3": boto3_version,
        "execution_env": os.environ["AWS_EXECUTION_ENV"],
        "task_root": os.environ["LAMBDA_TASK_ROOT"],
        "runtime_dir": os.environ.get("LAMBDA_RUNTIME_DIR"),
        "cwd": os.getcwd(),
        "tmp_writable": tmp_writable,
        "request_id": context.aws_request_id,
        "function_name": context.function_name,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "invoked_function_arn": context.invoked_function_arn,
    }
