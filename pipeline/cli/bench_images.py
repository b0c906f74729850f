"""`python -m pipeline.cli.bench_images`: our thumbnails (D10) against pyvips (libvips) in one run.

A benchmark, never a test. Both sides make the same renditions from the same bytes: widths 1024/512/128 (never
upscaled), EXIF orientation applied, an embedded ICC profile converted to sRGB, no metadata in the outputs,
WebP at quality 80 and the pipeline's effort (`WEBP_METHOD`), JPEG at quality 80 with optimised Huffman tables
and progressive scans. pyvips does what a good libvips user does: `thumbnail_buffer` (shrink-on-load) to the
largest width, kept in memory, then `thumbnail_image` from it for each smaller width; `export_profile="srgb"`
only when the input has a profile (without one, libvips would transform from an assumed sRGB for nothing).
libvips uses its own threads (one per CPU), and so do we (`make_thumbnails`' strips and parallel encodes).

Times are medians of wall-clock runs after a warm-up, the variants interleaved run by run so a busy machine
slows them alike; CPU time (all threads of the process) is reported beside, as it is steadier on a shared
machine. The decode floor is what any thumbnailer built on libjpeg-turbo must spend: the JPEG decoded at the
DCT scale that covers the largest width (libvips' shrink-on-load uses the same scales), or a full decode.
Quality: PSNR of each side's largest rendition, as encoded, against Pillow LANCZOS from the full-size decode.
pyvips is a bench-only dependency (`pip install -e '.[bench]'`); without it that column is skipped.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from io import BytesIO, StringIO
from pathlib import Path
from typing import Any

import PIL
from PIL import ExifTags, Image, ImageChops, ImageOps, features
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pipeline.cli.samples import photo_jpeg
from pipeline.logic.images import THUMBNAIL_QUALITY, WEBP_METHOD, make_thumbnails

WIDTHS = (1024, 512, 128)
FORMATS = ("webp", "jpeg")
#: A height no image reaches: pyvips then fits the width alone.
_NO_HEIGHT_LIMIT = 10_000_000
#: The WebP effort both sides use (Pillow's `method`, libvips' `effort`): the one the pipeline uses.
WEBP_EFFORT = WEBP_METHOD

Thumbnailer = Callable[[bytes, Sequence[int], str], list[bytes]]


@dataclass
class Row:
    """One input and format: medians in ms (wall and CPU), output sizes in bytes, PSNR in dB."""

    input: str
    format: str
    ours_ms: float
    floor_ms: float
    ours_cpu_ms: float
    floor_cpu_ms: float
    ours_bytes: list[int]
    ours_psnr: float
    pyvips_ms: float | None = None
    pyvips_cpu_ms: float | None = None
    pyvips_bytes: list[int] = field(default_factory=list)
    pyvips_psnr: float | None = None

    @property
    def ratio(self) -> float | None:
        """ours / pyvips, wall clock: below 1 means ours is faster."""
        return None if self.pyvips_ms is None else self.ours_ms / self.pyvips_ms

    @property
    def cpu_ratio(self) -> float | None:
        return None if self.pyvips_cpu_ms is None else self.ours_cpu_ms / self.pyvips_cpu_ms


def ours(data: bytes, widths: Sequence[int], fmt: str) -> list[bytes]:
    return [blob for _, blob in make_thumbnails(data, widths, fmt)]


def pyvips_thumbnails(data: bytes, widths: Sequence[int], fmt: str) -> list[bytes]:
    """The libvips way: shrink-on-load to the largest width, in memory, then each smaller one from it."""
    import pyvips  # bench-only: never imported by the Lambda code

    header = pyvips.Image.new_from_buffer(data, "")  # header only: libvips is lazy
    colour: dict[str, Any] = {"export_profile": "srgb"} if "icc-profile-data" in header.get_fields() else {}
    none = pyvips.enums.ForeignKeep.NONE  # no metadata at all, ICC profile included
    largest = pyvips.Image.thumbnail_buffer(
        data, max(widths), height=_NO_HEIGHT_LIMIT, size="down", **colour
    ).copy_memory()
    blobs = []
    for width in sorted({min(width, largest.width) for width in widths}, reverse=True):  # as ours: no repeats
        image = largest
        if width < largest.width:
            image = largest.thumbnail_image(width, height=_NO_HEIGHT_LIMIT, size="down")
        if fmt == "webp":
            blob = image.webpsave_buffer(Q=THUMBNAIL_QUALITY, effort=WEBP_EFFORT, keep=none)
        else:
            blob = image.jpegsave_buffer(Q=THUMBNAIL_QUALITY, optimize_coding=True, interlace=True, keep=none)
        blobs.append(blob)
    return blobs


def decode_floor(data: bytes, widths: Sequence[int], fmt: str) -> list[bytes]:
    """JPEG: decode at the smallest DCT scale covering the largest width (as shown); else in full."""
    del fmt
    with Image.open(BytesIO(data)) as im:
        if im.format in ("JPEG", "MPO"):
            turned = im.getexif().get(ExifTags.Base.Orientation) in (5, 6, 7, 8)
            shown_w, shown_h = (im.height, im.width) if turned else im.size
            width = min(max(widths), shown_w)
            height = max(1, round(width * shown_h / shown_w))
            im.draft("RGB", (height, width) if turned else (width, height))
        im.load()
    return []


def _pyvips_available() -> str | None:
    """None if pyvips and a libvips load, else why not."""
    try:
        import pyvips
    except (ImportError, OSError) as exc:  # OSError: pyvips present, libvips missing
        return f"{type(exc).__name__}: {exc}"
    del pyvips
    return None


def _psnr(blob: bytes, full: Image.Image) -> float:
    """PSNR in dB of an encoded rendition against Pillow LANCZOS from the full-size image, at its own size."""
    with Image.open(BytesIO(blob)) as out:
        got = out.convert("RGB")
    reference = full.resize(got.size, Image.Resampling.LANCZOS)
    histogram = ImageChops.difference(got, reference).histogram()
    squared = sum((index % 256) ** 2 * count for index, count in enumerate(histogram))
    mse = squared / (got.width * got.height * 3)
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


def _reference(data: bytes) -> Image.Image:
    """The full-size, oriented, RGB image (sRGB samples are assumed; the test inputs are sRGB)."""
    with Image.open(BytesIO(data)) as im:
        return ImageOps.exif_transpose(im).convert("RGB")


def sample_inputs() -> dict[str, bytes]:
    """Generated with fixed seeds: a 12 MP camera JPEG (orientation 6) and a 2 MP one with an sRGB profile."""
    return {
        "12MP JPEG rot6": photo_jpeg(4000, 3000, orientation=6, gps=True, seed=0),
        "2MP JPEG sRGB ICC": photo_jpeg(2000, 1072, orientation=1, gps=False, seed=1, icc=True),
    }


def _measure(
    variants: dict[str, Thumbnailer], data: bytes, widths: Sequence[int], fmt: str, repeat: int
) -> dict[str, tuple[float, float]]:
    """(median wall ms, median CPU ms) per variant, runs interleaved after one warm-up each."""
    for function in variants.values():
        function(data, widths, fmt)
    wall: dict[str, list[float]] = {name: [] for name in variants}
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeat):
        for name, function in variants.items():
            began, began_cpu = time.perf_counter(), time.process_time()
            function(data, widths, fmt)
            wall[name].append((time.perf_counter() - began) * 1000)
            cpu[name].append((time.process_time() - began_cpu) * 1000)
    return {name: (statistics.median(wall[name]), statistics.median(cpu[name])) for name in variants}


def run(
    *,
    repeat: int = 7,
    widths: Sequence[int] = WIDTHS,
    formats: Sequence[str] = FORMATS,
    inputs: dict[str, bytes] | None = None,
    console: Console | None = None,
) -> list[Row]:
    """Measure every input and format, print one table (80 columns) and its notes, return the rows."""
    console = console or Console(width=80)
    inputs = sample_inputs() if inputs is None else inputs
    missing = _pyvips_available()
    variants: dict[str, Thumbnailer] = {"ours": ours, "floor": decode_floor}
    if missing is None:
        variants["pyvips"] = pyvips_thumbnails
    rows: list[Row] = []
    for name, data in inputs.items():
        full = _reference(data)
        for fmt in formats:
            figures = _measure(variants, data, widths, fmt, repeat)
            our_blobs = ours(data, widths, fmt)
            row = Row(
                input=name,
                format=fmt,
                ours_ms=figures["ours"][0],
                ours_cpu_ms=figures["ours"][1],
                floor_ms=figures["floor"][0],
                floor_cpu_ms=figures["floor"][1],
                ours_bytes=[len(blob) for blob in our_blobs],
                ours_psnr=_psnr(our_blobs[0], full),
            )
            if "pyvips" in figures:
                their_blobs = pyvips_thumbnails(data, widths, fmt)
                row.pyvips_ms, row.pyvips_cpu_ms = figures["pyvips"]
                row.pyvips_bytes = [len(blob) for blob in their_blobs]
                row.pyvips_psnr = _psnr(their_blobs[0], full)
            rows.append(row)
    console.print(table(rows, widths))
    notes(rows, repeat, console, missing)
    return rows


def combined_rows(repeat: int = 5) -> list[tuple[str, str, str]]:
    """(measure, value, goal / reference) rows for `make bench`'s combined table; prints nothing."""
    rows = run(repeat=repeat, console=Console(file=StringIO(), width=80))
    combined = []
    for row in rows:
        measure = f"thumbnails {row.input} -> {row.format}"
        value = f"ours {row.ours_ms:.0f} ms (CPU {row.ours_cpu_ms:.0f})"
        if row.pyvips_ms is None or row.ratio is None or row.cpu_ratio is None:
            reference = f"pyvips not installed; decode floor {row.floor_ms:.0f} ms"
        else:
            value += f" = {row.ratio:.2f}x pyvips (CPU {row.cpu_ratio:.2f}x)"
            reference = (
                f"< 1.00x pyvips {row.pyvips_ms:.0f} ms (CPU {row.pyvips_cpu_ms:.0f}), same run; "
                f"decode floor {row.floor_ms:.0f} ms"
            )
        combined.append((measure, value, reference))
    return combined


