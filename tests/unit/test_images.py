"""Images: validation by content, metadata and thumbnails (pipeline.logic.images), on generated samples."""

from __future__ import annotations

import struct
from collections.abc import Callable
from functools import partial
from io import BytesIO
from typing import Any

import pytest
from PIL import ExifTags, Image, ImageChops, ImageFile, ImageStat, MpoImagePlugin

from pipeline.cli import samples
from pipeline.errors import REASONS, PermanentError
from pipeline.logic import images
from pipeline.logic.images import (
    SNIFF_BYTES,
    decode_for_thumbnails,
    extract_metadata,
    inspect,
    make_thumbnails,
    naive_thumbnails,
    sniff,
)
from pipeline.models import ImageMetadata

MAX_PIXELS = 40_000_000
WIDTHS = (128, 512, 1024)

GOOD: dict[str, tuple[Callable[[], bytes], str, str, tuple[int, int]]] = {
    "jpeg": (partial(samples.photo_jpeg, 640, 480, orientation=1), "JPEG", "image/jpeg", (640, 480)),
    "png": (samples.png_with_alpha, "PNG", "image/png", (640, 480)),
    "webp": (samples.webp_image, "WEBP", "image/webp", (800, 600)),
    "gif": (samples.gif_image, "GIF", "image/gif", (320, 240)),
    "avif": (samples.avif_image, "AVIF", "image/avif", (320, 240)),
}

BAD: dict[str, tuple[Callable[[], bytes], str]] = {
    "svg": (samples.svg_file, "unsupported_type"),
    "pdf": (samples.pdf_file, "unsupported_type"),
    "tiff": (samples.tiff_file, "unsupported_type"),
    "html": (samples.html_file, "unsupported_type"),
    "eps": (samples.eps_file, "unsupported_type"),
    "heic header alone": (samples.heic_file, "corrupt_image"),  # HEIC is accepted: tests/unit/test_heic.py
    "text named .jpg": (samples.text_named_jpg, "unsupported_type"),
    "empty": (samples.empty_file, "empty_file"),
    "truncated jpeg": (samples.truncated_jpeg, "corrupt_image"),
    "decompression bomb": (samples.decompression_bomb_png, "decompression_bomb"),
    "jpeg + zip": (samples.polyglot_jpeg_zip, "polyglot"),
    "jpeg with php comment": (samples.polyglot_jpeg_php, "polyglot"),
}


def refusal(data: bytes, *, max_pixels: int = MAX_PIXELS) -> PermanentError:
    """The PermanentError `inspect` raises for `data` (fails the test if it accepts it)."""
    with pytest.raises(PermanentError) as caught:
        inspect(data, max_pixels=max_pixels)
    return caught.value


def reopen(blob: bytes) -> Image.Image:
    im = Image.open(BytesIO(blob))
    im.load()
    return im


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    stat = ImageStat.Stat(ImageChops.difference(a.convert("RGB"), b.convert("RGB")))
    return sum(stat.mean) / 3


def jpeg_with(picture: Image.Image, exif: Image.Exif | bytes) -> bytes:
    buffer = BytesIO()
    picture.save(buffer, "JPEG", quality=90, exif=exif)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def big_photo() -> bytes:
    """The one 12 MP sample: 4000x3000 as stored, EXIF orientation 6, GPS."""
    return samples.photo_jpeg(4000, 3000, orientation=6, gps=True, seed=0)


# --- inspect: accepted formats ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(GOOD))
def test_each_accepted_format_is_inspected_by_content(name: str) -> None:
    # Given a sample of an accepted format
    make, fmt, mime, size = GOOD[name]
    if fmt == "AVIF" and not images._avif_readable():
        pytest.skip("this Pillow cannot read AVIF")
    data = make()

    # When it is sniffed from its first bytes and inspected whole
    sniffed = sniff(data[:SNIFF_BYTES])
    info = inspect(data, max_pixels=MAX_PIXELS)

    # Then both name its format, with the right media type and size
    assert sniffed == fmt
    assert (info.format, info.mime, (info.width, info.height)) == (fmt, mime, size)


