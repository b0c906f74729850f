"""The embedded AWS: run a SAM or CloudFormation template on this machine, with no Docker and no account.

moto in server mode answers the AWS APIs; this package adds what moto does not do as AWS does: template
loading, the CloudFormation models moto skips, a local Lambda runtime, SQS event source pollers, Step
Functions, EventBridge delivery. It is a package of its own (DESIGN.md D14): it imports nothing from the
pipeline, and it never goes into a Lambda artifact.

Importing the package is cheap (errors only); `embedded_aws.stack.EmbeddedAws` starts it.
"""
