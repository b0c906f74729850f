"""Images: validation by content, descriptive metadata and thumbnails (DESIGN.md D10).

Pure logic: bytes in, models out; no boto3, no environment, no file system. Pillow is used as a validator,
so truncated files are errors and the pixel limit is checked from the header before anything is decoded.
HEIC/HEIF is read by pillow-heif (libheif), registered with Pillow only when a HEIF file is first seen.
"""

from __future__ import annotations

import os
import re
import struct
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from functools import cache
from io import BytesIO
from typing import TYPE_CHECKING, Any

from PIL import ExifTags, Image, ImageCms, ImageFile, ImageOps, UnidentifiedImageError, features

from pipeline.errors import PermanentError
from pipeline.models import ImageInfo, ImageMetadata, Rendition

if TYPE_CHECKING:  # imported when first used (`_Pool.get`): a cold start that makes no thumbnail skips it
    from concurrent.futures import Future, ThreadPoolExecutor

#: How many leading bytes `sniff` looks at (an adapter can fetch just these with a ranged GET).
SNIFF_BYTES = 64
#: Accepted formats (Pillow's names) and their media types.
MIME_TYPES: dict[str, str] = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "GIF": "image/gif",
    "WEBP": "image/webp",
    "AVIF": "image/avif",
    "HEIF": "image/heif",  # `inspect` reports libheif's more precise type (image/heic for an HEVC photo)
}
#: Thumbnail output formats: the `ThumbnailFormat` parameter → Pillow's format name.
THUMBNAIL_FORMATS: dict[str, str] = {"webp": "WEBP", "jpeg": "JPEG"}
THUMBNAIL_QUALITY = 80
#: libwebp's `method` (libvips' `effort`) for WebP thumbnails. 2 rather than libwebp's default 4: on 1 MP
#: photos at quality 80 it spends 40 % of the CPU for outputs 0.3 % smaller and 0.14 dB PSNR lower (method 3
#: and up add the slow RD search; 5 and 6 cost 1.1x and 2.8x method 4). Measured with Pillow 13, libwebp 1.6.
WEBP_METHOD = 2
#: Bytes after an image's logical end that are tolerated whatever they hold (editors append a newline or so).
TOLERATED_TRAILING_BYTES = 16
#: Padding: allowed in any amount after an image's end and between the pictures of a multi-picture JPEG
#: (zeros, as cameras write, or 0xFF, JPEG's own fill byte).
_PADDING = b"\x00\xff"

_ACCEPTED = "JPEG, PNG, WebP, GIF, AVIF, HEIC/HEIF"
#: Whatever Pillow raises on a malformed file (it is not consistent about which).
_DECODE_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    SyntaxError,
    ValueError,
    TypeError,
    EOFError,
    IndexError,
    KeyError,
    struct.error,
    ZeroDivisionError,
)
#: pillow-heif raises libheif's other errors (an unsupported feature, a decoder plugin's failure) as these.
_HEIF_DECODE_ERRORS: tuple[type[Exception], ...] = (*_DECODE_ERRORS, RuntimeError)
_BOMB_ERRORS: tuple[type[Exception], ...] = (Image.DecompressionBombError, Image.DecompressionBombWarning)
#: EXIF orientations that swap width and height.
_TRANSPOSING = frozenset({5, 6, 7, 8})
_ORIENTATION_METHODS: dict[int, Image.Transpose] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_PILLOW_LOCK = threading.RLock()