def test_width_and_height_are_as_displayed_after_exif_orientation() -> None:
    # Given a camera JPEG stored 640x480 with orientation 6 (rotate to portrait)
    data = samples.photo_jpeg(640, 480, orientation=6)

    # When it is inspected
    info = inspect(data, max_pixels=MAX_PIXELS)

    # Then it is reported as it is shown: portrait
    assert (info.width, info.height) == (480, 640)


def test_name_and_content_type_play_no_role() -> None:
    # Given the demo's PNG that is uploaded as logo.jpg
    sample = next(s for s in samples.SAMPLES if s.filename == "logo.jpg")

    # When it is inspected (inspect takes bytes only: no name, no Content-Type)
    info = inspect(sample.make(), max_pixels=MAX_PIXELS)

    # Then it is what its content is
    assert (info.format, info.mime) == ("PNG", "image/png")


def test_multi_picture_jpeg_is_not_mistaken_for_a_polyglot() -> None:
    # Given an MPO (several JPEGs back to back, as some cameras write)
    buffer = BytesIO()
    first, second = Image.new("RGB", (64, 48), "red"), Image.new("RGB", (64, 48), "blue")
    first.save(buffer, "MPO", save_all=True, append_images=[second])

    # When it is inspected
    info = inspect(buffer.getvalue(), max_pixels=MAX_PIXELS)

    # Then it is an accepted JPEG
    assert (info.format, info.width, info.height) == ("JPEG", 64, 48)


def test_mpo_with_padding_between_its_pictures_is_accepted_and_shows_its_first_picture() -> None:
    # Given a camera MPO (stored 640x480, orientation 6) with 45 zero bytes between its two pictures, as a
    # Fujifilm camera writes it, its MP index's offsets accounting for them
    data = samples.mpo_jpeg(640, 480, orientation=6, gap=45, seed=12)
    assert samples.mpo_jpeg(640, 480, orientation=6, seed=12) not in data  # the pictures are apart

    # When it is inspected and thumbnailed
    info = inspect(data, max_pixels=MAX_PIXELS)
    (rendition, blob), *_ = make_thumbnails(data, [480], "jpeg")

    # Then it is an accepted JPEG, shown as a portrait, and the thumbnail is its first picture turned upright
    assert (info.format, info.width, info.height) == ("JPEG", 480, 640)
    assert (rendition.width, rendition.height) == (480, 640)

    def overview(picture: Image.Image) -> Image.Image:  # small enough that the grain averages out
        return picture.resize((60, 80), Image.Resampling.BOX)

    thumbnail = overview(reopen(blob))
    first, second = samples.photo(640, 480, seed=12), samples.photo(640, 480, seed=13)
    assert mean_difference(thumbnail, overview(first.transpose(Image.Transpose.ROTATE_270))) < 3
    assert mean_difference(thumbnail, overview(first.transpose(Image.Transpose.ROTATE_90))) > 30
    assert mean_difference(thumbnail, overview(second.transpose(Image.Transpose.ROTATE_270))) > 30


@pytest.mark.parametrize(
    "make",
    [
        partial(samples.mpo_jpeg, 320, 240, pictures=3),
        partial(samples.mpo_jpeg, 320, 240, gain_map=True),
        partial(samples.mpo_jpeg, 320, 240, gain_map=True, gap=45),
        partial(samples.mpo_jpeg, 320, 240, gap=b"\xff" * 7),
    ],
    ids=["three-pictures", "ultra-hdr", "ultra-hdr-padded", "fill-bytes"],
)
def test_other_multi_picture_layouts_are_accepted(make: Callable[[], bytes]) -> None:
    # Given a plain Pillow MPO of three pictures, Ultra HDR photos (a JPEG whose MP index lists its gain map;
    # Pillow reads it as a JPEG, not an MPO), padded or not, and an MPO padded with JPEG fill bytes
    data = make()

    # When it is inspected
    info = inspect(data, max_pixels=MAX_PIXELS)

    # Then it is accepted, with the first picture's size as shown
    assert (info.format, info.width, info.height) == ("JPEG", 240, 320)


