"""What makes thumbnails fast must change nothing else (pipeline.logic.images, issue 10 point 5).

Threads (strips of a resize, renditions encoded side by side), skipping an sRGB-to-sRGB conversion and the
pool's life across a fork are checked by their outputs, never by their durations.
"""

from __future__ import annotations

import multiprocessing
import struct
from collections.abc import Callable
from functools import partial
from io import BytesIO

import pytest
from PIL import Image

from pipeline.cli import bench_images, samples
from pipeline.logic import images
from pipeline.logic.images import make_thumbnails

WIDTHS = (1024, 512, 128)


def reopen(blob: bytes) -> Image.Image:
    im = Image.open(BytesIO(blob))
    im.load()
    return im


def swapped_primaries_icc() -> bytes:
    """sRGB with its red and blue primaries swapped: converting from it changes colours."""
    icc = bytearray(samples.srgb_icc())
    count = struct.unpack(">I", icc[128:132])[0]
    entries = {bytes(icc[132 + 12 * i : 136 + 12 * i]): 132 + 12 * i for i in range(count)}
    red, blue = entries[b"rXYZ"], entries[b"bXYZ"]
    icc[red + 4 : red + 12], icc[blue + 4 : blue + 12] = icc[blue + 4 : blue + 12], icc[red + 4 : red + 12]
    return bytes(icc)


@pytest.mark.parametrize("fmt", ["webp", "jpeg"])
@pytest.mark.parametrize(
    "make",
    [
        partial(samples.photo_jpeg, 1600, 1200, orientation=6, seed=3),
        partial(samples.photo_jpeg, 1500, 1100, orientation=3, seed=4),
        partial(samples.png_with_alpha, 1400, 1000),
        partial(samples.cmyk_jpeg, 1200, 900),
        partial(samples.grey_alpha_png, 1300, 900),
    ],
    ids=["jpeg-rot6", "jpeg-rot180-odd-size", "rgba-png", "cmyk-jpeg", "grey-alpha-png"],
)
def test_the_thread_count_changes_no_byte_of_the_thumbnails(make: Callable[[], bytes], fmt: str) -> None:
    # Given a source large enough for its resizes to be split into strips
    data = make()

    # When thumbnails are made with one thread and with several
    one = make_thumbnails(data, WIDTHS, fmt, threads=1)

    # Then every rendition is the same, byte for byte
    for threads in (2, 3, 4):
        assert make_thumbnails(data, WIDTHS, fmt, threads=threads) == one


def test_an_srgb_profile_is_not_applied_since_it_would_change_nothing() -> None:
    # Given the same photo with and without an embedded sRGB profile
    with_profile = samples.photo_jpeg(800, 600, orientation=1, icc=True)
    without = samples.photo_jpeg(800, 600, orientation=1, icc=False)

    # When thumbnails are made of both
    # Then they are the same bytes: the sRGB-to-sRGB conversion was measured as a no-op and skipped
    assert make_thumbnails(with_profile, [512, 128], "webp") == make_thumbnails(without, [512, 128], "webp")
    assert images._is_srgb_alike(samples.srgb_icc())


@pytest.mark.parametrize("fmt", ["webp", "jpeg"])
def test_any_other_profile_is_still_converted_to_srgb(fmt: str) -> None:
    # Given a pure red picture tagged with a profile whose red primary is sRGB's blue
    buffer = BytesIO()
    Image.new("RGB", (600, 400), (255, 0, 0)).save(
        buffer, "JPEG", quality=95, icc_profile=swapped_primaries_icc()
    )

    # When thumbnails are made
    renditions = make_thumbnails(buffer.getvalue(), [300, 100], fmt)

    # Then the profile was applied: the pixels are blue in sRGB, and no profile is attached
    assert not images._is_srgb_alike(swapped_primaries_icc())
    for _, blob in renditions:
        shown = reopen(blob)
        assert "icc_profile" not in shown.info
        red, _, blue = shown.convert("RGB").getpixel((shown.width // 2, shown.height // 2))  # type: ignore[misc]
        assert blue > 200 and red < 60


def _thumbnails_in_child(data: bytes, queue: multiprocessing.Queue[list[bytes]]) -> None:
    queue.put([blob for _, blob in make_thumbnails(data, WIDTHS, "webp", threads=2)])


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_a_forked_child_makes_thumbnails_with_threads_of_its_own() -> None:
    # Given a process whose thread pool exists (as a fork server's parent might have)
    data = samples.photo_jpeg(1600, 1200, orientation=6, seed=5)
    expected = [blob for _, blob in make_thumbnails(data, WIDTHS, "webp", threads=2)]
    assert images._Pool.executor is not None

    # When it forks and the child makes thumbnails with threads
    context = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue[list[bytes]] = context.Queue()
    child = context.Process(target=_thumbnails_in_child, args=(data, queue))
    child.start()
    got = queue.get(timeout=120)
    child.join(timeout=30)

    # Then the child did not wait on its parent's threads (which it does not have) and got the same bytes
    assert child.exitcode == 0
    assert got == expected


def test_the_benchmark_says_when_pyvips_is_missing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given no pyvips
    monkeypatch.setattr(bench_images, "_pyvips_available", lambda: "ImportError: No module named 'pyvips'")

    # When the thumbnail benchmark runs once on a small photo
    rows = bench_images.run(
        repeat=1, formats=("jpeg",), inputs={"small": samples.photo_jpeg(1400, 1100, orientation=6)}
    )

    # Then it still measures ours and the decode floor, and says plainly why pyvips is absent
    [row] = rows
    assert (row.input, row.format, row.pyvips_ms, row.ratio) == ("small", "jpeg", None, None)
    assert row.ours_ms > 0 and row.floor_ms > 0 and len(row.ours_bytes) == 3
    out = capsys.readouterr().out
    assert "pyvips skipped" in out and "pip install -e '.[bench]'" in out
    assert max(len(line) for line in out.splitlines()) <= 80


def test_the_benchmark_compares_with_pyvips_when_it_is_installed() -> None:
    # Given pyvips (a bench-only extra)
    pytest.importorskip("pyvips")

    # When the benchmark runs once on a small photo with a profile
    [row] = bench_images.run(
        repeat=1, formats=("webp",), inputs={"small": samples.photo_jpeg(1400, 1100, orientation=6, icc=True)}
    )

    # Then both sides made three renditions of comparable quality, and a ratio is reported
    assert row.ratio is not None and row.pyvips_psnr is not None
    assert len(row.pyvips_bytes) == len(row.ours_bytes) == 3
    assert abs(row.ours_psnr - row.pyvips_psnr) < 1.5