# --- what a file that is not an accepted image looks like ------------------------------------------------

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "PDF"),
    (b"%!PS", "EPS/PostScript"),
    (b"\xc5\xd0\xd3\xc6", "EPS/PostScript"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"II+\x00", "TIFF"),
    (b"MM\x00+", "TIFF"),
    (b"PK\x03\x04", "ZIP"),
    (b"PK\x05\x06", "ZIP"),
    (b"PK\x07\x08", "ZIP"),
    (b"8BPS", "PSD"),
    (b"\x00\x00\x01\x00", "ICO"),
    (b"\xff\x0a", "JPEG XL"),
    (b"\x00\x00\x00\x0cJXL \r\n\x87\n", "JPEG XL"),
    (b"\x1f\x8b", "gzip"),
    (b"\x7fELF", "an executable"),
    (b"MZ", "an executable"),
    (b"RIFF", "RIFF (AVI/WAV)"),
    (b"BM", "BMP"),
)
_HEIF_BRANDS = frozenset(
    {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"}
)
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
#: Major brands of an HEVC-coded HEIF (images, image sequences): libheif's image/heic and image/heic-sequence.
_HEVC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"})
#: HEIF's structural brands, shared with AVIF (an AVIF's major brand may be mif1): the codec brands decide.
_HEIF_STRUCTURAL_BRANDS = frozenset({b"mif1", b"msf1"})
#: Top-level ISO-BMFF boxes (AVIF, HEIF): one of these running past the end of the file means a cut file.
_BMFF_BOXES = frozenset(
    [b"ftyp", b"meta", b"mdat", b"moov", b"moof", b"mfra", b"free", b"skip", b"uuid", b"meco", b"styp"]
)
_HTML_STARTS = ("<!doctype html", "<html", "<head", "<body", "<script", "<iframe")
_SVG_STARTS = ("<?xml", "<svg", "<!doctype svg")

# Another format's content inside an image: (needle in lower-cased data, what must follow it, label). Each is
# 6+ specific bytes, so chance hits in compressed pixel data stay near one in 250 000 files of 5 MB (all
# markers together). One `bytes.find` per needle is ~10x faster than one alternation regex over the file.
_FOREIGN_MARKERS: tuple[tuple[bytes, re.Pattern[bytes], str], ...] = (
    (b"<script", re.compile(rb"<script[\s>/]"), "a script"),
    (b"<?php", re.compile(rb"<\?php\s"), "PHP code"),
    (b"<html", re.compile(rb"<html[\s>]"), "HTML"),
    (b"<!doctype", re.compile(rb"<!doctype\s+html"), "HTML"),
    (b"<iframe", re.compile(rb"<iframe[\s>]"), "HTML"),
    (b"%pdf-", re.compile(rb"%pdf-\d\.\d"), "PDF"),
)
#: A ZIP local file header, with a plausible "version needed" (1.0 to 6.3) after it; case matters.
_ZIP_LOCAL_HEADER = re.compile(rb"PK\x03\x04[\x0a-\x3f]\x00")
#: A JPEG marker inside entropy-coded data: 0xFF followed by neither stuffing (00), RSTn nor fill (FF).
_JPEG_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_ZIP_END = b"PK\x05\x06"
_ZIP_END_SIZE = 22
_ZIP_MAX_COMMENT = 0xFFFF


def sniff(head: bytes) -> str:
    """The accepted format (`JPEG`, `PNG`, `GIF`, `WEBP`, `AVIF`, `HEIF`) named by a file's first bytes.

    Raises PermanentError `empty_file` for no bytes and `unsupported_type` for anything else, naming what the
    content looks like when that is recognisable.
    """
    if not head:
        raise PermanentError("The file is empty (0 bytes).", reason="empty_file")
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    bmff = _bmff_format(head)
    if bmff is not None:
        return bmff
    what = describe(head)
    if what == "HEIC/HEIF":  # HEIF brands among the compatible ones only: libheif's readers refuse it too
        major = head[8:12].decode("latin-1")
        message = (
            f"The file's content is an ISO-BMFF container with HEIF brands under the major brand {major!r}, "
            f"not an accepted image type ({_ACCEPTED})."
        )
    elif what is None:
        message = (
            f"The file's content is not an accepted image type ({_ACCEPTED}); its first bytes match none."
        )
    else:
        message = f"The file's content is {what}, not an accepted image type ({_ACCEPTED})."
    raise PermanentError(message, reason="unsupported_type")


def describe(head: bytes) -> str | None:
    """What a file that is not an accepted image looks like (`PDF`, `SVG/XML`, `HEIC/HEIF`…), or None."""
    brands = _ftyp_brands(head)
    if brands:
        return "HEIC/HEIF" if brands & _HEIF_BRANDS else "MP4/QuickTime"
    text = _as_text(head)
    if text is not None:
        start = text.lstrip("\ufeff \t\r\n").lower()
        if start.startswith(_SVG_STARTS) or "<svg" in start:
            return "SVG/XML"
        if start.startswith(_HTML_STARTS):
            return "HTML"
        if start.startswith("%pdf-"):
            return "PDF"
        if start.startswith("%!ps"):
            return "EPS/PostScript"
        if b"%PDF-" not in head:
            return "plain text"
    if b"%PDF-" in head[:1024]:
        return "PDF"
    for signature, label in _SIGNATURES:
        if head.startswith(signature):
            return label
    return None


def inspect(data: bytes, *, max_pixels: int) -> ImageInfo:
    """Validate an upload by its content and say what image it is.

    Checks, in order: magic bytes (`empty_file`, `unsupported_type`), for AVIF and HEIF a container box cut
    off by the end of the file (`corrupt_image`), pixel count from the header before any decoding
    (`decompression_bomb`), a full strict decode of the first frame, a HEIF's primary image (`corrupt_image`),
    then another format's content inside or after the image (`polyglot`); a multi-picture JPEG (MPO, Ultra
    HDR) ends with the last picture its MP index lists. Width and height are as displayed, that is after the
    EXIF orientation (HEIF: after its `irot`/`imir`/`clap` transformations), and of the first picture.
    """
    fmt = sniff(data[:SNIFF_BYTES])
    _require_readable(fmt)
    im = _open(data, fmt)
    try:
        width, height = im.size
        if width < 1 or height < 1:
            raise PermanentError(
                f"The {fmt} image claims a size of {width}x{height}.", reason="corrupt_image"
            )
        if width * height > max_pixels:
            raise PermanentError(
                f"The image claims {width}x{height} = {width * height:,} pixels, "
                f"more than the limit of {max_pixels:,}.",
                reason="decompression_bomb",
            )
        _decode(im, fmt)
        pictures = _mp_pictures(im)
        if _orientation(im) in _TRANSPOSING:
            width, height = height, width
        mime = (im.get_format_mimetype() if fmt == "HEIF" else None) or MIME_TYPES[fmt]
    finally:
        im.close()
    _refuse_foreign_content(data, fmt, pictures=pictures)
    return ImageInfo(format=fmt, mime=mime, width=width, height=height)


def extract_metadata(data: bytes) -> ImageMetadata:
    """When the photo was taken and with which camera, from EXIF. GPS is never read.

    Missing or unreadable EXIF gives None fields; odd EXIF values never raise.
    """
    fmt = sniff(data[:SNIFF_BYTES])
    _require_readable(fmt)
    im = _open(data, fmt)
    try:
        exif = _exif(im)
        if exif is None:
            return ImageMetadata()
        details = _exif_ifd(exif, ExifTags.IFD.Exif)
        taken_at = _exif_datetime(details.get(ExifTags.Base.DateTimeOriginal)) or _exif_datetime(
            exif.get(ExifTags.Base.DateTime)
        )
        return ImageMetadata(
            taken_at=taken_at,
            camera_make=_exif_text(exif.get(ExifTags.Base.Make)),
            camera_model=_exif_text(exif.get(ExifTags.Base.Model)),
        )
    finally:
        im.close()


def make_thumbnails(
    data: bytes, widths: Sequence[int], fmt: str, *, threads: int | None = None
) -> list[tuple[Rendition, bytes]]:
    """Thumbnails of the given widths in `fmt` (`webp` or `jpeg`), largest first (DESIGN.md D10).

    JPEG is decoded in draft mode at the smallest DCT scale that still covers the largest width; the largest
    rendition is resized in the stored orientation (in strips, one per CPU), then turned by its EXIF
    orientation and converted to sRGB if it has an ICC profile; each smaller width is reduced from the
    previous one while the larger ones are encoded in other threads (Pillow releases the GIL in both). Widths
    are never upscaled (duplicates after capping are dropped); outputs are sRGB and carry no metadata at all.
    `threads` (default: the CPUs this process may use, at most 4) changes the speed, never a byte of output.
    """
    out_fmt = _thumbnail_format(fmt)
    src_fmt = sniff(data[:SNIFF_BYTES])
    _require_readable(src_fmt)
    im = _open(data, src_fmt)
    try:
        orientation, targets = _decode_draft(im, src_fmt, widths)
        threads = _cpu_count() if threads is None else threads
        return _render_fast(im, orientation, targets, _icc(im), out_fmt, threads=threads)
    finally:
        im.close()


def naive_thumbnails(data: bytes, widths: Sequence[int], fmt: str) -> list[tuple[Rendition, bytes]]:
    """The reference for the benchmark: full decode, then LANCZOS from full size for every width."""
    out_fmt = _thumbnail_format(fmt)
    src_fmt = sniff(data[:SNIFF_BYTES])
    _require_readable(src_fmt)
    im = _open(data, src_fmt)
    try:
        _decode(im, src_fmt)
        full = ImageOps.exif_transpose(im)
        return _render(full, _targets(widths, full.size), _icc(im), out_fmt, chained=False)
    finally:
        im.close()


def decode_for_thumbnails(data: bytes, widths: Sequence[int]) -> Image.Image:
    """The decoded image `make_thumbnails` resizes from, turned as shown (evidence of JPEG draft mode)."""
    src_fmt = sniff(data[:SNIFF_BYTES])
    _require_readable(src_fmt)
    im = _open(data, src_fmt)
    try:
        orientation, _ = _decode_draft(im, src_fmt, widths)
        return _transpose(im, orientation).copy()
    finally:
        im.close()


# --- opening and decoding --------------------------------------------------------------------------------


@contextmanager
def _strict_pillow() -> Iterator[None]:
    """Pillow as a validator here: truncated data and its bomb warning are errors; EXIF noise is not.

    `ImageFile.LOAD_TRUNCATED_IMAGES` is process-wide state another library may have set; it is forced off
    here and restored after, under a lock so concurrent threads cannot interleave the save and restore.
    """
    with _PILLOW_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Corrupt EXIF data" and the like: odd, not fatal
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        saved = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            yield
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = saved


def _open(data: bytes, fmt: str) -> ImageFile.ImageFile:
    """Open with only the sniffed format's plugin, so Pillow cannot fall back to another parser.

    An ISO-BMFF image (AVIF, HEIF) whose last box is cut off by the end of the file is refused first, with a
    sentence that says so (libheif would only say that an item's data lies outside the file).
    """
    if fmt in ("AVIF", "HEIF"):
        _refuse_cut_box(data, fmt)
    try:
        with _refusing_bad_images(fmt, "'s header cannot be read"):
            return Image.open(BytesIO(data), formats=[fmt])
    except PermanentError as error:
        if fmt == "HEIF" and isinstance(error.__cause__, UnidentifiedImageError):
            # Pillow's own message names no reason (only the BytesIO object); libheif's does.
            raise PermanentError(
                _sentence(f"The HEIF image's header cannot be read: {_heif_open_error(data)}"),
                reason="corrupt_image",
            ) from error.__cause__
        raise


def _heif_open_error(data: bytes) -> str:
    """Why libheif cannot open `data` (only called once Pillow failed to)."""
    import pillow_heif

    try:
        pillow_heif.open_heif(BytesIO(data))
    except Exception as exc:  # noqa: BLE001 - only its text is wanted, whatever libheif raised
        return str(exc).strip() or type(exc).__name__
    return "libheif opens it, but not as one image Pillow can show"


def _refuse_cut_box(data: bytes, fmt: str) -> None:
    """`corrupt_image` when an ISO-BMFF container box (`mdat`, `meta`…) runs past the end of the file."""
    cut = _bmff_cut_box(data)
    if cut is not None:
        kind, offset, size = cut
        raise PermanentError(
            f"The {fmt} image is truncated: its {kind.decode('latin-1')!r} box at byte {offset:,} is "
            f"{size:,} bytes long, but the file ends {len(data) - offset:,} bytes into it (at byte "
            f"{len(data):,}).",
            reason="corrupt_image",
        )


def _decode(im: ImageFile.ImageFile, fmt: str) -> None:
    """Decode the current (first) frame completely; any shortfall is `corrupt_image`."""
    with _refusing_bad_images(fmt, " is truncated or damaged"):
        im.load()


@contextmanager
def _refusing_bad_images(fmt: str, failure: str) -> Iterator[None]:
    """Run Pillow strictly; its bomb guard becomes `decompression_bomb`, a decode error `corrupt_image`."""
    decode_errors = _HEIF_DECODE_ERRORS if fmt == "HEIF" else _DECODE_ERRORS
    try:
        with _strict_pillow():
            yield
    except _BOMB_ERRORS as exc:
        raise PermanentError(
            _sentence(f"The image claims more pixels than the decoder's safety limit: {exc}"),
            reason="decompression_bomb",
        ) from exc
    except decode_errors as exc:
        raise PermanentError(_sentence(f"The {fmt} image{failure}: {exc}"), reason="corrupt_image") from exc


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith(".") else text + "."


@cache
def _avif_readable() -> bool:
    try:
        return bool(features.check_module("avif"))
    except ValueError:  # a Pillow too old to know the module
        return False


@cache
def _heif_readable() -> bool:
    """Whether pillow-heif is there; registers its Pillow plugin on the first HEIF file (never at import, so a
    cold start that sees no HEIF does not load libheif)."""
    try:
        import pillow_heif
    except ImportError:
        return False
    # Neither the embedded thumbnails (`draft` is not used for HEIF: a thumbnail may show other pixels than
    # the image) nor the depth and auxiliary images (gain maps…) are read: less to parse per file.
    pillow_heif.register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)
    return True


