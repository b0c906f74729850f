"""`make bench`: how fast the embedded AWS starts, deploys and delivers. A benchmark, never a test."""

from __future__ import annotations

import json
import socket
import statistics
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from embedded_aws.stack import EmbeddedAws, poll_until

ROOT = Path(__file__).resolve().parents[2]
BENCH_TEMPLATE = ROOT / "tests" / "fixtures" / "templates" / "bench-33-resources.yaml"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _count(s3: Any, bucket: str, prefix: str) -> int:
    return int(s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("KeyCount", 0))


def run(rounds: int = 3) -> list[tuple[str, str]]:
    """Measure start, deploy, cold and warm invocations, and S3 → Lambda delivery; returns table rows."""
    starts: list[float] = []
    deploys: list[float] = []
    colds: list[float] = []
    warms: list[float] = []
    deliveries: list[float] = []
    resources = 0
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as state:
            began = time.perf_counter()
            aws = EmbeddedAws(_free_port(), state_dir=Path(state)).start()
            starts.append(time.perf_counter() - began)
            try:
                stack = aws.deploy(BENCH_TEMPLATE, "bench")
                deploys.append(stack.seconds)
                resources = len(stack.resources)
                lam, s3 = aws.client("lambda"), aws.client("s3")
                name = stack.outputs["RecorderAName"]
                event = json.dumps({"Records": []}).encode()
                for timings in (colds, warms):
                    began = time.perf_counter()
                    lam.invoke(FunctionName=name, Payload=event)
                    timings.append(time.perf_counter() - began)
                bucket = stack.outputs["BucketBName"]
                began = time.perf_counter()
                s3.put_object(Bucket=bucket, Key="uploads/x.txt", Body=b"x")
                seen = poll_until(partial(_count, s3, bucket, "seen/"), timeout_s=30)
                if not seen:
                    raise RuntimeError("the S3 → SNS → SQS → Lambda delivery did not arrive within 30 s")
                deliveries.append(time.perf_counter() - began)
            finally:
                aws.stop()

    def median_ms(values: list[float]) -> str:
        low, mid, high = (v * 1000 for v in (min(values), statistics.median(values), max(values)))
        return f"{mid:.0f} ms (min {low:.0f}, max {high:.0f})"

    return [
        ("rounds", str(rounds)),
        ("resources in the deployed stack", str(resources)),
        ("start the embedded AWS (moto server, pollers)", median_ms(starts)),
        ("deploy the template (translate, create stack, register functions)", median_ms(deploys)),
        ("start + deploy", median_ms([a + b for a, b in zip(starts, deploys, strict=True)])),
        ("Lambda invoke through the API, cold start", median_ms(colds)),
        ("Lambda invoke through the API, warm", median_ms(warms)),
        ("S3 put → SNS → SQS → Lambda → S3 put seen (warm pollers, cold function)", median_ms(deliveries)),
    ]


def main() -> None:
    console = Console()
    with console.status("Benchmarking the embedded AWS …"):
        rows = run()
    table = Table(title="Embedded AWS", title_justify="left")
    table.add_column("Measure")
    table.add_column("Median")
    for row in rows:
        table.add_row(*row)
    console.print(table)


if __name__ == "__main__":
    main()
