"""Image sizes from their headers, read without decoding a pixel.

A small file can declare a huge image (a PNG of 30000 x 30000 zeros compresses to a few
kilobytes and decodes to 2.7 GB): every image simgen reads as input is measured here first and
refused above a pixel limit. Each reader follows its format's own specification:

- PNG (ISO/IEC 15948): the IHDR chunk right after the signature: width, height (big-endian).
- JPEG (ITU T.81): segments from SOI; the first SOFn frame header (C0-CF but C4, C8, CC)
  holds precision, height, width.
- TIFF 6.0: byte order, 42, the first IFD's ImageWidth (256) and ImageLength (257) tags,
  SHORT or LONG; BigTIFF (43) with 8-byte counts and offsets.
- BMP: the DIB header's width and height (BITMAPCOREHEADER: 16-bit; later ones: 32-bit,
  height negative for top-down rows).
- TGA (Truevision TGA 2.0): width and height at bytes 12 and 14 of the 18-byte header.
- WebP (RFC 9649): RIFF/WEBP, then VP8X (canvas size - 1, 24-bit), VP8L (14-bit sizes - 1
  after the 0x2f signature) or VP8 (key frame start code, then 14-bit sizes).
- OpenEXR (file layout): magic 20000630, version, then each part's header attributes; the
  ``dataWindow`` box2i gives (xMax - xMin + 1) x (yMax - yMin + 1). Multi-part files: the
  largest part.
- Radiance RGBE (.hdr): text header lines up to an empty line, then the resolution string,
  e.g. ``-Y 512 +X 1024``.
"""

from __future__ import annotations

import io
import os
import struct
from pathlib import Path
from typing import BinaryIO

from simgen import SimgenError

DEFAULT_MAX_PIXELS = 16384 * 8192
"""Largest width x height read as input unless render.max_image_pixels says otherwise: a
16k x 8k HDRI (2.1 GB as float32 RGBA once decoded)."""


class HeaderError(ValueError):
    """The header could not be read: not a known format, or truncated."""


def _read(f: BinaryIO, n: int) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise HeaderError("the header is truncated")
    return data


def _png(f: BinaryIO) -> tuple[int, int]:
    f.seek(8)
    length, kind = struct.unpack(">I4s", _read(f, 8))
    if kind != b"IHDR" or length < 8:
        raise HeaderError("a PNG without IHDR first")
    return struct.unpack(">II", _read(f, 8))


def _jpeg(f: BinaryIO) -> tuple[int, int]:
    f.seek(2)
    while True:
        byte = _read(f, 1)
        if byte != b"\xff":
            raise HeaderError("a JPEG segment does not start with 0xFF")
        marker = _read(f, 1)[0]
        while marker == 0xFF:  # fill bytes
            marker = _read(f, 1)[0]
        if marker in (0x01, *range(0xD0, 0xD8)):  # standalone markers: no length
            continue
        if marker in (0xD9, 0xDA):
            raise HeaderError("a JPEG without a frame header before its scan")
        (length,) = struct.unpack(">H", _read(f, 2))
        if length < 2:
            raise HeaderError("a JPEG segment of a bad length")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            _, height, width = struct.unpack(">BHH", _read(f, 5))
            return width, height
        f.seek(length - 2, os.SEEK_CUR)


def _tiff(f: BinaryIO) -> tuple[int, int]:
    f.seek(0)
    order = {b"II": "<", b"MM": ">"}[_read(f, 2)]
    (magic,) = struct.unpack(order + "H", _read(f, 2))
    big = magic == 43
    if big:
        _read(f, 4)  # offset size 8, reserved 0
        (ifd,) = struct.unpack(order + "Q", _read(f, 8))
    elif magic == 42:
        (ifd,) = struct.unpack(order + "I", _read(f, 4))
    else:
        raise HeaderError("a TIFF of an unknown version")
    f.seek(ifd)
    (count,) = struct.unpack(order + ("Q" if big else "H"), _read(f, 8 if big else 2))
    found: dict[int, int] = {}
    for _ in range(min(count, 4096)):
        entry = _read(f, 20 if big else 12)
        tag, kind = struct.unpack(order + "HH", entry[:4])
        value = entry[12:] if big else entry[8:]
        if tag in (256, 257):
            if kind == 3:
                found[tag] = struct.unpack(order + "H", value[:2])[0]
            elif kind == 4:
                found[tag] = struct.unpack(order + "I", value[:4])[0]
            elif kind == 16 and big:
                found[tag] = struct.unpack(order + "Q", value[:8])[0]
            else:
                raise HeaderError("a TIFF size of an unexpected type")
    if 256 not in found or 257 not in found:
        raise HeaderError("a TIFF without ImageWidth and ImageLength")
    return found[256], found[257]


def _bmp(f: BinaryIO) -> tuple[int, int]:
    f.seek(14)
    (size,) = struct.unpack("<I", _read(f, 4))
    if size == 12:
        return struct.unpack("<HH", _read(f, 4))
    width, height = struct.unpack("<ii", _read(f, 8))
    return abs(width), abs(height)


def _tga(f: BinaryIO) -> tuple[int, int]:
    f.seek(12)
    return struct.unpack("<HH", _read(f, 4))