@pytest.mark.parametrize(
    "after",
    [
        samples.polyglot_jpeg_zip()[-200:],
        b"#!/bin/sh\necho hidden payload\n" * 7,
        samples.photo_jpeg(64, 48, orientation=1, gps=False),
    ],
    ids=["zip", "script", "unlisted-jpeg"],
)
def test_data_after_the_last_listed_picture_of_an_mpo_is_a_polyglot(after: bytes) -> None:
    # Given a padded MPO followed by a ZIP archive, a script, or a JPEG its MP index does not list
    data = samples.mpo_jpeg(320, 240, gap=45) + after

    # When it is inspected
    error = refusal(data)

    # Then it is refused as a polyglot
    assert error.reason == "polyglot"
    assert error.message.endswith(".")


def test_other_data_between_the_pictures_of_an_mpo_is_a_polyglot() -> None:
    # Given an MPO whose MP index skips bytes between its pictures that hold a script, not padding
    gap = b"\x00" * 8 + b"#!/bin/sh\necho hidden payload\n" + b"\x00" * 10
    data = samples.mpo_jpeg(320, 240, gap=gap)

    # When it is inspected
    error = refusal(data)

    # Then it is refused as a polyglot that says how much and where
    assert error.reason == "polyglot"
    assert f"{len(gap)} bytes of other data between its pictures" in error.message


def mp_entries(data: bytes) -> list[dict[str, Any]]:
    """The entries of an MPO's MP index, as Pillow reads them."""
    with Image.open(BytesIO(data)) as im:
        assert isinstance(im, MpoImagePlugin.MpoImageFile)
        assert im.mpinfo is not None
        return list(im.mpinfo[0xB002])


def with_second_picture_at(data: bytes, move: int) -> bytes:
    """`data` (an MPO) with its MP index's entry for the second picture moved by `move` bytes."""
    entry = mp_entries(data)[1]
    listed = struct.pack("<II", entry["Size"], entry["DataOffset"])
    assert data.count(listed) == 1
    return data.replace(listed, struct.pack("<II", entry["Size"], entry["DataOffset"] + move))


@pytest.mark.parametrize(
    ("move", "says"),
    [(10**6, "past the end of the file"), (100, "where no JPEG starts"), (-50, "inside the picture before")],
    ids=["past-the-end", "not-a-jpeg", "overlapping"],
)
def test_an_mp_index_that_misplaces_a_picture_is_corrupt(move: int, says: str) -> None:
    # Given an MPO whose MP index places its second picture past the file's end, where no JPEG starts, or
    # inside the first picture
    data = with_second_picture_at(samples.mpo_jpeg(320, 240, gap=45), move)

    # When it is inspected
    error = refusal(data)

    # Then it is refused as a broken file, saying which picture is misplaced and how
    assert error.reason == "corrupt_image"
    assert "picture 2 of 2" in error.message
    assert says in error.message


def test_an_mpo_cut_after_its_first_picture_is_corrupt() -> None:
    # Given an MPO whose upload stopped after its first picture (the index still lists the second)
    whole = samples.mpo_jpeg(320, 240)
    first_size = mp_entries(whole)[0]["Size"]

    # When it is inspected
    error = refusal(whole[:first_size])

    # Then it is corrupt_image, not a smaller valid JPEG
    assert error.reason == "corrupt_image"
    assert "past the end of the file" in error.message


@pytest.mark.parametrize("padding", [b"\n", b"\r\n", b"\x00" * 4096], ids=["newline", "crlf", "zeros"])
def test_a_little_padding_after_the_image_is_tolerated(padding: bytes) -> None:
    # Given a JPEG followed by padding
    data = samples.photo_jpeg(320, 240, orientation=1, gps=False) + padding

    # When it is inspected
    info = inspect(data, max_pixels=MAX_PIXELS)

    # Then it is accepted
    assert info.format == "JPEG"


