"""`make bench`: the project's template under the embedded AWS, under load. A benchmark, never a test.

One table: deploy time, files/s (cold and warm rounds of one-megapixel JPEGs put at once), change events/s,
local cold start per handler, the embedded AWS's own CPU against the handlers' CPU, and peak memory; then the
rows of the cold-import and thumbnail benchmarks (`bench_imports`, `bench_images`), each against its reference
measured in the same run. Times are wall-clock on whatever else this machine is doing: compare ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from embedded_aws.stack import DeployedStack, EmbeddedAws, poll_until
from pipeline.cli import bench_images, bench_imports, changes, samples, uploads
from pipeline.client import ChangeClient

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_INIT = re.compile(r"Init Duration: ([0-9.]+) ms")

Row = tuple[str, str, str]  # measure, value, goal or reference


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds of the process and of its reaped children), or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    ppid = int(fields[1])
    utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
    return ppid, (utime + stime + cutime + cstime) / _CLOCK_TICKS


def _descendants(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            parents[int(entry.name)] = stat[0]
    found, frontier = [], [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        found.extend(children)
        frontier.extend(children)
    return found


def _pss_mb(pid: int) -> float:
    """Proportional set size (shared pages split between the processes sharing them), in MB."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return 0.0
    return 0.0


@dataclass
class Usage:
    """CPU seconds of this process (the embedded AWS and the load generator) and of its descendants (the
    Lambda workers and their fork servers), and the peak memory of all of them together."""

    own_cpu_s: float = 0.0
    workers_cpu_s: float = 0.0
    peak_mb: float = 0.0
    samples: list[float] = field(default_factory=list)


def _cpu() -> tuple[float, float]:
    me = os.getpid()
    times = os.times()
    own = times.user + times.system
    workers = times.children_user + times.children_system
    for pid in _descendants(me):
        stat = _stat(pid)
        if stat is not None:
            workers += stat[1]
    return own, workers


@contextmanager
def _measured() -> Iterator[Usage]:
    """CPU used inside the block (this process vs its descendants) and the peak PSS sampled every 0.5 s."""
    usage = Usage()
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.5):
            me = os.getpid()
            usage.peak_mb = max(usage.peak_mb, sum(_pss_mb(p) for p in [me, *_descendants(me)]))

    sampler = threading.Thread(target=sample, name="bench-memory", daemon=True)
    own0, workers0 = _cpu()
    sampler.start()
    try:
        yield usage
    finally:
        stop.set()
        sampler.join()
        own1, workers1 = _cpu()
        usage.own_cpu_s, usage.workers_cpu_s = own1 - own0, workers1 - workers0


def _photos(count: int, seed: int) -> list[tuple[str, bytes]]:
    """One-megapixel camera JPEGs (1155 x 866), each different."""
    return [
        (f"photo-{seed}-{n:03d}.jpg", samples.photo_jpeg(1155, 866, orientation=1, seed=seed * 1000 + n))
        for n in range(count)
    ]


def _listing_count(stack: uploads.Stack, collection: str) -> int:
    s3 = stack.client("s3")  # made once per stack
    try:
        body = s3.get_object(Bucket=stack.outputs["PublicBucketName"], Key=f"collections/{collection}.json")
    except s3.exceptions.NoSuchKey:
        return 0
    return int(json.loads(body["Body"].read())["count"])


def _files_round(stack: uploads.Stack, files: list[tuple[str, bytes]], collection: str) -> tuple[float, str]:
    """Put every file at once; seconds until the collection lists them all, and what became of them."""
    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=16) as pool:
        batches = list(pool.map(lambda f: uploads.upload(stack, [f], collection), files))
    done = poll_until(lambda: _listing_count(stack, collection) >= len(files), timeout_s=600, interval_s=0.2)
    seconds = time.perf_counter() - began
    outcomes = [uploads.check(stack, o) for batch in batches for o in batch]
    states = {state: sum(o.state == state for o in outcomes) for state in ("published", "quarantined")}
    summary = f"{states['published']} published, {states['quarantined']} quarantined"
    if not done:
        summary += f"; the listing never reached {len(files)}"
    return seconds, summary