def _webp(f: BinaryIO) -> tuple[int, int]:
    f.seek(12)
    chunk = _read(f, 4)
    f.seek(20)
    if chunk == b"VP8X":
        data = _read(f, 10)
        return int.from_bytes(data[4:7], "little") + 1, int.from_bytes(data[7:10], "little") + 1
    if chunk == b"VP8L":
        data = _read(f, 5)
        if data[0] != 0x2F:
            raise HeaderError("a lossless WebP without its signature")
        bits = int.from_bytes(data[1:5], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 ":
        data = _read(f, 10)
        if data[3:6] != b"\x9d\x01\x2a":
            raise HeaderError("a lossy WebP without a key frame")
        width, height = struct.unpack("<HH", data[6:10])
        return width & 0x3FFF, height & 0x3FFF
    raise HeaderError("a WebP of an unknown kind")


def _exr(f: BinaryIO) -> tuple[int, int]:
    f.seek(4)
    (version,) = struct.unpack("<I", _read(f, 4))
    multipart, long_names = bool(version & 0x1000), bool(version & 0x400)
    best: tuple[int, int] | None = None
    while True:  # one header per part; a multi-part file ends its headers with an empty one
        window, empty = None, True
        while True:
            name = _cstring(f, 255 if long_names else 31)
            if not name:
                break
            empty = False
            _cstring(f, 255 if long_names else 31)  # type
            (size,) = struct.unpack("<i", _read(f, 4))
            if size < 0:
                raise HeaderError("an EXR attribute of negative size")
            if name == b"dataWindow":
                x0, y0, x1, y1 = struct.unpack("<iiii", _read(f, 16))
                window = (x1 - x0 + 1, y1 - y0 + 1)
                f.seek(size - 16, os.SEEK_CUR)
            else:
                f.seek(size, os.SEEK_CUR)
        if empty:
            break
        if window is None:
            raise HeaderError("an EXR part without dataWindow")
        if best is None or window[0] * window[1] > best[0] * best[1]:
            best = window
        if not multipart:
            break
    if best is None or best[0] <= 0 or best[1] <= 0:
        raise HeaderError("an EXR without a valid dataWindow")
    return best


def _cstring(f: BinaryIO, most: int) -> bytes:
    out = bytearray()
    while True:
        c = _read(f, 1)
        if c == b"\0":
            return bytes(out)
        out += c
        if len(out) > most:
            raise HeaderError("an EXR attribute name too long")


def _hdr(f: BinaryIO) -> tuple[int, int]:
    f.seek(0)
    for _ in range(1024):  # header lines, then an empty line, then the resolution string
        line = f.readline(4096)
        if not line:
            raise HeaderError("a Radiance header without a resolution line")
        if line.strip() == b"":
            parts = f.readline(256).split()
            if len(parts) != 4 or parts[0] not in (b"-Y", b"+Y", b"-X", b"+X"):
                raise HeaderError("a Radiance resolution line that cannot be read")
            sizes = {parts[0][1:2]: int(parts[1]), parts[2][1:2]: int(parts[3])}
            if set(sizes) != {b"X", b"Y"}:
                raise HeaderError("a Radiance resolution line that cannot be read")
            return sizes[b"X"], sizes[b"Y"]
    raise HeaderError("a Radiance header too long")


def _reader(head: bytes, suffix: str):
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return _png
    if head.startswith(b"\xff\xd8"):
        return _jpeg
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return _tiff
    if head.startswith(b"BM"):
        return _bmp
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _webp
    if head.startswith(b"\x76\x2f\x31\x01"):
        return _exr
    if head.startswith(b"#?"):
        return _hdr
    if suffix == ".tga":  # the one format without a signature
        return _tga
    raise HeaderError("not an image format simgen reads (PNG, JPEG, TIFF, BMP, TGA, WebP, OpenEXR, Radiance HDR)")


def image_size(source: str | os.PathLike | bytes) -> tuple[int, int]:
    """(width, height) of the image in the file or bytes ``source``, from its header alone;
    HeaderError when the header cannot be read."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _size(io.BytesIO(bytes(source)), "")
    with open(source, "rb") as f:
        return _size(f, Path(source).suffix.lower())


def _size(f: BinaryIO, suffix: str) -> tuple[int, int]:
    head = f.read(16)
    try:
        return _reader(head, suffix)(f)
    except (struct.error, KeyError, ValueError) as e:
        if isinstance(e, HeaderError):
            raise
        raise HeaderError(f"the header cannot be read ({e})") from None


def check_pixels(source: str | os.PathLike | bytes, limit: int, what: str, key: str = "render.max_image_pixels"
                 ) -> tuple[int, int]:
    """(width, height) of an input image, or a one-line SimgenError when its header declares
    more than ``limit`` pixels (or cannot be read). ``what`` names the image."""
    try:
        width, height = image_size(source)
    except HeaderError as e:
        raise SimgenError(f"cannot use image {what}: {e}") from None
    if width * height > limit:
        raise SimgenError(f"image {what} is {width}x{height} = {width * height} pixels, more than {key}={limit}; "
                          f"raise {key} to use it (decoding needs about {width * height * 16 / 2**30:.1f} GB as "
                          "float RGBA)")
    return width, height
