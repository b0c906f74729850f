"""The only modules that import boto3 (DESIGN.md D5)."""
