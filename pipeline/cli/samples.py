"""Sample files for tests, the demo and the benchmark: good images and bad files, deterministic by seed.

Never deployed. Pillow and the standard library only (no numpy): a 12 MP photo-like JPEG takes well under a
second, because the scene is drawn small and enlarged, and the grain is one `randbytes` call.
"""

from __future__ import annotations

import random
import struct
import zipfile
import zlib
from collections.abc import Callable
from functools import partial
from io import BytesIO
from typing import Any, NamedTuple

from PIL import ExifTags, Image, ImageChops, ImageCms, ImageDraw

TAKEN_AT_EXIF = "2024:05:01 12:30:00"
TAKEN_AT_ISO = "2024-05-01T12:30:00"
CAMERA_MAKE = "Pixelworks"
CAMERA_MODEL = "PW-1 Mark II"
#: The Eiffel Tower, as degrees/minutes/seconds: what must never reach a thumbnail or a document.
GPS_LATITUDE = (48.0, 51.0, 29.5)
GPS_LONGITUDE = (2.0, 17.0, 40.2)
XMP_PACKET = (
    b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>'
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/" dc:creator="Ada Lovelace"/>'
    b'</rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
)
#: The XMP an Ultra HDR JPEG's primary picture carries to say its second picture is a gain map.
ULTRA_HDR_XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:hdrgm="http://ns.adobe.com/hdr-gain-map/1.0/" hdrgm:Version="1.0"/>'
    b"</rdf:RDF></x:xmpmeta>"
)


# --- good images -----------------------------------------------------------------------------------------