# --- inspect: refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(BAD))
def test_each_bad_input_is_refused_with_its_reason(name: str) -> None:
    # Given a bad file
    make, reason = BAD[name]

    # When it is inspected
    error = refusal(make())

    # Then it is refused with its reason code, one of the documented ones, and a sentence for a person
    assert error.reason == reason
    assert error.reason in REASONS
    assert error.message.endswith(".")


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (samples.svg_file(), "SVG/XML"),
        (samples.pdf_file(), "PDF"),
        (samples.tiff_file(), "TIFF"),
        (samples.html_file(), "HTML"),
        (samples.eps_file(), "EPS/PostScript"),
        (b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2\x00\x00\x00\x08free", "MP4/QuickTime"),
        (b"PK\x03\x04\x14\x00\x00\x00\x08\x00", "ZIP"),
        (b"BM6\x0c\x00\x00\x00\x00\x00\x006\x00\x00\x00(\x00", "BMP"),
        (samples.text_named_jpg(), "plain text"),
    ],
    ids=["svg", "pdf", "tiff", "html", "eps", "mp4", "zip", "bmp", "text"],
)
def test_unsupported_type_names_what_the_content_is(data: bytes, what: str) -> None:
    # Given the first bytes of a file that is not an accepted image
    head = data[:SNIFF_BYTES]

    # When it is sniffed
    with pytest.raises(PermanentError) as caught:
        sniff(head)

    # Then the refusal says what it looks like and what is accepted
    assert caught.value.reason == "unsupported_type"
    assert caught.value.message == (
        f"The file's content is {what}, not an accepted image type (JPEG, PNG, WebP, GIF, AVIF, HEIC/HEIF)."
    )


def test_pixel_count_is_checked_from_the_header_before_decoding() -> None:
    # Given a PNG whose header claims 5000x5000 but which holds almost no pixel data
    data = samples.decompression_bomb_png(5000, 5000)

    # When it is inspected with a limit of one million pixels
    error = refusal(data, max_pixels=1_000_000)

    # Then the claim alone refuses it (decoding would have said corrupt_image)
    assert error.reason == "decompression_bomb"
    assert "5000x5000" in error.message
    assert "1,000,000" in error.message


def test_pillow_own_bomb_guard_becomes_the_same_reason() -> None:
    # Given a 50000x50000 claim, beyond Pillow's own hard limit, and a generous explicit limit
    data = samples.decompression_bomb_png(50_000, 50_000)

    # When it is inspected
    error = refusal(data, max_pixels=10**12)

    # Then Pillow's DecompressionBombError is reported as decompression_bomb, not as a crash
    assert error.reason == "decompression_bomb"


def test_truncated_files_are_refused_even_if_pillow_is_told_to_load_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given some other code has set Pillow's global LOAD_TRUNCATED_IMAGES
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)

    # When a truncated JPEG is inspected
    error = refusal(samples.truncated_jpeg())

    # Then it is still corrupt_image, and the global is left as it was found
    assert error.reason == "corrupt_image"
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True


def test_png_without_its_end_chunk_is_corrupt() -> None:
    # Given a PNG whose IEND chunk is cut off
    data = samples.png_with_alpha()[:-12]

    # When it is inspected
    error = refusal(data)

    # Then it is corrupt_image
    assert error.reason == "corrupt_image"


@pytest.mark.parametrize("name", ["jpeg", "png", "webp", "gif", "avif"])
def test_data_after_the_logical_end_is_a_polyglot(name: str) -> None:
    # Given a valid image followed by 200 bytes of something else
    make, fmt, _, _ = GOOD[name]
    if fmt == "AVIF" and not images._avif_readable():
        pytest.skip("this Pillow cannot read AVIF")
    data = make() + b"#!/bin/sh\necho hidden payload\n" * 7

    # When it is inspected
    error = refusal(data)

    # Then it is refused as a polyglot that names where the image ends
    assert error.reason == "polyglot"
    assert "followed by" in error.message


def test_zip_directory_hidden_in_a_comment_is_a_polyglot() -> None:
    # Given a JPEG whose comment segment holds a ZIP end record whose own comment runs to the end of file
    jpeg = samples.photo_jpeg(160, 120, orientation=1, gps=False)
    record = b"PK\x05\x06" + b"\x00" * 16 + struct.pack("<H", len(jpeg) - 2)
    data = jpeg[:2] + b"\xff\xfe" + struct.pack(">H", 2 + len(record)) + record + jpeg[2:]

    # When it is inspected
    error = refusal(data)

    # Then unzip would find an archive, so it is refused
    assert error.reason == "polyglot"
    assert "ZIP" in error.message


def test_avif_is_unsupported_when_this_pillow_cannot_read_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a deployment whose Pillow has no AVIF decoder
    monkeypatch.setattr(images, "_avif_readable", lambda: False)
    head = b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf" + b"\x00" * 16

    # When an AVIF is inspected
    error = refusal(head)

    # Then it is unsupported_type, saying why
    assert error.reason == "unsupported_type"
    assert "AVIF" in error.message