def table(rows: Sequence[Row], widths: Sequence[int] = WIDTHS) -> Table:
    """input | format | ours ms | pyvips ms | ratio | decode floor ms (wall-clock medians)."""
    title = f"Thumbnails {'/'.join(map(str, widths))} px: ours vs pyvips (libvips), same run"
    result = Table(title=title, width=80)
    result.add_column("input")
    result.add_column("format")
    for column in ("ours ms", "pyvips ms", "ratio", "decode floor ms"):
        result.add_column(column, justify="right")
    for row in rows:
        result.add_row(
            escape(row.input),
            row.format,
            f"{row.ours_ms:.0f}",
            "-" if row.pyvips_ms is None else f"{row.pyvips_ms:.0f}",
            "-" if row.ratio is None else f"{row.ratio:.2f}",
            f"{row.floor_ms:.0f}",
        )
    return result


def notes(rows: Sequence[Row], repeat: int, console: Console, missing: str | None = None) -> None:
    """What the table does not say: CPU time, output sizes, quality, versions."""
    if missing is not None:
        console.print("pyvips skipped: not installed or no libvips; pip install -e '.[bench]'", markup=False)
        console.print(f"  ({missing})", markup=False)
    for row in rows:
        kib = "/".join(f"{size / 1024:.0f}" for size in row.ours_bytes)
        line = f"{row.input} {row.format}: CPU ms ours {row.ours_cpu_ms:.0f}"
        if row.pyvips_cpu_ms is not None and row.cpu_ratio is not None:
            line += f", pyvips {row.pyvips_cpu_ms:.0f} (ratio {row.cpu_ratio:.2f})"
        line += f"; KiB ours {kib}"
        if row.pyvips_bytes:
            line += " pyvips " + "/".join(f"{size / 1024:.0f}" for size in row.pyvips_bytes)
        line += f"; PSNR ours {row.ours_psnr:.2f}"
        if row.pyvips_psnr is not None:
            line += f" pyvips {row.pyvips_psnr:.2f} dB"
        console.print(line)
    vips_version = ""
    if missing is None:
        import pyvips

        vips_version = f", libvips {pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}"
    console.print(
        f"Medians of {repeat} interleaved runs after a warm-up; ratio = ours/pyvips, wall clock "
        f"(below 1: ours faster). Python {platform.python_version()}, Pillow {PIL.__version__}, "
        f"libjpeg-turbo {features.version('libjpeg_turbo') or '-'}, "
        f"libwebp {features.version('webp') or '-'}{vips_version}, {os.cpu_count()} CPU(s)."
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--widths", default=",".join(map(str, WIDTHS)))
    parser.add_argument("--format", choices=[*FORMATS, "both"], default="both")
    parser.add_argument(
        "--input", action="append", type=Path, default=[], help="an image file to add (repeatable)"
    )
    parser.add_argument("--only-inputs", action="store_true", help="skip the generated samples")
    args = parser.parse_args(argv)
    inputs = {} if args.only_inputs else sample_inputs()
    inputs.update({path.name: path.read_bytes() for path in args.input})
    run(
        repeat=args.repeat,
        widths=[int(width) for width in args.widths.split(",")],
        formats=FORMATS if args.format == "both" else (args.format,),
        inputs=inputs,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