def photo(width: int = 4000, height: int = 3000, *, seed: int = 0) -> Image.Image:
    """A photo-like RGB picture: smooth sky and ground gradients, soft shapes, some sharp detail and grain."""
    rng = random.Random(seed)
    small = Image.new("RGB", (max(16, width // 25), max(12, height // 25)))
    draw = ImageDraw.Draw(small)
    sw, sh = small.size
    horizon = sh * 3 // 5
    for y in range(sh):
        t = y / max(1, sh - 1)
        sky = (int(70 + 110 * t), int(120 + 90 * t), int(210 - 30 * t))
        ground = (int(90 - 40 * t), int(110 - 30 * t), int(40 + 10 * t))
        draw.line([(0, y), (sw, y)], fill=sky if y < horizon else ground)
    for _ in range(3):  # hills
        x = rng.randrange(-sw // 4, sw)
        peak = horizon - rng.randrange(sh // 8, sh // 3)
        draw.polygon(
            [(x, horizon + 1), (x + rng.randrange(sw // 4, sw // 2), peak), (x + sw, horizon + 1)],
            fill=(rng.randrange(40, 90), rng.randrange(70, 120), rng.randrange(40, 80)),
        )
    for _ in range(14):  # trees, rocks, a sun
        cx, cy, r = rng.randrange(sw), rng.randrange(sh), rng.randrange(2, max(3, sh // 6))
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
    picture = small.resize((width, height), Image.Resampling.BICUBIC)
    detail = ImageDraw.Draw(picture)
    for _ in range(max(10, width * height // 40_000)):  # grass, branches, fences: sharp edges
        x, y = rng.randrange(width), rng.randrange(height)
        end = (x + rng.randrange(-width // 12, width // 12), y + rng.randrange(-height // 12, height // 12))
        shade = rng.randrange(20, 236)
        detail.line(
            [(x, y), end], fill=(shade, shade - rng.randrange(20), shade // 2), width=rng.randrange(1, 6)
        )
    grain = Image.frombytes("L", (width, height), rng.randbytes(width * height)).point(
        lambda v: 116 + v * 24 // 255
    )
    return ImageChops.add(picture, Image.merge("RGB", (grain, grain, grain)), 1.0, -128)


def camera_exif(*, orientation: int = 1, gps: bool = True) -> Image.Exif:
    """EXIF as a camera writes it: orientation, time taken, make and model (NUL-padded), GPS position."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = CAMERA_MAKE + "\x00\x00"
    exif[ExifTags.Base.Model] = CAMERA_MODEL
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.DateTime] = "2024:05:02 08:00:00"
    exif[ExifTags.Base.Software] = "pipeline samples"
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = TAKEN_AT_EXIF
    if gps:
        position = exif.get_ifd(ExifTags.IFD.GPSInfo)
        position[ExifTags.GPS.GPSLatitudeRef] = "N"
        position[ExifTags.GPS.GPSLatitude] = GPS_LATITUDE
        position[ExifTags.GPS.GPSLongitudeRef] = "E"
        position[ExifTags.GPS.GPSLongitude] = GPS_LONGITUDE
    return exif


def srgb_icc() -> bytes:
    """An sRGB ICC profile, to embed in a sample."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def photo_jpeg(
    width: int = 4000,
    height: int = 3000,
    *,
    orientation: int = 6,
    gps: bool = True,
    seed: int = 0,
    quality: int = 90,
    icc: bool = False,
    xmp: bool = False,
    comment: bytes | None = None,
) -> bytes:
    """A camera JPEG: photo-like pixels plus EXIF (orientation, DateTimeOriginal, Make, Model, GPS if asked).

    Pixels are stored as the sensor saw them: with orientation 6 a 4000x3000 file shows as 3000x4000.
    """
    params: dict[str, Any] = {"quality": quality, "exif": camera_exif(orientation=orientation, gps=gps)}
    if icc:
        params["icc_profile"] = srgb_icc()
    if xmp:
        params["xmp"] = XMP_PACKET
    if comment is not None:
        params["comment"] = comment
    return _encode(photo(width, height, seed=seed), "JPEG", **params)


def mpo_jpeg(
    width: int = 640,
    height: int = 480,
    *,
    pictures: int = 2,
    orientation: int = 6,
    gap: int | bytes = 0,
    gain_map: bool = False,
    seed: int = 12,
) -> bytes:
    """A multi-picture JPEG (MPO, CIPA DC-007) as a stereo camera writes it, made by Pillow's MPO writer.

    The first picture is a camera JPEG (EXIF with `orientation`); the others are different photos. `gap`
    (that many zero bytes, or the bytes given) is put between each two pictures, as Fujifilm cameras pad
    theirs, and the MP index's offsets are moved to match, so the index still finds every picture. With
    `gain_map`, it is laid out as an Ultra HDR photo (Android phones) instead: the first picture's XMP names
    an HDR gain map, and the second picture is that map (greyscale, a quarter of the size).
    """
    frames = [photo(width, height, seed=seed + index) for index in range(pictures)]
    params: dict[str, Any] = {"quality": 90, "exif": camera_exif(orientation=orientation, gps=False)}
    if gain_map:
        frames[1:] = [frames[1].convert("L").resize((max(1, width // 4), max(1, height // 4)))]
        params["xmp"] = ULTRA_HDR_XMP
    data = _encode(frames[0], "MPO", save_all=True, append_images=frames[1:], **params)
    filler = b"\x00" * gap if isinstance(gap, int) else gap
    return _spread_mp_pictures(data, filler) if filler else data


def _spread_mp_pictures(data: bytes, filler: bytes) -> bytes:
    """Put `filler` between each two pictures of an MPO and move the MP index's offsets by as much.

    Offsets in the index are from the MP header (the byte order mark after `MPF\\0` in the first picture's
    APP2 segment); the first picture's is 0 (CIPA DC-007).
    """
    header = data.index(b"MPF\x00") + 4
    order = "<" if data[header : header + 2] == b"II" else ">"
    (ifd,) = struct.unpack_from(f"{order}I", data, header + 4)
    (count,) = struct.unpack_from(f"{order}H", data, header + ifd)
    tags = (struct.unpack_from(f"{order}HHII", data, header + ifd + 2 + 12 * k) for k in range(count))
    length, entries = next((n, at) for tag, _, n, at in tags if tag == 0xB002)
    patched = bytearray(data)
    starts: list[int] = []
    for number in range(length // 16):
        at = header + entries + 16 * number + 8  # each entry: attribute, size, offset, two entry numbers
        (offset,) = struct.unpack_from(f"{order}I", data, at)
        starts.append(header + offset if number else 0)
        if number:
            struct.pack_into(f"{order}I", patched, at, offset + number * len(filler))
    ends = [*starts[1:], len(data)]
    return filler.join(bytes(patched[start:end]) for start, end in zip(starts, ends, strict=True))


def png_with_alpha(width: int = 640, height: int = 480, *, seed: int = 1) -> bytes:
    """An RGBA PNG: a gradient, a half-transparent disc and a fully transparent band."""
    return _encode(_alpha_picture(width, height, seed=seed), "PNG")


def webp_image(width: int = 800, height: int = 600, *, alpha: bool = False, seed: int = 2) -> bytes:
    """A lossy WebP (with alpha if asked) carrying EXIF with GPS and an ICC profile, to be stripped."""
    picture = _alpha_picture(width, height, seed=seed) if alpha else photo(width, height, seed=seed)
    return _encode(picture, "WEBP", quality=85, exif=camera_exif(gps=True), icc_profile=srgb_icc())


def gif_image(width: int = 320, height: int = 240, *, frames: int = 3, seed: int = 3) -> bytes:
    """An animated palette GIF with a transparent colour; only its first frame counts."""
    rng = random.Random(seed)
    images = []
    for index in range(frames):
        frame = Image.new("P", (width, height), 0)
        frame.putpalette([0, 0, 0, 255, 255, 255] + [rng.randrange(256) for _ in range(3 * 254)])
        draw = ImageDraw.Draw(frame)
        for _ in range(12):
            x, y = rng.randrange(width), rng.randrange(height)
            draw.rectangle([x, y, x + width // 5, y + height // 5], fill=rng.randrange(2, 256))
        draw.text((10 + index * 5, 10), f"frame {index}", fill=1)
        images.append(frame)
    buffer = BytesIO()
    images[0].save(
        buffer, "GIF", save_all=True, append_images=images[1:], duration=200, loop=0, transparency=0
    )
    return buffer.getvalue()


def avif_image(width: int = 320, height: int = 240, *, seed: int = 4) -> bytes:
    """An AVIF (needs a Pillow built with AVIF support)."""
    return _encode(photo(width, height, seed=seed), "AVIF", quality=70)


def palette_png(width: int = 200, height: int = 150, *, seed: int = 5) -> bytes:
    """A palette PNG with a transparent index."""
    picture = _alpha_picture(width, height, seed=seed).convert("P", palette=Image.Palette.ADAPTIVE, colors=32)
    return _encode(picture, "PNG", transparency=0)


def grey_alpha_png(width: int = 200, height: int = 150, *, seed: int = 6) -> bytes:
    """An LA (greyscale with alpha) PNG."""
    return _encode(_alpha_picture(width, height, seed=seed).convert("LA"), "PNG")


def cmyk_jpeg(width: int = 400, height: int = 300, *, seed: int = 7) -> bytes:
    """A CMYK JPEG, as print workflows produce."""
    return _encode(photo(width, height, seed=seed).convert("CMYK"), "JPEG", quality=90)


# --- bad files -------------------------------------------------------------------------------------------


def truncated_jpeg() -> bytes:
    """A JPEG cut off after 60% of its bytes, as an interrupted upload leaves it."""
    whole = photo_jpeg(640, 480, orientation=1, gps=False, seed=8)
    return whole[: len(whole) * 6 // 10]


def svg_file() -> bytes:
    """An SVG drawing (XML that can carry script): refused whatever it is named."""
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">'
        b'<circle cx="50" cy="50" r="40" fill="red"/><script>alert(document.cookie)</script></svg>\n'
    )


def pdf_file() -> bytes:
    """A minimal one-page PDF."""
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
        b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>endobj\n"
        b"trailer<</Root 1 0 R>>\n%%EOF\n"
    )


def tiff_file() -> bytes:
    """A real TIFF image (Pillow reads it, we do not accept it)."""
    return _encode(photo(64, 48, seed=9), "TIFF")


def html_file() -> bytes:
    """An HTML page with script."""
    return (
        b"<!DOCTYPE html>\n<html><head><title>x</title></head><body><script>alert(1)</script></body></html>\n"
    )


def eps_file() -> bytes:
    """An Encapsulated PostScript drawing."""
    return (
        b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 100 100\n"
        b"newpath 10 10 moveto 90 90 lineto stroke\n%%EOF\n"
    )


def heic(picture: Image.Image, *, orientation: int = 1, gps: bool = False, quality: int = 85) -> bytes:
    """`picture` as a HEIC with camera EXIF; pillow-heif writes a non-1 orientation as `irot`/`imir` too."""
    import pillow_heif  # only where a HEIC sample is made (its encoder, x265, is not needed to read them)

    buffer = BytesIO()
    exif = camera_exif(orientation=orientation, gps=gps).tobytes()
    pillow_heif.from_pillow(picture).save(buffer, quality=quality, exif=exif)
    return buffer.getvalue()


def heic_photo(width: int = 1200, height: int = 900, *, orientation: int = 6, seed: int = 5) -> bytes:
    """A phone's HEIC photo: photo-like pixels stored sideways, turned upright by its orientation."""
    return heic(photo(width, height, seed=seed), orientation=orientation, gps=True)


def heic_file() -> bytes:
    """The start of a HEIC photo (an ISO-BMFF `ftyp` box with HEIF brands), as iPhones write by default."""
    ftyp = b"ftypheic" + b"\x00\x00\x00\x00" + b"mif1heicmiaf"
    return struct.pack(">I", 8 + len(ftyp)) + ftyp + b"\x00\x00\x00\x08free" * 4


def empty_file() -> bytes:
    """Zero bytes."""
    return b""


def text_named_jpg() -> bytes:
    """Plain text, meant to be uploaded under a `.jpg` name."""
    return b"Meeting notes, 1 May 2024.\nThis is not a picture, whatever its name says.\n"


def polyglot_jpeg_zip() -> bytes:
    """A valid JPEG with a ZIP archive appended: image viewers show the photo, unzip extracts the payload."""
    archive = BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("payload/run.sh", "#!/bin/sh\necho owned\n")
    return photo_jpeg(320, 240, orientation=1, gps=False, seed=10) + archive.getvalue()


def polyglot_jpeg_php() -> bytes:
    """A valid JPEG whose comment segment holds PHP code (the classic upload web shell)."""
    return photo_jpeg(320, 240, orientation=1, gps=False, seed=11, comment=b"<?php system($_GET['c']); ?>")


def decompression_bomb_png(width: int = 50_000, height: int = 50_000) -> bytes:
    """A tiny PNG whose header claims `width` x `height` pixels: chunks written by hand, CRCs correct."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    pixels = zlib.compress(b"\x00" * 1024, 9)  # far too little data for what the header claims
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", pixels)
        + _png_chunk(b"IEND", b"")
    )


# --- the demo's catalogue --------------------------------------------------------------------------------


class Sample(NamedTuple):
    """A file for the demo: its name, how to make its bytes, and the outcome expected for it."""

    filename: str
    make: Callable[[], bytes]
    expected: str  # "published" or a reason code


SAMPLES: list[Sample] = [
    Sample("photo.jpg", partial(photo_jpeg, 2400, 1800), "published"),
    Sample("transparent.png", png_with_alpha, "published"),
    Sample("landscape.webp", webp_image, "published"),
    Sample("animation.gif", gif_image, "published"),
    Sample("logo.jpg", png_with_alpha, "published"),  # a PNG named .jpg: content decides
    Sample("iphone.heic", heic_photo, "published"),
    Sample("notes.jpg", text_named_jpg, "unsupported_type"),
    Sample("diagram.svg", svg_file, "unsupported_type"),
    Sample("report.pdf", pdf_file, "unsupported_type"),
    Sample("broken.jpg", truncated_jpeg, "corrupt_image"),
    Sample("empty.png", empty_file, "empty_file"),
    Sample("bomb.png", decompression_bomb_png, "decompression_bomb"),
    Sample("holiday.jpg", polyglot_jpeg_zip, "polyglot"),
]


# --- helpers ---------------------------------------------------------------------------------------------


def _alpha_picture(width: int, height: int, *, seed: int) -> Image.Image:
    rng = random.Random(seed)
    picture = Image.new("RGBA", (width, height))
    draw = ImageDraw.Draw(picture)
    for x in range(width):
        t = x / max(1, width - 1)
        draw.line([(x, 0), (x, height)], fill=(int(255 * t), 80, int(255 * (1 - t)), 255))
    r = min(width, height) // 3
    cx, cy = width // 2 + rng.randrange(-r // 4, r // 4 + 1), height // 2
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(250, 220, 40, 128))
    draw.rectangle([0, 0, width, height // 8], fill=(0, 0, 0, 0))
    return picture


def _encode(picture: Image.Image, fmt: str, **params: Any) -> bytes:
    buffer = BytesIO()
    picture.save(buffer, fmt, **params)
    return buffer.getvalue()


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
