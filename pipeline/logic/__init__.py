"""Pure domain logic: Pydantic models in and out, no boto3, no environment, no file system."""
