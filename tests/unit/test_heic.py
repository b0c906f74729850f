"""HEIC/HEIF input (pipeline.logic.images with pillow-heif): sniffing, validation, orientation, metadata and
thumbnails, on HEIC files encoded here by pillow-heif itself (its x265 encoder)."""

from __future__ import annotations

import struct
import subprocess
import sys
from io import BytesIO

import pillow_heif
import pytest
from PIL import Image, ImageChops, ImageStat

from pipeline.cli import samples
from pipeline.errors import PermanentError
from pipeline.logic import images
from pipeline.logic.images import SNIFF_BYTES, extract_metadata, inspect, make_thumbnails, sniff
from pipeline.models import ImageMetadata

MAX_PIXELS = 40_000_000
RED, BLUE = (255, 0, 0), (0, 0, 255)


def marked(width: int = 400, height: int = 300, *, seed: int = 21) -> Image.Image:
    """A photo-like picture with a red square in its stored top-left corner."""
    picture = samples.photo(width, height, seed=seed)
    picture.paste(RED, (0, 0, width // 5, width // 5))
    return picture


def reopen(blob: bytes) -> Image.Image:
    im = Image.open(BytesIO(blob))
    im.load()
    return im.convert("RGB")


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    stat = ImageStat.Stat(ImageChops.difference(a.convert("RGB"), b.convert("RGB")))
    return sum(stat.mean) / 3


def is_red(pixel: object) -> bool:
    assert isinstance(pixel, tuple)
    red, green, blue = pixel[:3]
    return bool(red > 200 and green < 60 and blue < 60)


def refusal(data: bytes, *, max_pixels: int = MAX_PIXELS) -> PermanentError:
    with pytest.raises(PermanentError) as caught:
        inspect(data, max_pixels=max_pixels)
    return caught.value


def transformations(data: bytes) -> tuple[tuple[str, int], ...]:
    """The `irot`/`imir` transformations libheif reads for the primary image."""
    primary = pillow_heif.open_heif(BytesIO(data))[0]
    return tuple(t for t in primary._c_image.transformations if t[0] != "clap")


@pytest.fixture(scope="module")
def rotated() -> bytes:
    """400x300 as stored, EXIF orientation 6 and `irot` 270 (shown 300x400), as an iPhone writes it."""
    return samples.heic(marked(), orientation=6, gps=True)


# --- sniffing --------------------------------------------------------------------------------------------


def ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = b"ftyp" + major + b"\x00\x00\x00\x00" + b"".join(compatible)
    return struct.pack(">I", 4 + len(body)) + body + b"\x00\x00\x00\x08free" * 4


@pytest.mark.parametrize(
    ("head", "fmt"),
    [
        (ftyp(b"heic", b"mif1", b"heic", b"miaf"), "HEIF"),  # iPhone
        (ftyp(b"heix", b"mif1", b"heix"), "HEIF"),  # 10-bit cameras
        (ftyp(b"hevc", b"msf1", b"hevc"), "HEIF"),  # HEVC image sequence
        (ftyp(b"mif1", b"mif1", b"heic"), "HEIF"),  # structural major brand, HEVC compatible brand
        (ftyp(b"mif1", b"mif1", b"miaf"), "HEIF"),  # no codec brand: libheif reads it as HEIF
        (ftyp(b"avif", b"avif", b"mif1", b"miaf"), "AVIF"),
        (ftyp(b"mif1", b"mif1", b"avif", b"miaf"), "AVIF"),  # mif1 shared: the avif brand decides
        (ftyp(b"avis", b"avis", b"msf1"), "AVIF"),
    ],
    ids=["heic", "heix", "hevc-sequence", "mif1-heic", "mif1-only", "avif", "mif1-avif", "avis"],
)
def test_heif_and_avif_are_told_apart_by_their_brands(head: bytes, fmt: str) -> None:
    # Given the first bytes of ISO-BMFF images with these major and compatible brands
    # When they are sniffed
    sniffed = sniff(head[:SNIFF_BYTES])

    # Then the major brand decides, and for HEIF's structural brands (which AVIF shares) the compatible ones
    assert sniffed == fmt


def test_heif_brands_under_a_foreign_major_brand_are_unsupported_with_a_clear_sentence() -> None:
    # Given an MP4-like file whose major brand is isom with HEIF brands among the compatible ones
    head = ftyp(b"isom", b"isom", b"mif1", b"heic")

    # When it is sniffed
    with pytest.raises(PermanentError) as caught:
        sniff(head)

    # Then it is unsupported, saying why, without claiming that HEIF itself is not accepted
    assert caught.value.reason == "unsupported_type"
    assert "major brand 'isom'" in caught.value.message
    assert caught.value.message.endswith("(JPEG, PNG, WebP, GIF, AVIF, HEIC/HEIF).")


def test_pillow_heif_is_imported_only_when_a_heif_file_is_seen() -> None:
    # Given a fresh interpreter that imports the images module and handles a JPEG and a PNG
    script = (
        "import sys\n"
        "from pipeline.cli import samples\n"
        "from pipeline.logic import images\n"
        "images.inspect(samples.photo_jpeg(64, 48), max_pixels=10**6)\n"
        "images.make_thumbnails(samples.png_with_alpha(64, 48), [32], 'webp')\n"
        "print('pillow_heif' in sys.modules)\n"
        f"images.inspect({samples.heic(Image.new('RGB', (64, 48)))!r}, max_pixels=10**6)\n"
        "print('pillow_heif' in sys.modules)\n"
    )

    # When it runs
    result = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True, timeout=120
    )

    # Then pillow-heif (and libheif) are loaded by the first HEIF file, not before
    assert result.stdout.split() == ["False", "True"]


def test_heif_is_unsupported_when_pillow_heif_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a deployment without pillow-heif
    monkeypatch.setattr(images, "_heif_readable", lambda: False)

    # When a HEIC is inspected
    error = refusal(samples.heic(Image.new("RGB", (64, 48))))

    # Then it is unsupported_type, saying why
    assert error.reason == "unsupported_type"
    assert "HEIC/HEIF" in error.message
    assert "cannot decode" in error.message


# --- inspect ---------------------------------------------------------------------------------------------


def test_a_heic_photo_is_accepted_with_its_displayed_size_and_media_type(rotated: bytes) -> None:
    # Given an iPhone-like HEIC, stored 400x300 with orientation 6
    # When it is sniffed and inspected
    sniffed = sniff(rotated[:SNIFF_BYTES])
    info = inspect(rotated, max_pixels=MAX_PIXELS)

    # Then it is HEIF (image/heic, as libheif names an HEVC-coded still image), portrait as displayed
    assert sniffed == "HEIF"
    assert (info.format, info.mime, info.width, info.height) == ("HEIF", "image/heic", 300, 400)


@pytest.mark.parametrize("cut", [0.5, 0.9, 0.999], ids=["half", "most", "all-but-a-few-bytes"])
def test_a_truncated_heic_is_corrupt_with_a_sentence_saying_so(rotated: bytes, cut: float) -> None:
    # Given a HEIC whose upload stopped part-way through its image data
    data = rotated[: int(len(rotated) * cut)]

    # When it is inspected, and thumbnails are made of it
    error = refusal(data)
    with pytest.raises(PermanentError) as thumbnails:
        make_thumbnails(data, [128], "webp")

    # Then both refuse it as corrupt_image, naming the box cut off and where the file ends
    assert error.reason == thumbnails.value.reason == "corrupt_image"
    assert error.message.startswith("The HEIF image is truncated: its 'mdat' box at byte ")
    assert f"(at byte {len(data):,})." in error.message


def test_a_heic_cut_inside_its_metadata_is_corrupt(rotated: bytes) -> None:
    # Given a HEIC cut inside its `meta` box (before any image data)
    data = rotated[:200]

    # When it is inspected
    error = refusal(data)

    # Then it is corrupt_image
    assert error.reason == "corrupt_image"
    assert "'meta' box" in error.message


def test_a_heic_whose_image_data_lies_outside_the_file_is_corrupt(rotated: bytes) -> None:
    # Given a HEIC whose `mdat` box is whole, but shorter than the image data its item locations point to
    mdat = rotated.index(b"mdat") - 4
    assert rotated[mdat : mdat + 4] == struct.pack(">I", len(rotated) - mdat)
    short = rotated[:mdat] + struct.pack(">I", 8 + 16) + b"mdat" + rotated[mdat + 8 : mdat + 8 + 16]

    # When it is inspected
    error = refusal(short)

    # Then libheif's refusal becomes corrupt_image, a sentence a person can act on
    assert error.reason == "corrupt_image"
    assert error.message.startswith("The HEIF image")
    assert "BytesIO" not in error.message
    assert error.message.endswith(".")


def test_the_heic_pixel_limit_is_checked_from_the_header_before_decoding(rotated: bytes) -> None:
    # Given a HEIC whose `ispe` header claims 5000x5000 while its HEVC data is 400x300
    assert rotated.count(b"ispe") == 1
    at = rotated.index(b"ispe") + 8  # after the type, version and flags
    claim = rotated[:at] + struct.pack(">II", 5000, 5000) + rotated[at + 8 :]

    # When it is inspected with a limit of one million pixels
    error = refusal(claim, max_pixels=1_000_000)

    # Then the claim alone refuses it (decoding would have said corrupt_image)
    assert error.reason == "decompression_bomb"
    assert "5000x5000" in error.message
    assert refusal(claim).reason == "corrupt_image"


def test_a_heic_beyond_pillow_own_bomb_guard_is_a_decompression_bomb(rotated: bytes) -> None:
    # Given a HEIC whose header claims 60000x60000, and a generous explicit limit
    at = rotated.index(b"ispe") + 8
    claim = rotated[:at] + struct.pack(">II", 60_000, 60_000) + rotated[at + 8 :]

    # When it is inspected
    error = refusal(claim, max_pixels=10**12)

    # Then Pillow's guard is reported as decompression_bomb
    assert error.reason == "decompression_bomb"


@pytest.mark.parametrize(
    "after",
    [
        samples.photo_jpeg(64, 48, orientation=1, gps=False),
        b"#!/bin/sh\necho hidden payload\n" * 7,
        samples.polyglot_jpeg_zip()[-200:],
    ],
    ids=["jpeg", "script", "zip"],
)
def test_data_after_a_heic_is_a_polyglot(rotated: bytes, after: bytes) -> None:
    # Given a HEIC followed by a JPEG, a script or a ZIP archive
    data = rotated + after

    # When it is inspected
    error = refusal(data)

    # Then it is a polyglot, not a truncated HEIC
    assert error.reason == "polyglot"
    assert error.message.endswith(".")


def test_a_little_padding_after_a_heic_is_tolerated(rotated: bytes) -> None:
    # Given a HEIC followed by a newline
    # When it is inspected
    info = inspect(rotated + b"\n", max_pixels=MAX_PIXELS)

    # Then it is accepted
    assert info.format == "HEIF"


# --- metadata --------------------------------------------------------------------------------------------


def test_heic_metadata_reads_time_taken_make_and_model(rotated: bytes) -> None:
    # Given a HEIC with camera EXIF (and GPS)
    # When its metadata is extracted
    metadata = extract_metadata(rotated)

    # Then time, make and model are read as for a JPEG
    assert metadata == ImageMetadata(
        taken_at=samples.TAKEN_AT_ISO, camera_make=samples.CAMERA_MAKE, camera_model=samples.CAMERA_MODEL
    )


def test_a_heic_without_exif_gives_empty_metadata() -> None:
    # Given a HEIC with no EXIF
    buffer = BytesIO()
    pillow_heif.from_pillow(Image.new("RGB", (64, 48), BLUE)).save(buffer, quality=80)

    # When its metadata is extracted
    # Then every field is None
    assert extract_metadata(buffer.getvalue()) == ImageMetadata()


# --- orientation and thumbnails --------------------------------------------------------------------------


def test_a_rotated_heic_makes_portrait_thumbnails_turned_once(rotated: bytes) -> None:
    # Given the HEIC stored 400x300 with its red corner top left, `irot` 270 and EXIF orientation 6
    assert transformations(rotated) == (("irot", 270),)

    # When WebP thumbnails are made
    renditions = make_thumbnails(rotated, [150, 60], "webp")

    # Then they are portrait, in the configured format, with the red corner top right (turned 90° clockwise
    # once: not by `irot` and then by EXIF again, which would put it bottom right)
    assert [(r.width, r.height, r.format, r.mime) for r, _ in renditions] == [
        (150, 200, "WEBP", "image/webp"),
        (60, 80, "WEBP", "image/webp"),
    ]
    shown = reopen(renditions[0][1])
    assert shown.size == (150, 200)
    assert is_red(shown.getpixel((140, 10)))
    assert not is_red(shown.getpixel((10, 10)))
    assert not is_red(shown.getpixel((140, 190)))


def shown_as(picture: Image.Image, orientation: int) -> Image.Image:
    """`picture` as a viewer shows it with this EXIF orientation, small enough that the grain averages out."""
    method = images._ORIENTATION_METHODS.get(orientation)
    turned = picture if method is None else picture.transpose(method)
    return turned.resize((turned.width // 8, turned.height // 8), Image.Resampling.BOX)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_each_orientation_is_shown_as_exif_says(orientation: int) -> None:
    # Given a HEIC written with EXIF orientation n (pillow-heif stores it as `irot`/`imir` as well)
    picture = marked(160, 120, seed=orientation)
    data = samples.heic(picture, orientation=orientation, quality=90)

    # When a thumbnail as wide as the displayed picture is made
    expected = shown_as(picture, orientation)
    [(rendition, blob)] = make_thumbnails(data, [expected.width * 8], "jpeg")
    thumbnail = reopen(blob).resize(expected.size, Image.Resampling.BOX)

    # Then it shows the picture as applying orientation n once does, and as no other orientation does
    assert (rendition.width, rendition.height) == (expected.width * 8, expected.height * 8)
    differences = {
        other: mean_difference(thumbnail, shown_as(picture, other))
        for other in range(1, 9)
        if shown_as(picture, other).size == expected.size
    }
    assert differences[orientation] < 3, differences
    assert min(differences, key=differences.__getitem__) == orientation, differences


def test_exif_orientation_without_irot_is_not_applied() -> None:
    # Given a HEIC whose `irot` box says 0° while its EXIF still says 6 (HEIF's EXIF orientation is only
    # informational: readers go by `irot`/`imir`, as libheif does)
    data = samples.heic(marked(), orientation=6)
    at = data.index(b"\x00\x00\x00\x09irot")
    data = data[: at + 8] + b"\x00" + data[at + 9 :]
    assert transformations(data) == (("irot", 0),)

    # When it is inspected and a thumbnail is made
    info = inspect(data, max_pixels=MAX_PIXELS)
    [(rendition, blob)] = make_thumbnails(data, [200], "jpeg")

    # Then it is shown as stored: landscape, red corner top left
    assert (info.width, info.height) == (400, 300)
    assert (rendition.width, rendition.height) == (200, 150)
    assert is_red(reopen(blob).getpixel((10, 10)))


@pytest.mark.parametrize("fmt", ["webp", "jpeg"])
def test_heic_thumbnails_carry_no_metadata_at_all(rotated: bytes, fmt: str) -> None:
    # Given a HEIC with EXIF (GPS included)
    # When thumbnails are made
    renditions = make_thumbnails(rotated, [128], fmt)

    # Then each decodes in the configured format, and has no EXIF at all
    for _, blob in renditions:
        thumbnail = Image.open(BytesIO(blob))
        assert thumbnail.format == fmt.upper()
        assert len(thumbnail.getexif()) == 0
        assert b"Exif\x00" not in blob
        assert samples.CAMERA_MAKE.encode() not in blob


def test_a_heic_with_alpha_keeps_it_in_webp() -> None:
    # Given a HEIC with a transparent left half
    picture = Image.new("RGBA", (128, 96), (0, 120, 200, 255))
    picture.paste((0, 0, 0, 0), (0, 0, 64, 96))
    buffer = BytesIO()
    pillow_heif.from_pillow(picture).save(buffer, quality=90)

    # When a WebP thumbnail is made
    [(_, blob)] = make_thumbnails(buffer.getvalue(), [64], "webp")

    # Then the transparency survives
    thumbnail = Image.open(BytesIO(blob))
    assert thumbnail.mode == "RGBA"
    assert thumbnail.getpixel((5, 24))[3] < 10  # type: ignore[index]
    assert thumbnail.getpixel((58, 24))[3] > 245  # type: ignore[index]
