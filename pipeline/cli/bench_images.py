"""`python -m pipeline.cli.bench_images`: thumbnails of a 12 MP photo, D10's pipeline against naive Pillow.

A benchmark, never a test. Times are medians of in-process runs after one warm-up. Peak memory is the peak
resident set of a fresh child process per variant (Linux: `VmHWM` from /proc/self/status; elsewhere
`resource.getrusage(RUSAGE_SELF).ru_maxrss`), and that peak minus the child's own baseline after imports and
reading the file. Not `tracemalloc`: Pillow allocates pixel memory in C, outside Python's allocator. Not a
bare `ru_maxrss` on Linux either: it survives fork and exec, so a child would report the parent's peak.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from io import BytesIO
from pathlib import Path

import PIL
from PIL import Image, features
from rich.console import Console
from rich.table import Table

from pipeline.cli.samples import photo_jpeg
from pipeline.logic.images import decode_for_thumbnails, make_thumbnails, naive_thumbnails

WIDTHS = (128, 512, 1024)
Thumbnailer = Callable[[bytes, Sequence[int], str], object]


def _decode_floor(data: bytes, widths: Sequence[int], fmt: str) -> object:
    """The least any JPEG thumbnailer must do: decode at 1/8 scale (no resize, no encode)."""
    del widths, fmt
    with Image.open(BytesIO(data)) as im:
        im.draft("RGB", (im.width // 8, im.height // 8))
        im.load()
        return im.size


def _no_encode(data: bytes, widths: Sequence[int], fmt: str) -> object:
    """make_thumbnails' decode, orientation and chained LANCZOS reductions, without encoding."""
    del fmt
    current = decode_for_thumbnails(data, widths)
    for width in sorted(set(widths), reverse=True):
        size = (width, max(1, round(width * current.height / current.width)))
        current = current.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return current.size


#: name → (what it is, the function measured).
VARIANTS: dict[str, tuple[str, Thumbnailer]] = {
    "naive": ("full decode; exif_transpose; LANCZOS from full size per width; encode", naive_thumbnails),
    "make_thumbnails": ("D10: draft decode; orientation; chained reductions; encode", make_thumbnails),
    "no encoding": ("the same decode, orientation and reductions, no encoding", _no_encode),
    "decode floor": ("draft 1/8 decode only", _decode_floor),
}


def _peak_rss_mib() -> float:
    """This process's peak resident set so far, in MiB."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024  # macOS: bytes; else KiB


def _child(variant: str, path: str, widths: Sequence[int], fmt: str) -> None:
    """Run one variant once in this (fresh) process and print its peak RSS and its baseline, in MiB."""
    data = Path(path).read_bytes()
    Image.init()
    features.check("webp")
    baseline = _peak_rss_mib()
    VARIANTS[variant][1](data, widths, fmt)
    print(json.dumps({"baseline": baseline, "peak": _peak_rss_mib()}))


def _memory(variant: str, path: Path, widths: Sequence[int], fmt: str) -> tuple[float, float]:
    """(peak RSS, peak minus baseline) in MiB, measured in a separate child process."""
    command = [sys.executable, "-m", "pipeline.cli.bench_images", "--child", variant, str(path)]
    command += ["--widths", ",".join(map(str, widths)), "--format", fmt]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return float(figures["peak"]), float(figures["peak"]) - float(figures["baseline"])


def _time(function: Thumbnailer, data: bytes, widths: Sequence[int], fmt: str, repeat: int) -> list[float]:
    function(data, widths, fmt)  # warm-up: plugin imports, encoder set-up
    runs = []
    for _ in range(repeat):
        began = time.perf_counter()
        function(data, widths, fmt)
        runs.append((time.perf_counter() - began) * 1000)
    return runs


def run(
    *, repeat: int = 7, widths: Sequence[int] = WIDTHS, fmt: str = "webp", console: Console | None = None
) -> dict[str, float]:
    """Measure every variant on a 4000x3000 photo-like JPEG with EXIF orientation 6; print a table."""
    console = console or Console()
    data = photo_jpeg(4000, 3000, orientation=6, gps=True, seed=0)
    title = f"Thumbnails {','.join(map(str, widths))} px {fmt} of a 12 MP JPEG ({len(data) / 1e6:.1f} MB)"
    table = Table(title=title)
    for column in ("variant", "median ms", "min ms", "peak RSS MiB", "over baseline MiB"):
        table.add_column(column, justify="left" if column == "variant" else "right")
    medians: dict[str, float] = {}
    outputs: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "photo.jpg"
        path.write_bytes(data)
        for name, (_, function) in VARIANTS.items():
            label = f"  {name}" if function is _no_encode else name
            peak, over = _memory(name, path, widths, fmt)
            runs = _time(function, data, widths, fmt, repeat)
            medians[name] = statistics.median(runs)
            table.add_row(label, f"{medians[name]:.0f}", f"{min(runs):.0f}", f"{peak:.0f}", f"{over:.0f}")
            result = function(data, widths, fmt)
            if isinstance(result, list):
                outputs[name] = ", ".join(f"{r.width}x{r.height} {r.bytes / 1024:.0f} KiB" for r, _ in result)
    console.print(table)
    for name, (what, _) in VARIANTS.items():
        console.print(f"  [bold]{name}[/bold]: {what}" + (f" → {outputs[name]}" if name in outputs else ""))
    medians["ratio"] = medians["naive"] / medians["make_thumbnails"]
    versions = (
        f"Python {platform.python_version()}, Pillow {PIL.__version__}, "
        f"libjpeg-turbo {features.version('libjpeg_turbo') or '-'}, "
        f"libwebp {features.version('webp') or '-'}, "
        f"{os.cpu_count()} CPU(s)"
    )
    console.print(
        f"make_thumbnails is [bold]{medians['ratio']:.1f}x[/bold] faster than naive "
        f"({repeat} runs each after a warm-up). {versions}. "
        "Memory: peak RSS (VmHWM) of a fresh child process per variant."
    )
    return medians


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--widths", default=",".join(map(str, WIDTHS)))
    parser.add_argument("--format", default="webp", choices=["webp", "jpeg"])
    parser.add_argument("--child", nargs=2, metavar=("VARIANT", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    widths = [int(w) for w in args.widths.split(",")]
    if args.child:
        _child(args.child[0], args.child[1], widths, args.format)
    else:
        run(repeat=args.repeat, widths=widths, fmt=args.format)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