@pytest.mark.parametrize("sample", samples.SAMPLES, ids=[s.filename for s in samples.SAMPLES])
def test_every_demo_sample_reaches_its_expected_outcome(sample: samples.Sample) -> None:
    # Given a file of the demo's catalogue
    data = sample.make()

    # When it is inspected
    try:
        inspect(data, max_pixels=MAX_PIXELS)
        outcome = "published"
    except PermanentError as error:
        outcome = error.reason

    # Then the outcome is the one the demo expects
    assert outcome == sample.expected


# --- metadata --------------------------------------------------------------------------------------------


def test_metadata_reads_time_taken_make_and_model_and_never_gps() -> None:
    # Given a camera JPEG with EXIF and a GPS position
    data = samples.photo_jpeg(320, 240, gps=True)

    # When its metadata is extracted
    metadata = extract_metadata(data)

    # Then time, make (NULs stripped) and model are read, and there is nowhere to put GPS
    assert metadata == ImageMetadata(
        taken_at=samples.TAKEN_AT_ISO, camera_make=samples.CAMERA_MAKE, camera_model=samples.CAMERA_MODEL
    )
    assert not any("gps" in field.lower() for field in ImageMetadata.model_fields)


def test_metadata_falls_back_to_datetime_without_datetimeoriginal() -> None:
    # Given EXIF with DateTime only
    exif = Image.Exif()
    exif[ExifTags.Base.DateTime] = "2023:12:31 23:59:58"
    data = jpeg_with(Image.new("RGB", (32, 32)), exif)

    # When its metadata is extracted
    metadata = extract_metadata(data)

    # Then DateTime is used
    assert metadata == ImageMetadata(taken_at="2023-12-31T23:59:58")


def test_missing_exif_gives_empty_metadata() -> None:
    # Given a PNG with no EXIF
    # When its metadata is extracted
    metadata = extract_metadata(samples.png_with_alpha())

    # Then every field is None
    assert metadata == ImageMetadata()


@pytest.mark.parametrize(
    "exif",
    [
        b"Exif\x00\x00garbage that is not a TIFF header",
        b"Exif\x00\x00II*\x00\xff\xff\xff\x7f",
    ],
    ids=["not-tiff", "ifd-offset-out-of-range"],
)
def test_unparsable_exif_never_raises(exif: bytes) -> None:
    # Given a JPEG with a damaged EXIF block
    data = jpeg_with(Image.new("RGB", (32, 32)), exif)

    # When it is inspected and its metadata extracted
    info = inspect(data, max_pixels=MAX_PIXELS)
    metadata = extract_metadata(data)

    # Then nothing raises and nothing is made up
    assert info.format == "JPEG"
    assert metadata == ImageMetadata()


def test_odd_exif_values_are_ignored() -> None:
    # Given EXIF with an impossible date, a blank make and a padded model with control characters
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "   \x00\x00"
    exif[ExifTags.Base.Model] = " Cam\x07era 9 \x00junk"
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = "0000:00:00 00:00:00"
    data = jpeg_with(Image.new("RGB", (32, 32)), exif)

    # When its metadata is extracted
    metadata = extract_metadata(data)

    # Then unusable values are None and text is cleaned
    assert metadata == ImageMetadata(taken_at=None, camera_make=None, camera_model="Camera 9")


# --- thumbnails ------------------------------------------------------------------------------------------


def test_thumbnails_have_the_requested_widths_largest_first_and_keep_aspect_ratio() -> None:
    # Given a 1600x1200 photo
    data = samples.photo_jpeg(1600, 1200, orientation=1)

    # When thumbnails 128, 1024, 512 are made
    renditions = make_thumbnails(data, [128, 1024, 512], "webp")

    # Then they come largest first, 4:3, described truthfully, keys left to the caller
    assert [(r.width, r.height) for r, _ in renditions] == [(1024, 768), (512, 384), (128, 96)]
    for rendition, blob in renditions:
        assert (rendition.format, rendition.mime, rendition.bytes, rendition.key) == (
            "WEBP",
            "image/webp",
            len(blob),
            "",
        )
        assert reopen(blob).size == (rendition.width, rendition.height)