def _change_events(count: int, seed: int) -> list[dict[str, Any]]:
    """`count` changes to count/10 records, ten sequences each, every fourth record ends deleted."""
    rng = random.Random(seed)
    events = []
    for n in range(count // 10):
        for sequence in range(1, 11):
            event: dict[str, Any] = {
                "schema_version": 1,
                "source": "bench",
                "entity": "product",
                "id": f"p{n:03d}",
                "op": "delete" if n % 4 == 0 and sequence == 10 else "upsert",
                "sequence": sequence,
                "occurred_at": f"2026-11-30T10:{sequence:02d}:00Z",
            }
            if event["op"] == "upsert":
                event["data"] = {"price": rng.randint(1, 10_000)}
            events.append(event)
    rng.shuffle(events)
    return events


def _changes_round(aws: EmbeddedAws, deployed: DeployedStack, stack: uploads.Stack, count: int) -> float:
    """Emit shuffled change events at once; seconds until the public JSON is right and the queue empty."""
    events = _change_events(count, seed=7)
    expected = changes.expected_state(events)
    sqs = aws.client("sqs")
    queue = deployed.physical_id("ChangesQueue")

    def settled() -> bool:
        attributes = sqs.get_queue_attributes(
            QueueUrl=queue,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        if any(int(v) for v in attributes.values()):
            return False
        documents, listing = changes.public_records(stack, "product")
        return not changes.state_differences(expected, documents, listing)

    client = ChangeClient(stack.outputs["ChangeEventsTopicArn"], aws.client("sns"))
    began = time.perf_counter()
    results = client.emit(events)
    if not all(r.ok for r in results):
        raise RuntimeError(f"change events refused: {[r.error for r in results if not r.ok][:3]}")
    if not poll_until(settled, timeout_s=600, interval_s=0.5):
        raise RuntimeError("the change events did not settle within 600 s")
    return time.perf_counter() - began


def _cold_starts(aws: EmbeddedAws, names: set[str]) -> list[float]:
    """Init durations (ms) of these functions' workers, read from the REPORT lines of their logs."""
    inits: list[float] = []
    for name, (_, _, log_path) in aws.runtime.stats().items():
        if name in names and log_path.exists():
            inits.extend(float(m) for m in _INIT.findall(log_path.read_text(errors="replace")))
    return inits


def _files_row(
    stack: uploads.Stack, files: list[tuple[str, bytes]], label: str, goal: str
) -> tuple[Row, Usage]:
    """One round of files put at once: its table row and what it cost."""
    with _measured() as usage:
        seconds, summary = _files_round(stack, files, label)
    rate = f"{len(files) / seconds:.1f} files/s"
    return (f"{len(files)} 1 MP JPEGs at once, {label}", rate, f"{goal}: {summary}"), usage


def run_stack(files: int = 60, events: int = 200, workers: int | None = None) -> list[Row]:
    """Deploy the project's template and push files and change events through it; returns table rows."""
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as state:
        aws = EmbeddedAws(_free_port(), state_dir=Path(state), workers=workers).start()
        try:
            deploys = []
            for n in range(3):
                deployed = aws.deploy(TEMPLATE, f"bench{n}")
                deploys.append(deployed.seconds)
                if n < 2:
                    aws.delete(f"bench{n}")
            rows.append(
                ("deploy template.yaml (median of 3)", f"{statistics.median(deploys):.2f} s", "≤ 2 s")
            )
            stack = uploads.Stack(deployed.outputs, aws.endpoint_url, aws.region)
            cold_files, warm_files = _photos(files, seed=1), _photos(files, seed=2)
            cold_row, cold_usage = _files_row(stack, cold_files, "cold", "≥ 6")
            rows.append(cold_row)
            names = {config.name for config in deployed.functions.values()}
            inits = _cold_starts(aws, names)
            if inits:
                rows.append(
                    (
                        f"local cold start (init), {len(inits)} workers",
                        f"{statistics.median(inits):.0f} ms median",
                        f"≤ 150 ms (max {max(inits):.0f})",
                    )
                )
            warm_row, warm_usage = _files_row(stack, warm_files, "warm", "≥ 10")
            rows.append(warm_row)
            for label, usage in (("cold", cold_usage), ("warm", warm_usage)):
                rows.append(
                    (
                        f"CPU in the {label} round: embedded AWS / handlers",
                        f"{usage.own_cpu_s:.1f} s / {usage.workers_cpu_s:.1f} s",
                        f"peak memory {usage.peak_mb:.0f} MB (PSS)",
                    )
                )
            with _measured() as change_usage:
                change_s = _changes_round(aws, deployed, stack, events)
            rows.append(
                (
                    f"{events} change events at once (shuffled)",
                    f"{events / change_s:.1f} events/s",
                    f"CPU {change_usage.own_cpu_s:.1f} s / {change_usage.workers_cpu_s:.1f} s",
                )
            )
            every = aws.runtime.stats()
            for name, (_, stats, _) in sorted(every.items()):
                if stats.invocations and name in names:
                    short = name.split("-")[1] if name.count("-") >= 2 else name
                    rows.append(
                        (
                            f"  {short}",
                            f"{stats.total_ms / stats.invocations:.0f} ms mean",
                            f"{stats.invocations} calls, {stats.cold_starts} cold",
                        )
                    )
            timeouts = sum(stats.timeouts for _, stats, _ in every.values())
            rows.append(("function timeouts in the whole run", str(timeouts), "0"))
        finally:
            aws.stop()
    return rows


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _import_rows(repeat: int = 5) -> list[Row]:
    """Each handler's cold import against the floor (`import boto3` + one client), paired in the same run."""
    rows = bench_imports.measure(repeat)
    floor, handlers = rows[0], rows[1:]
    out: list[Row] = [("cold import floor (boto3 + a client)", f"{floor.median_ms:.0f} ms", "1.00x")]
    for row in handlers:
        out.append(
            (
                f"cold import {row.name}",
                f"{row.median_ms:.0f} ms = {row.ratio:.2f}x floor",
                f"<= 1.2x (CPU {row.cpu_ratio:.2f}x)",
            )
        )
    return out


def _section(console: Console, title: str, measure: Callable[[], list[Row]]) -> list[Row]:
    with console.status(f"Benchmarking: {title} …"):
        return measure()


def main(argv: list[str] | None = None) -> None:
    """Print the combined table (or JSON with --json)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=60)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--only", choices=("stack", "imports", "images"), default=None)
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)
    console = Console(stderr=args.json)
    sections: list[tuple[str, Callable[[], list[Row]]]] = [
        ("stack", lambda: run_stack(args.files, args.events, args.workers)),
        ("imports", _import_rows),
        ("images", lambda: bench_images.combined_rows(repeat=5)),
    ]
    rows: list[Row] = []
    for name, measure in sections:
        if args.only in (None, name):
            rows.extend(_section(console, name, measure))
    if args.json:
        print(json.dumps([{"measure": m, "value": v, "goal": g} for m, v, g in rows], indent=2))
        return
    table = Table(title="make bench", title_justify="left")
    table.add_column("Measure", overflow="fold")
    table.add_column("Value", overflow="fold")
    table.add_column("Goal / reference", overflow="fold")
    for row in rows:
        table.add_row(*row)
    console.print(table)


if __name__ == "__main__":
    main()