def _require_readable(fmt: str) -> None:
    readable = {"AVIF": _avif_readable, "HEIF": _heif_readable}.get(fmt)
    if readable is not None and not readable():
        label = "HEIC/HEIF" if fmt == "HEIF" else fmt
        raise PermanentError(
            f"The file is {label}, which this deployment's image library cannot decode; "
            "accepted here: JPEG, PNG, WebP, GIF.",
            reason="unsupported_type",
        )


def _ftyp_brands(head: bytes) -> frozenset[bytes]:
    """The major and compatible brands of an ISO-BMFF `ftyp` box at the start, if there is one."""
    if len(head) < 12 or head[4:8] != b"ftyp":
        return frozenset()
    size = int.from_bytes(head[:4], "big")
    end = min(size, len(head)) if size >= 16 else len(head)
    return frozenset([head[8:12]] + [head[i : i + 4] for i in range(16, end - 3, 4)])


def _bmff_format(head: bytes) -> str | None:
    """`AVIF` or `HEIF` for an ISO-BMFF image, decided as libheif does: by the major brand, and for HEIF's
    structural brands (mif1, msf1, which AVIF shares) by the compatible brands; None for anything else."""
    brands = _ftyp_brands(head)
    if not brands:
        return None
    major = head[8:12]
    if major in _AVIF_BRANDS:
        return "AVIF"
    if major in _HEVC_BRANDS:
        return "HEIF"
    if brands & _AVIF_BRANDS:
        return "AVIF"
    if major in _HEIF_STRUCTURAL_BRANDS:
        return "HEIF"
    return None