def test_thumbnails_are_never_upscaled_nor_duplicated() -> None:
    # Given a 640x480 image
    data = samples.png_with_alpha(640, 480)

    # When widths up to 2048 are asked for
    renditions = make_thumbnails(data, [128, 512, 1024, 2048], "webp")

    # Then the wider ones become one source-width rendition
    assert [(r.width, r.height) for r, _ in renditions] == [(640, 480), (512, 384), (128, 96)]


def test_exif_orientation_makes_a_landscape_file_a_portrait_thumbnail(big_photo: bytes) -> None:
    # Given the 12 MP photo, stored 4000x3000 with orientation 6
    # When the default thumbnails are made
    renditions = make_thumbnails(big_photo, WIDTHS, "webp")

    # Then they are portrait 3:4
    assert [(r.width, r.height) for r, _ in renditions] == [(1024, 1365), (512, 683), (128, 171)]
    assert all(reopen(blob).size == (r.width, r.height) for r, blob in renditions)


def test_orientation_is_applied_to_the_pixels() -> None:
    # Given a picture stored with a red top-left corner and orientation 6 (shown rotated 90° clockwise)
    picture = Image.new("RGB", (400, 300), (0, 0, 255))
    picture.paste((255, 0, 0), (0, 0, 100, 100))
    data = jpeg_with(picture, samples.camera_exif(orientation=6, gps=False))

    # When a thumbnail is made
    [(rendition, blob)] = make_thumbnails(data, [150], "jpeg")

    # Then the red corner is shown at the top right
    shown = reopen(blob).convert("RGB")
    assert (rendition.width, rendition.height) == (150, 200)
    red, _, blue = shown.getpixel((140, 10))  # type: ignore[misc]
    assert red > 200 and blue < 60
    red, _, blue = shown.getpixel((10, 10))  # type: ignore[misc]
    assert blue > 200 and red < 60


@pytest.mark.parametrize("fmt", ["webp", "jpeg"])
@pytest.mark.parametrize(
    "make",
    [partial(samples.photo_jpeg, 800, 600, gps=True, icc=True, xmp=True), samples.webp_image],
    ids=["jpeg-exif-gps-icc-xmp", "webp-exif-gps-icc"],
)
def test_thumbnails_carry_no_metadata_at_all(make: Callable[[], bytes], fmt: str) -> None:
    # Given a source with EXIF (GPS included), an ICC profile and perhaps XMP
    data = make()

    # When thumbnails are made
    renditions = make_thumbnails(data, [128, 512], fmt)

    # Then each decodes, and has no EXIF, GPS, ICC or XMP anywhere
    for _, blob in renditions:
        thumbnail = reopen(blob)
        assert thumbnail.format == fmt.upper()
        assert len(thumbnail.getexif()) == 0
        assert not {"exif", "icc_profile", "xmp", "XML:com.adobe.xmp"} & set(thumbnail.info)
        for marker in (
            b"Exif\x00",
            b"ICC_PROFILE",
            b"ICCP",
            b"XMP ",
            b"xmpmeta",
            samples.CAMERA_MAKE.encode(),
        ):
            assert marker not in blob


def test_a_broken_icc_profile_is_dropped_not_fatal() -> None:
    # Given a JPEG whose embedded ICC profile is garbage
    buffer = BytesIO()
    Image.new("RGB", (300, 200), (10, 120, 200)).save(buffer, "JPEG", icc_profile=b"not a profile" * 20)

    # When thumbnails are made
    [(rendition, blob)] = make_thumbnails(buffer.getvalue(), [100], "webp")

    # Then the pixels are used as they are, without the profile
    assert (rendition.width, rendition.height) == (100, 67)
    assert "icc_profile" not in reopen(blob).info


