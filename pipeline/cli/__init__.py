"""The `pipeline` command and the pipeline's local tools (demo, samples, ingest, emit, replay, benchmarks).

Never part of the Lambda artifact. It drives a deployed stack through AWS APIs, and `pipeline up` / `demo`
start the embedded AWS (`embedded_aws`), which knows nothing of the pipeline.
"""