def _as_text(head: bytes) -> str | None:
    """The head as text if it is printable UTF-8 (a multi-byte character may be cut at the end)."""
    for cut in range(4):
        try:
            text = head[: len(head) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
        if all(ch.isprintable() or ch in "\t\r\n\f\ufeff" for ch in text):
            return text
        return None
    return None


# --- polyglots -------------------------------------------------------------------------------------------


def _refuse_foreign_content(data: bytes, fmt: str, *, pictures: Sequence[int] | None) -> None:
    """Refuse an image that also is another file: foreign markers anywhere, data after its end, a ZIP end.

    `pictures` are where the pictures a JPEG's multi-picture index lists start (`_mp_pictures`), or None.
    """
    found = _find_foreign_marker(data)
    if found is not None:
        label, text, position = found
        raise PermanentError(
            f"The {fmt} image also contains {label} ({text!r} at byte {position:,}).", reason="polyglot"
        )
    end = _logical_end(data, fmt, pictures=pictures)
    if end is None and fmt == "PNG":
        raise PermanentError(
            "The PNG image has no IEND chunk: it is truncated or damaged.", reason="corrupt_image"
        )
    trailing = data[end:] if end is not None else b""
    if len(trailing) > TOLERATED_TRAILING_BYTES and trailing.strip(_PADDING):
        what = describe(trailing[:SNIFF_BYTES])
        kind = f" that looks like {what}" if what else ""
        raise PermanentError(
            f"The {fmt} image is followed by {len(trailing):,} bytes of other data{kind} (its end is at byte "
            f"{end:,}).",
            reason="polyglot",
        )
    if _ends_with_zip_directory(data):
        raise PermanentError(
            f"The {fmt} image is also a ZIP archive (its directory ends the file).", reason="polyglot"
        )


def _find_foreign_marker(data: bytes) -> tuple[str, str, int] | None:
    """(label, text, offset) of the first foreign-format marker found, checking one kind at a time."""
    lowered = data.lower()
    for needle, pattern, label in _FOREIGN_MARKERS:
        position = lowered.find(needle)
        while position >= 0:
            match = pattern.match(lowered, position)
            if match is not None:
                return label, data[position : match.end()].decode("latin-1").strip(), position
            position = lowered.find(needle, position + 1)
    position = data.find(b"PK\x03\x04")
    while position >= 0:
        if _ZIP_LOCAL_HEADER.match(data, position):
            return "a ZIP archive", "PK\x03\x04", position
        position = data.find(b"PK\x03\x04", position + 1)
    return None


def _ends_with_zip_directory(data: bytes) -> bool:
    """A ZIP end-of-central-directory record whose comment runs exactly to the end of the file."""
    floor = max(0, len(data) - _ZIP_END_SIZE - _ZIP_MAX_COMMENT)
    pos = data.rfind(_ZIP_END, floor)
    while pos >= 0:
        comment = int.from_bytes(data[pos + 20 : pos + 22], "little")
        if pos + _ZIP_END_SIZE + comment == len(data):
            return True
        pos = data.rfind(_ZIP_END, floor, pos)
    return False


def _logical_end(data: bytes, fmt: str, *, pictures: Sequence[int] | None) -> int | None:
    """Offset just after the image's own last byte, or None when its structure cannot be walked.

    For a JPEG with a multi-picture index, the end of the last picture it lists (see `_multi_picture_end`).
    """
    walkers: dict[str, Callable[[bytes], int | None]] = {
        "PNG": _png_end,
        "GIF": _gif_end,
        "WEBP": _webp_end,
        "AVIF": _bmff_end,
        "HEIF": _bmff_end,
    }
    if fmt != "JPEG":
        return walkers[fmt](data)
    if pictures is None:
        return _jpeg_end(data, 0)
    return _multi_picture_end(data, pictures)


def _mp_pictures(im: ImageFile.ImageFile) -> list[int] | None:
    """Where in the file each picture a JPEG's multi-picture index lists starts, as Pillow read the index.

    The MP index (CIPA DC-007, an APP2 `MPF` segment of the first picture) gives each picture's offset from
    the index's own header, the first picture's being 0. An MPO's offsets are the ones Pillow seeks to for
    its frames; a JPEG Pillow does not read as an MPO (an Ultra HDR photo, whose second picture is its gain
    map, or an index of one picture) has its index read the same way. None without an index, or with one
    Pillow cannot read: then Pillow reads the file as one plain JPEG, and so do we.
    """
    if im.format not in ("JPEG", "MPO"):
        return None
    from PIL import JpegImagePlugin  # loaded already to open this JPEG; kept out of this module's cold import

    if im.format == "MPO":
        offsets = getattr(im, "_MpoImageFile__mpoffsets", None)  # what `MpoImageFile.seek` reads frames at
        return [int(offset) for offset in offsets] if offsets else None
    if not isinstance(im, JpegImagePlugin.JpegImageFile) or "mpoffset" not in im.info:
        return None
    try:
        with _strict_pillow():
            index = im._getmp()
    except _DECODE_ERRORS:
        return None
    entries = index.get(0xB002) if index is not None else None
    if not entries:
        return None
    header = int(im.info["mpoffset"])
    return [0] + [int(entry["DataOffset"]) + header for entry in entries[1:]]


def _multi_picture_end(data: bytes, offsets: Sequence[int]) -> int:
    """End of the last picture a JPEG's multi-picture index lists, once each picture and the bytes between
    them are checked.

    Every listed picture must start in the file with a JPEG SOI and run whole to its EOI, without overlapping
    another (else `corrupt_image`). Bytes the index skips between pictures (cameras pad there) may only be
    padding (else `polyglot`); what follows the last picture is judged by the caller, as after any image.
    The sizes the index records are not relied on: walking each picture finds its end, and Pillow's own MPO
    writer (13.0) records wrong ones from the third picture on.
    """
    total, file_size = len(offsets), len(data)
    end = 0
    for number, offset in sorted(enumerate(offsets, 1), key=lambda numbered: numbered[1]):
        where = f"The JPEG image's multi-picture index places picture {number} of {total} at byte {offset:,}"
        if offset < end:
            raise PermanentError(
                f"{where}, inside the picture before it (which ends at byte {end:,}): the index is damaged.",
                reason="corrupt_image",
            )
        if offset >= file_size:
            raise PermanentError(
                f"{where}, past the end of the file ({file_size:,} bytes): the file is truncated or its "
                "index is damaged.",
                reason="corrupt_image",
            )
        if not data.startswith(b"\xff\xd8\xff", offset):
            raise PermanentError(
                f"{where}, where no JPEG starts: the index is damaged.", reason="corrupt_image"
            )
        gap = data[end:offset]
        if gap.strip(_PADDING):
            raise PermanentError(
                f"The JPEG image has {len(gap):,} bytes of other data between its pictures (at byte "
                f"{end:,}), where its multi-picture index allows only padding.",
                reason="polyglot",
            )
        picture_end = _jpeg_end(data, offset)
        if picture_end is None:
            raise PermanentError(
                f"Picture {number} of {total} of the JPEG image (at byte {offset:,}) is truncated or "
                "damaged.",
                reason="corrupt_image",
            )
        end = picture_end
    return end


def _jpeg_end(data: bytes, start: int) -> int | None:
    """Walk JPEG segments from the SOI at `start` to just after EOI."""
    n = len(data)
    i = start + 2
    while i < n:
        if data[i] != 0xFF:
            return None
        while i < n and data[i] == 0xFF:  # fill bytes
            i += 1
        if i >= n:
            return None
        marker = data[i]
        i += 1
        if marker == 0xD9:  # EOI
            return i
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # no length
            continue
        if i + 2 > n:
            return None
        length = int.from_bytes(data[i : i + 2], "big")
        if length < 2 or i + length > n:
            return None
        i += length
        if marker == 0xDA:  # start of scan: entropy-coded data runs to the next real marker
            found = _JPEG_MARKER.search(data, i)
            if found is None:
                return None
            i = found.start()
    return None


def _png_end(data: bytes) -> int | None:
    i, n = 8, len(data)
    while i + 12 <= n:
        length = int.from_bytes(data[i : i + 4], "big")
        kind = data[i + 4 : i + 8]
        i += 12 + length
        if i > n:
            return None
        if kind == b"IEND":
            return i
    return None


def _gif_end(data: bytes) -> int | None:
    n = len(data)
    if n < 13:
        return None
    flags = data[10]
    i = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    while i < n:
        block = data[i]
        if block == 0x3B:  # trailer
            return i + 1
        if block == 0x21:  # extension: label, then sub-blocks
            end = _gif_sub_blocks_end(data, i + 2)
        elif block == 0x2C:  # image descriptor, local colour table, LZW code size, sub-blocks
            if i + 10 > n:
                return None
            local = data[i + 9]
            i += 10 + (3 << ((local & 7) + 1) if local & 0x80 else 0)
            end = _gif_sub_blocks_end(data, i + 1)
        else:
            return None
        if end is None:
            return None
        i = end
    return None


def _gif_sub_blocks_end(data: bytes, i: int) -> int | None:
    n = len(data)
    while i < n:
        size = data[i]
        i += 1 + size
        if size == 0:
            return i
    return None


def _webp_end(data: bytes) -> int | None:
    size = int.from_bytes(data[4:8], "little")
    end = 8 + size + (size & 1)
    return end if end <= len(data) else None


def _bmff_end(data: bytes) -> int | None:
    """End of the last well-formed top-level ISO-BMFF box (AVIF, HEIF)."""
    i, n = 0, len(data)
    while i + 8 <= n:
        size = int.from_bytes(data[i : i + 4], "big")
        kind = data[i + 4 : i + 8]
        if not all(0x20 <= c < 0x7F for c in kind):
            break
        header = 8
        if size == 1:
            if i + 16 > n:
                break
            size, header = int.from_bytes(data[i + 8 : i + 16], "big"), 16
        elif size == 0:  # runs to the end of the file
            return n
        if size < header or i + size > n:
            break
        i += size
    return i


def _bmff_cut_box(data: bytes) -> tuple[bytes, int, int] | None:
    """(type, offset, size) of a top-level container box (`_BMFF_BOXES`) that runs past the end of the file.

    Only a known box type counts: other bytes after the image's last box are not a box cut short but data
    that does not belong there (judged as a polyglot by `_refuse_foreign_content`).
    """
    end, n = _bmff_end(data) or 0, len(data)
    if end + 8 > n:
        return None
    size, kind = int.from_bytes(data[end : end + 4], "big"), data[end + 4 : end + 8]
    if kind not in _BMFF_BOXES:
        return None
    if size == 1:
        size = int.from_bytes(data[end + 8 : end + 16], "big") if end + 16 <= n else n - end + 1
    return (kind, end, size) if size > n - end else None


# --- metadata --------------------------------------------------------------------------------------------


def _exif(im: Image.Image) -> Image.Exif | None:
    """The image's EXIF, or None when it cannot be parsed."""
    try:
        with _strict_pillow():
            return im.getexif()
    except _DECODE_ERRORS:
        return None


def _exif_ifd(exif: Image.Exif, ifd: ExifTags.IFD) -> dict[int, Any]:
    try:
        return dict(exif.get_ifd(ifd))
    except _DECODE_ERRORS:
        return {}


def _orientation(im: Image.Image) -> int:
    """The EXIF orientation still to apply to the decoded pixels (1: none).

    HEIF: none. libheif has applied the file's `irot`/`imir` transformations while decoding (its size is
    reported after them), and HEIF's EXIF orientation only restates them (pillow-heif resets it to 1, keeping
    the original in `info["original_orientation"]`): applying it as well would turn the picture twice.
    """
    if im.format == "HEIF":
        return 1
    exif = _exif(im)
    value = exif.get(ExifTags.Base.Orientation) if exif is not None else None
    return value if isinstance(value, int) and value in _ORIENTATION_METHODS else 1


def _exif_text(value: object, *, limit: int = 128) -> str | None:
    """An EXIF ASCII value as clean text: up to the first NUL, control characters dropped, trimmed."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if not isinstance(value, str):
        return None
    text = "".join(ch for ch in value.split("\x00", 1)[0] if ch.isprintable()).strip()
    return text[:limit] or None


def _exif_datetime(value: object) -> str | None:
    """`2024:05:01 12:30:00` (EXIF) → `2024-05-01T12:30:00`; None for anything unparsable."""
    text = _exif_text(value)
    if text is None:
        return None
    for pattern in ("%Y:%m:%d %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y:%m:%d %H:%M"):
        try:
            return datetime.strptime(text[:19], pattern).isoformat(timespec="seconds")
        except ValueError:
            continue
    return None


# --- thumbnails ------------------------------------------------------------------------------------------


def _decode_draft(
    im: ImageFile.ImageFile, fmt: str, widths: Sequence[int]
) -> tuple[int, list[tuple[int, int]]]:
    """Decode (JPEG: at the smallest DCT scale covering the largest target); (EXIF orientation, targets).

    The targets are (width, height) as displayed; the decoded image is still in the stored orientation.
    """
    orientation = _orientation(im)
    transposed = orientation in _TRANSPOSING
    width, height = im.size
    targets = _targets(widths, (height, width) if transposed else (width, height))
    if im.format in ("JPEG", "MPO"):
        largest_w, largest_h = targets[0]
        im.draft("RGB", (largest_h, largest_w) if transposed else (largest_w, largest_h))
    _decode(im, fmt)
    return orientation, targets


def _icc(im: Image.Image) -> bytes | None:
    icc = im.info.get("icc_profile")
    return icc if isinstance(icc, bytes) and icc else None


def _thumbnail_format(fmt: str) -> str:
    key = fmt.lower().lstrip(".")
    key = "jpeg" if key == "jpg" else key
    if key not in THUMBNAIL_FORMATS:
        raise ValueError(f"Thumbnail format must be one of {sorted(THUMBNAIL_FORMATS)}, not {fmt!r}.")
    return THUMBNAIL_FORMATS[key]


def _targets(widths: Sequence[int], display: tuple[int, int]) -> list[tuple[int, int]]:
    """(width, height) per rendition, largest first: never wider than the source, no width twice."""
    if not widths or any(w < 1 for w in widths):
        raise ValueError(f"Thumbnail widths must be positive and at least one: {list(widths)!r}.")
    dw, dh = display
    capped = sorted({min(int(w), dw) for w in widths}, reverse=True)
    return [(w, max(1, round(w * dh / dw))) for w in capped]


def _transpose(im: Image.Image, orientation: int) -> Image.Image:
    """Apply an EXIF orientation (the same table as `ImageOps.exif_transpose`, read without raising)."""
    method = _ORIENTATION_METHODS.get(orientation)
    return im if method is None else im.transpose(method)


def _render(
    base: Image.Image, targets: list[tuple[int, int]], icc: bytes | None, out_fmt: str, *, chained: bool
) -> list[tuple[Rendition, bytes]]:
    """Resize to each target, largest first (from the previous result when chained), to sRGB, encode."""
    source = _normalise_mode(base, keep_icc_space=icc is not None)
    source.info.clear()  # nothing of the original's metadata may reach an output
    previous = source
    results: list[tuple[Rendition, bytes]] = []
    for index, (width, height) in enumerate(targets):
        start = previous if chained else source
        image = start if start.size == (width, height) else _resize(start, (width, height))
        if icc is not None and (index == 0 or not chained):
            # On the largest rendition rather than the bigger decoded image; chained smaller ones inherit it.
            image = _to_srgb(image, icc)
        previous = image
        blob = _encode(image, out_fmt)
        rendition = Rendition(
            width=width, height=height, format=out_fmt, mime=MIME_TYPES[out_fmt], bytes=len(blob)
        )
        results.append((rendition, blob))
    return results


def _resize(im: Image.Image, size: tuple[int, int]) -> Image.Image:
    return im.resize(size, Image.Resampling.LANCZOS, reducing_gap=_REDUCING_GAP)


#: A box `reduce()` by an integer factor first when the ratio is at least this (Pillow's `reducing_gap`), so
#: LANCZOS never works on more than 3x its output: the same result to the eye, far fewer filter taps.
_REDUCING_GAP = 3.0
#: Pillow's BICUBIC (its `thumbnail()` default): a third fewer taps than LANCZOS, which libvips' SIMD code
#: affords and Pillow's scalar code does not. After encoding at quality 80, outputs are within 0.15 dB PSNR
#: of LANCZOS' against a full-size LANCZOS reference (`python -m pipeline.cli.bench_images` prints both).
_FILTER = Image.Resampling.BICUBIC
#: Below this many output pixels a resize is not split into bands: the copies in and out of the bands and the
#: hand-over cost more than a second core saves (in practice only the largest rendition is split).
_SPLIT_MIN_PIXELS = 512 * 1024
#: At most this many threads work on one image (strips of a resize, renditions encoded side by side).
_MAX_THREADS = 4


def _cpu_count() -> int:
    """CPUs this process may run on (the affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class _Pool:
    """The module's worker threads, made on first use: a process that forks after importing this module (a
    fork server) has none to lose, and a forked child starts without its parent's (see `forget`)."""

    lock = threading.Lock()
    executor: ThreadPoolExecutor | None = None

    @classmethod
    def get(cls) -> ThreadPoolExecutor:
        with cls.lock:
            if cls.executor is None:
                from concurrent.futures import ThreadPoolExecutor

                cls.executor = ThreadPoolExecutor(max_workers=_MAX_THREADS, thread_name_prefix="thumbnails")
            return cls.executor

    @classmethod
    def forget(cls) -> None:
        """In a forked child: the parent's threads do not exist here, nor may its lock be held by one."""
        cls.executor = None
        cls.lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_Pool.forget)


def _render_fast(
    im: Image.Image,
    orientation: int,
    targets: list[tuple[int, int]],
    icc: bytes | None,
    out_fmt: str,
    *,
    threads: int,
) -> list[tuple[Rendition, bytes]]:
    """`make_thumbnails` from the decoded image, still in its stored orientation.

    The largest rendition is resized before it is turned (turning the smaller image is cheaper) and converted
    to sRGB; each smaller one is resized from the one before. With threads, each rendition is encoded in a
    worker thread while the next one is resized in this one, and large resizes are split into strips.
    """
    pool = _Pool.get() if threads > 1 else None
    source = _normalise_mode(im, keep_icc_space=icc is not None)
    source.info.clear()  # nothing of the original's metadata may reach an output
    width, height = targets[0]
    stored = (height, width) if orientation in _TRANSPOSING else (width, height)
    image = source if source.size == stored else _resize_strips(source, stored, pool, threads)
    image = _transpose(image, orientation)
    if icc is not None and not (image.mode in ("RGB", "RGBA") and _is_srgb_alike(icc)):
        image = _to_srgb(image, icc)
    image.info.clear()
    encoded: list[Future[bytes] | bytes] = []
    try:
        for index, size in enumerate(targets):
            if index:
                image = image if image.size == size else _resize_strips(image, size, pool, threads)
            last = index == len(targets) - 1
            encoded.append(
                _encode(image, out_fmt) if pool is None or last else pool.submit(_encode, image, out_fmt)
            )
        blobs = [blob if isinstance(blob, bytes) else blob.result() for blob in encoded]
    finally:
        for blob in encoded:  # on an error, let every worker finish with the images before they are closed
            if not isinstance(blob, bytes):
                blob.exception()
    return [
        (Rendition(width=w, height=h, format=out_fmt, mime=MIME_TYPES[out_fmt], bytes=len(blob)), blob)
        for (w, h), blob in zip(targets, blobs, strict=True)
    ]


def _resize_strips(
    im: Image.Image, size: tuple[int, int], pool: ThreadPoolExecutor | None, threads: int
) -> Image.Image:
    """`_FILTER` to `size`, after a box reduction by an integer factor when the ratio allows (as Pillow's
    `reducing_gap`), as Pillow's two passes made explicit, each split across threads when the output is large.

    The vertical pass comes first: per filter tap it costs less than the horizontal one, so shrinking the
    rows first is 5-25% faster than Pillow's own order (horizontal first). The vertical pass computes each
    column from the same column only, so it is split into bands of columns; the horizontal pass computes each
    row from the same row only, so it is split into bands of rows. Both give exactly the pixels of one
    unsplit pass: the thread count changes the speed, never the output. (Bands of one `resize` call would
    not: Pillow picks its pass order by the work each needs, so a band may be done in another order than the
    whole image and round differently.)
    """
    width, height = size
    factor_x = max(1, int(im.width / width / _REDUCING_GAP))
    factor_y = max(1, int(im.height / height / _REDUCING_GAP))
    x0, y0, x1, y1 = 0.0, 0.0, float(im.width), float(im.height)
    if factor_x > 1 or factor_y > 1:
        x1, y1 = im.width / factor_x, im.height / factor_y  # the last block may be partial
        im = im.reduce((factor_x, factor_y))
    parts = min(threads, _MAX_THREADS) if pool is not None and width * height >= _SPLIT_MIN_PIXELS else 1
    mode = im.mode
    premultiplied = {"RGBA": "RGBa", "LA": "La"}.get(mode)
    if premultiplied is not None:  # once here, rather than once per call inside `resize`
        im = im.convert(premultiplied)
    if (y0, y1) != (0.0, float(height)):  # vertical first: Pillow's vertical pass costs less per tap
        source = im

        def columns(left: int, right: int) -> Image.Image:
            band = (
                source if (left, right) == (0, source.width) else source.crop((left, 0, right, source.height))
            )
            return band.resize((right - left, height), _FILTER, box=(0, y0, right - left, y1))

        im = _in_bands(pool, parts, source.width, columns, across="columns")
    if (x0, x1) != (0.0, float(width)):
        source = im

        def rows(top: int, bottom: int) -> Image.Image:
            band = (
                source if (top, bottom) == (0, source.height) else source.crop((0, top, source.width, bottom))
            )
            return band.resize((width, bottom - top), _FILTER, box=(x0, 0, x1, bottom - top))

        im = _in_bands(pool, parts, source.height, rows, across="rows")
    return im.convert(mode) if premultiplied is not None else im


def _in_bands(
    pool: ThreadPoolExecutor | None,
    parts: int,
    extent: int,
    work: Callable[[int, int], Image.Image],
    *,
    across: str,
) -> Image.Image:
    """`work(start, end)` over `parts` bands of [0, extent), all but the first in the pool, put side by side
    (bands of rows one under the other, bands of columns one beside the other)."""
    parts = min(parts, extent)
    if pool is None or parts < 2:
        return work(0, extent)
    cuts = [extent * k // parts for k in range(parts + 1)]
    futures = [pool.submit(work, cuts[k], cuts[k + 1]) for k in range(1, parts)]
    try:
        pieces = [work(cuts[0], cuts[1])] + [future.result() for future in futures]
    finally:
        for future in futures:  # on an error, let every worker finish with the image before it is closed
            future.exception()
    first = pieces[0]
    if across == "rows":
        out = Image.new(first.mode, (first.width, extent))
        for cut, piece in zip(cuts, pieces, strict=False):
            out.paste(piece, (0, cut))
    else:
        out = Image.new(first.mode, (extent, first.height))
        for cut, piece in zip(cuts, pieces, strict=False):
            out.paste(piece, (cut, 0))
    return out


def _normalise_mode(im: Image.Image, *, keep_icc_space: bool) -> Image.Image:
    """RGB, RGBA or L, so resampling is not nearest-neighbour (palette) and alpha survives.

    CMYK is kept when an ICC profile will convert it; its conversion to sRGB happens after the first resize.
    """
    mode = im.mode
    if mode in ("RGB", "L"):
        return im.convert("RGBA") if "transparency" in im.info else im
    if mode == "RGBA":
        return im
    if mode == "CMYK":
        return im if keep_icc_space else im.convert("RGB")
    if mode in ("P", "PA"):
        return im.convert("RGBA" if im.has_transparency_data else "RGB")
    if mode in ("LA", "La", "RGBa"):
        return im.convert("RGBA")
    if mode == "1":
        return im.convert("L")
    if mode.startswith("I"):  # 16-bit greyscale PNG: scale to 8 bits rather than clip
        return im.convert("I").point(lambda value: value * (1 / 257)).convert("L")
    return im.convert("RGBA" if im.has_transparency_data else "RGB")


@cache
def _srgb() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _to_srgb(im: Image.Image, icc: bytes) -> Image.Image:
    """Convert from the embedded profile to sRGB; if that cannot be done, keep the pixels as they are."""
    out_mode = "RGBA" if im.mode == "RGBA" else "RGB"
    try:
        converted = ImageCms.profileToProfile(
            im, ImageCms.ImageCmsProfile(BytesIO(icc)), _srgb(), outputMode=out_mode
        )
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        converted = None
    if converted is None:
        return im.convert("RGB") if im.mode == "CMYK" else im
    converted.info.clear()
    return converted


#: Profiles already measured by `_is_srgb_alike` (bounded: a worker lives for many uploads).
_SRGB_ALIKE: dict[bytes, bool] = {}


def _is_srgb_alike(icc: bytes) -> bool:
    """Whether converting from this profile to sRGB moves no colour by more than one level (an sRGB profile
    by another name or version, as most cameras and phones embed): then the conversion, ~20 ms on a 1024 px
    rendition, is skipped. Measured once per profile on 4,096 colours spread over the RGB cube."""
    known = _SRGB_ALIKE.get(icc)
    if known is None:
        levels = range(0, 256, 17)
        cube = Image.frombytes(
            "RGB", (64, 64), bytes(v for r in levels for g in levels for b in levels for v in (r, g, b))
        )
        converted = _to_srgb(cube, icc)
        known = converted is not cube and all(
            abs(a - b) <= 1 for a, b in zip(cube.tobytes(), converted.convert("RGB").tobytes(), strict=True)
        )
        if len(_SRGB_ALIKE) >= 32:
            _SRGB_ALIKE.clear()
        _SRGB_ALIKE[icc] = known
    return known


def _flatten(im: Image.Image) -> Image.Image:
    """Alpha composited onto white, for formats without alpha."""
    background = Image.new("RGB", im.size, (255, 255, 255))
    background.paste(im, mask=im.getchannel("A"))
    return background


def _encode(im: Image.Image, out_fmt: str) -> bytes:
    """Encode with no metadata at all: no EXIF, XMP or ICC arguments, and an empty `info`."""
    if out_fmt == "JPEG":
        im = _flatten(im) if im.mode == "RGBA" else im if im.mode in ("RGB", "L") else im.convert("RGB")
        params: dict[str, Any] = {"quality": THUMBNAIL_QUALITY, "optimize": True, "progressive": True}
    else:
        im = im if im.mode in ("RGB", "RGBA") else im.convert("RGB")
        params = {"quality": THUMBNAIL_QUALITY, "method": WEBP_METHOD}
    im.info.clear()
    buffer = BytesIO()
    im.save(buffer, out_fmt, **params)
    return buffer.getvalue()
