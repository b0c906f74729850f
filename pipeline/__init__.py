"""Event-driven file and data publishing pipeline on AWS serverless."""

__version__ = "0.1.0"