def test_alpha_is_kept_in_webp_and_flattened_onto_white_in_jpeg() -> None:
    # Given a PNG whose top band is fully transparent
    data = samples.png_with_alpha(640, 480)

    # When WebP and JPEG thumbnails are made
    [(_, webp)] = make_thumbnails(data, [320], "webp")
    [(_, jpeg)] = make_thumbnails(data, [320], "jpeg")

    # Then WebP keeps the transparency and JPEG shows white there
    as_webp, as_jpeg = reopen(webp), reopen(jpeg)
    assert as_webp.mode == "RGBA"
    assert as_webp.getpixel((160, 5))[3] == 0  # type: ignore[index]
    assert as_jpeg.mode == "RGB"
    assert min(as_jpeg.getpixel((160, 5))) > 245  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "make",
    [samples.palette_png, samples.grey_alpha_png, samples.cmyk_jpeg, samples.gif_image, samples.avif_image],
    ids=["palette", "grey-alpha", "cmyk", "gif-first-frame", "avif"],
)
@pytest.mark.parametrize("fmt", ["webp", "jpeg"])
def test_other_modes_make_decodable_thumbnails(make: Callable[[], bytes], fmt: str) -> None:
    # Given an image in palette, LA, CMYK, animated GIF or AVIF form
    if make is samples.avif_image and not images._avif_readable():
        pytest.skip("this Pillow cannot read AVIF")
    data = make()

    # When thumbnails are made
    renditions = make_thumbnails(data, [64, 128], fmt)

    # Then they decode to an RGB(A) picture of the right size
    for rendition, blob in renditions:
        thumbnail = reopen(blob)
        assert thumbnail.size == (rendition.width, rendition.height)
        assert thumbnail.mode in ("RGB", "RGBA")


def test_jpeg_is_decoded_in_draft_mode_at_the_smallest_covering_scale() -> None:
    # Given a 1600x1200 JPEG with orientation 6 (shown 1200x1600)
    data = samples.photo_jpeg(1600, 1200, orientation=6)

    # When it is decoded for 512 px and for 128 px thumbnails
    for_512 = decode_for_thumbnails(data, [128, 512])
    for_128 = decode_for_thumbnails(data, [128])

    # Then the DCT scale is 1/2 (1/4 would be narrower than 512) and 1/8, already oriented
    assert for_512.size == (600, 800)
    assert for_128.size == (150, 200)


def test_non_jpeg_is_decoded_at_full_size() -> None:
    # Given a 640x480 PNG
    # When it is decoded for a 128 px thumbnail
    decoded = decode_for_thumbnails(samples.png_with_alpha(640, 480), [128])

    # Then there is no draft mode for it
    assert decoded.size == (640, 480)


@pytest.mark.parametrize("fmt", ["webp", "jpeg"])
def test_draft_and_chain_look_like_the_naive_reference(fmt: str) -> None:
    # Given an oriented photo
    data = samples.photo_jpeg(1600, 1200, orientation=6)

    # When thumbnails are made both ways
    fast = make_thumbnails(data, [128, 512], fmt)
    naive = naive_thumbnails(data, [128, 512], fmt)

    # Then they have the same sizes and nearly the same pixels (same orientation, same content)
    assert [(r.width, r.height, r.format) for r, _ in fast] == [
        (r.width, r.height, r.format) for r, _ in naive
    ]
    for (_, a), (_, b) in zip(fast, naive, strict=True):
        assert mean_difference(reopen(a), reopen(b)) < 4


@pytest.mark.parametrize(("widths", "fmt"), [([], "webp"), ([0, 128], "webp"), ([128], "gif")])
def test_bad_thumbnail_arguments_are_programming_errors(widths: list[int], fmt: str) -> None:
    # Given a valid image
    data = samples.png_with_alpha(64, 48)

    # When thumbnails are asked with no widths, a zero width or an unknown format
    # Then it is a ValueError (a bug in the caller), not a refusal of the file
    with pytest.raises(ValueError, match="Thumbnail"):
        make_thumbnails(data, widths, fmt)


def test_thumbnails_of_a_corrupt_file_are_a_permanent_error() -> None:
    # Given a truncated JPEG
    # When thumbnails are made
    with pytest.raises(PermanentError) as caught:
        make_thumbnails(samples.truncated_jpeg(), WIDTHS, "webp")

    # Then it is corrupt_image, so the workflow quarantines instead of retrying
    assert caught.value.reason == "corrupt_image"


# --- samples ---------------------------------------------------------------------------------------------


def test_samples_are_deterministic() -> None:
    # Given the same seed twice
    # When photos are generated
    first = samples.photo_jpeg(320, 240, seed=42)
    second = samples.photo_jpeg(320, 240, seed=42)

    # Then they are byte for byte the same, and another seed differs
    assert first == second
    assert samples.photo_jpeg(320, 240, seed=43) != first
