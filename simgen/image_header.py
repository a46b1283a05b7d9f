"""Image sizes read from file headers only, so that an image can be refused before it is decoded.

A decompression bomb (a 30000 x 30000 PNG of a few kilobytes, an .hdr or .exr whose header
states a huge resolution) costs gigabytes once a decoder allocates its pixels. Every image simgen
reads as input (background photos, texture images, a mesh's own textures, glTF-embedded images,
PBR maps, HDRIs) has its width and height read here, from the header bytes alone, and checked
against ``render.max_image_pixels`` before any decoder sees it (:func:`check_pixels`).

Each parser follows its format's own specification and reads only what it needs (seeking past
the rest):

=========  =============================================================================
PNG        the first chunk, IHDR: width and height, big-endian 32-bit
JPEG       the marker segments up to the first SOFn frame header (baseline, progressive,
           lossless, arithmetic): its 16-bit number of lines and samples per line
Radiance   ``#?`` magic, header lines up to the blank line, then the resolution line
           (``-Y H +X W`` and its seven other orientations)
OpenEXR    the header attributes ``dataWindow`` and ``displayWindow`` (box2i) of every part
           (single-part, multi-part, tiled, long names); the larger of the two counts
TIFF       the first IFD's ImageWidth (256) and ImageLength (257), little- or big-endian,
           classic and BigTIFF
WebP       the RIFF container's first chunk: VP8 (key frame header), VP8L (14-bit sizes) or
           VP8X (24-bit canvas size)
BMP        the DIB header: BITMAPCOREHEADER (16-bit) or a later one (signed 32-bit; negative
           height = top-down)
TGA        the 18-byte header (no magic: only a file named ``.tga``, whose header fields must
           be plausible)
=========  =============================================================================

The format is told by the file's leading bytes (the name only for TGA). An unknown format, a
truncated or impossible header is an :class:`ImageHeaderError` (a one-line
:class:`~simgen.SimgenError`); nothing is ever decoded to find out. Pure Python, no
third-party import.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import BinaryIO, Union

from simgen.errors import SimgenError
from simgen.scene.data import MAX_IMAGE_PIXELS

__all__ = ["MAX_IMAGE_PIXELS", "ImageHeaderError", "ImageTooLargeError", "check_pixels", "image_size",
           "pixel_problem"]

Source = Union[str, os.PathLike, bytes, bytearray, memoryview]
"""A file path or the bytes of a whole (or the start of an) image file."""

LIMIT_KEY = "render.max_image_pixels"
"""The config key of the limit, named in every refusal."""

_MAX_HEADER = 1 << 20
"""Most bytes a text header (Radiance) or a name may take before it is called broken."""


class ImageHeaderError(SimgenError, ValueError):
    """The header states no usable size: unknown format, truncated or impossible values.
    ``reason`` is the message without the file's name. A ValueError too, as decoders' own
    complaints about bad files are."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.reason = reason


class ImageTooLargeError(SimgenError, ValueError):
    """The header states more pixels than the limit (:func:`check_pixels`)."""


def image_size(source: Source, name: str | None = None) -> tuple[int, int]:
    """``(width, height)`` of the image at ``source`` (a path, or the file's bytes), read from
    its header only. ``name`` is what messages call it and, for bytes, the file name whose
    suffix tells a TGA (the one format without magic bytes). ImageHeaderError (one line) for an
    unknown format or a truncated or impossible header."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        label = name or "image data"
        return _size(_Bytes(memoryview(source).cast("B")), label, name or "")
    label = name or str(source)
    try:
        with open(source, "rb") as f:
            return _size(_File(f), label, os.fspath(source))
    except OSError as e:
        raise ImageHeaderError(label, f"cannot read it ({e.strerror or e})") from None


def pixel_problem(source: Source, limit: int = MAX_IMAGE_PIXELS, name: str | None = None) -> str | None:
    """Why the image at ``source`` must not be decoded (its size over ``limit`` pixels), or None.
    The text names the size and the key to raise; ImageHeaderError when the header is
    unreadable."""
    return _over(*image_size(source, name), limit)


def check_pixels(source: Source, limit: int = MAX_IMAGE_PIXELS, name: str | None = None) -> tuple[int, int]:
    """``(width, height)`` of the image at ``source`` when its header states at most ``limit``
    pixels; else a one-line ImageTooLargeError (a SimgenError) naming the file, its size and
    the key to raise."""
    w, h = image_size(source, name)
    problem = _over(w, h, limit)
    if problem:
        raise ImageTooLargeError(f"image {name or _label(source)} is too large: {problem}")
    return w, h


def _over(w: int, h: int, limit: int) -> str | None:
    n = w * h
    if n <= limit:
        return None
    return (f"it is {w}x{h} = {n} pixels (from its header, not decoded), over {LIMIT_KEY}={limit}; "
            f"use a smaller image or raise the limit with {LIMIT_KEY}={n}")


def _label(source: Source) -> str:
    return "data" if isinstance(source, (bytes, bytearray, memoryview)) else str(source)


# ------------------------------------------------------------------ reading bytes at offsets


class _Truncated(Exception):
    pass


class _Bytes:
    def __init__(self, data: memoryview) -> None:
        self.data = data  # not copied: only the slices read are

    def at(self, offset: int, n: int) -> bytes:
        if offset < 0 or offset + n > len(self.data):
            raise _Truncated
        return bytes(self.data[offset:offset + n])

    def upto(self, offset: int, n: int) -> bytes:
        """At most ``n`` bytes from ``offset`` (fewer at the end)."""
        return bytes(self.data[offset:offset + n]) if offset >= 0 else b""


class _File:
    def __init__(self, f: BinaryIO) -> None:
        self.f = f

    def at(self, offset: int, n: int) -> bytes:
        data = self.upto(offset, n)
        if len(data) != n:
            raise _Truncated
        return data

    def upto(self, offset: int, n: int) -> bytes:
        if offset < 0:
            return b""
        self.f.seek(offset)
        return self.f.read(n)


def _size(src, label: str, filename: str) -> tuple[int, int]:
    try:
        head = src.upto(0, 16)
        if not head:
            raise ImageHeaderError(label, "the file is empty")
        for magic, parse in _PARSERS:
            if head.startswith(magic):
                w, h = parse(src)
                break
        else:
            if Path(filename).suffix.lower() == ".tga":
                w, h = _tga(src)
            else:
                raise ImageHeaderError(label, f"not a known image format (leading bytes {head[:8]!r}; "
                                              "PNG, JPEG, Radiance HDR, OpenEXR, TIFF, WebP, BMP or TGA)")
    except _Truncated:
        raise ImageHeaderError(label, "its image header is truncated") from None
    except _Bad as e:
        raise ImageHeaderError(label, f"bad image header ({e})") from None
    if w <= 0 or h <= 0:
        raise ImageHeaderError(label, f"its header states an empty size {w}x{h}")
    return w, h


class _Bad(Exception):
    """A header whose fields contradict its format."""


# ------------------------------------------------------------------ PNG


def _png(src) -> tuple[int, int]:
    # signature (8), then the first chunk must be IHDR: length 13, type, width, height (u32 BE)
    length, kind, w, h = struct.unpack(">I4sII", src.at(8, 16))
    if kind != b"IHDR" or length != 13:
        raise _Bad("the first chunk is not IHDR")
    if w > 2**31 - 1 or h > 2**31 - 1:
        raise _Bad(f"width or height over 2^31-1 ({w}x{h})")
    return w, h


# ------------------------------------------------------------------ JPEG

# SOFn frame headers: C0-C3, C5-C7, C9-CB, CD-CF (C4 is DHT, C8 JPG, CC DAC)
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # TEM, RSTm: markers without a length


def _jpeg(src) -> tuple[int, int]:
    pos = 2  # after SOI (FF D8)
    while True:
        if src.at(pos, 1) != b"\xff":
            raise _Bad(f"no marker at byte {pos}")
        while src.at(pos, 1) == b"\xff":  # any number of fill bytes may precede a marker
            pos += 1
        marker = src.at(pos, 1)[0]
        pos += 1
        if marker in _STANDALONE:
            continue
        if marker in (0xD8, 0xD9, 0xDA):
            raise _Bad("no frame header (SOFn) before the scan" if marker == 0xDA else "no frame header (SOFn)")
        (length,) = struct.unpack(">H", src.at(pos, 2))
        if length < 2:
            raise _Bad(f"segment length {length}")
        if marker in _SOF:
            # Lf (2), P (1), Y number of lines (2), X samples per line (2)
            h, w = struct.unpack(">HH", src.at(pos + 3, 4))
            if h == 0:
                raise _Bad("the number of lines is deferred to a DNL marker")
            return w, h
        pos += length


# ------------------------------------------------------------------ Radiance .hdr


def _radiance(src) -> tuple[int, int]:
    text = src.upto(0, _MAX_HEADER)
    pos = 0
    while True:  # header lines (the first: the #? program type) end with an empty line
        end = text.find(b"\n", pos)
        if end < 0:
            raise _Bad("no end of the header in its first MiB") if len(text) >= _MAX_HEADER else _Truncated
        line, pos = text[pos:end], end + 1
        if not line.strip():
            break
    end = text.find(b"\n", pos)
    if end < 0:
        raise _Truncated
    line = text[pos:end]
    parts = line.split()
    axes = {}
    if len(parts) == 4:
        for sign_axis, number in ((parts[0], parts[1]), (parts[2], parts[3])):
            if sign_axis in (b"+X", b"-X", b"+Y", b"-Y") and number.isdigit() and len(number) <= 12:
                axes[sign_axis[1:]] = int(number)
    if set(axes) != {b"X", b"Y"}:
        raise _Bad(f"resolution line {line[:40]!r}")
    return axes[b"X"], axes[b"Y"]


# ------------------------------------------------------------------ OpenEXR

_EXR_TILED, _EXR_LONG_NAMES, _EXR_DEEP, _EXR_MULTIPART = 0x200, 0x400, 0x800, 0x1000


def _exr(src) -> tuple[int, int]:
    (version,) = struct.unpack("<I", src.at(4, 4))
    if version & 0xFF != 2:
        raise _Bad(f"version {version & 0xFF}, not 2")
    longest = 255 if version & _EXR_LONG_NAMES else 31
    pos = 8
    best: tuple[int, int] | None = None
    while True:  # one header per part; a multi-part file ends the list with an empty header
        windows: dict[str, tuple[int, int]] = {}
        attributes = 0
        while True:
            name, pos = _cstring(src, pos, longest)
            if not name:
                break
            kind, pos = _cstring(src, pos, longest)
            (size,) = struct.unpack("<i", src.at(pos, 4))
            pos += 4
            if size < 0:
                raise _Bad(f"attribute {name!r} has size {size}")
            if name in (b"dataWindow", b"displayWindow"):
                if kind != b"box2i" or size != 16:
                    raise _Bad(f"{name.decode()} is a {kind.decode('latin-1')} of {size} bytes, not a box2i")
                x0, y0, x1, y1 = struct.unpack("<iiii", src.at(pos, 16))
                w, h = x1 - x0 + 1, y1 - y0 + 1
                if w <= 0 or h <= 0:
                    raise _Bad(f"{name.decode()} ({x0}, {y0})-({x1}, {y1}) is empty")
                windows[name.decode()] = (w, h)
            pos += size
            attributes += 1
        if not attributes:
            if best is None:
                raise _Bad("no header attributes")
            return best  # the empty header that ends a multi-part list
        if "dataWindow" not in windows:
            raise _Bad("no dataWindow attribute")
        for w, h in windows.values():  # a decoder may allocate either window
            if best is None or w * h > best[0] * best[1]:
                best = (w, h)
        if not version & _EXR_MULTIPART:
            assert best is not None
            return best


def _cstring(src, pos: int, longest: int) -> tuple[bytes, int]:
    data = src.upto(pos, longest + 1)
    end = data.find(b"\0")
    if end < 0:
        if len(data) <= longest:
            raise _Truncated
        raise _Bad(f"a name longer than {longest} bytes")
    return data[:end], pos + end + 1


# ------------------------------------------------------------------ TIFF

_TIFF_TYPES = {3: ("H", 2), 4: ("I", 4), 16: ("Q", 8)}  # SHORT, LONG, LONG8 (BigTIFF)


def _tiff(src) -> tuple[int, int]:
    order = {b"II": "<", b"MM": ">"}[src.at(0, 2)]
    (magic,) = struct.unpack(order + "H", src.at(2, 2))
    if magic == 42:
        (ifd,) = struct.unpack(order + "I", src.at(4, 4))
        count_fmt, entry_size, value_at, value_size = "H", 12, 8, 4
    elif magic == 43:  # BigTIFF: offset size 8, then a 64-bit IFD offset
        (offset_size, _, ifd) = struct.unpack(order + "HHQ", src.at(4, 12))
        if offset_size != 8:
            raise _Bad(f"BigTIFF offset size {offset_size}")
        count_fmt, entry_size, value_at, value_size = "Q", 20, 12, 8
    else:
        raise _Bad(f"TIFF version {magic}")
    count_size = struct.calcsize(count_fmt)
    (count,) = struct.unpack(order + count_fmt, src.at(ifd, count_size))
    if count == 0 or count > 65535:
        raise _Bad(f"first IFD has {count} entries")
    table = src.at(ifd + count_size, count * entry_size)
    found: dict[int, int] = {}
    for k in range(count):
        entry = table[k * entry_size:(k + 1) * entry_size]
        tag, kind = struct.unpack(order + "HH", entry[:4])
        if tag not in (256, 257):
            continue
        if kind not in _TIFF_TYPES or _TIFF_TYPES[kind][1] > value_size:
            raise _Bad(f"tag {tag} has type {kind}")
        fmt, _ = _TIFF_TYPES[kind]
        (found[tag],) = struct.unpack(order + fmt, entry[value_at:value_at + struct.calcsize(fmt)])
    if 256 not in found or 257 not in found:
        raise _Bad("the first IFD has no ImageWidth or ImageLength")
    return found[256], found[257]


# ------------------------------------------------------------------ WebP


def _webp(src) -> tuple[int, int]:
    if src.at(8, 4) != b"WEBP":
        raise _Bad("a RIFF file that is not WebP")
    kind = src.at(12, 4)
    body = 20  # after RIFF size WEBP and the chunk's own FourCC and size
    if kind == b"VP8 ":
        frame = src.at(body, 10)
        if frame[0] & 1:
            raise _Bad("the VP8 frame is not a key frame")
        if frame[3:6] != b"\x9d\x01\x2a":
            raise _Bad("no VP8 start code")
        w, h = struct.unpack("<HH", frame[6:10])
        return w & 0x3FFF, h & 0x3FFF
    if kind == b"VP8L":
        data = src.at(body, 5)
        if data[0] != 0x2F:
            raise _Bad("no VP8L signature")
        (bits,) = struct.unpack("<I", data[1:5])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if kind == b"VP8X":
        data = src.at(body, 10)
        w = int.from_bytes(data[4:7], "little") + 1
        h = int.from_bytes(data[7:10], "little") + 1
        return w, h
    raise _Bad(f"first chunk {kind!r} is not VP8, VP8L or VP8X")


# ------------------------------------------------------------------ BMP


def _bmp(src) -> tuple[int, int]:
    (dib,) = struct.unpack("<I", src.at(14, 4))
    if dib == 12:  # BITMAPCOREHEADER (OS/2 1.x)
        w, h = struct.unpack("<HH", src.at(18, 4))
        return w, h
    if dib < 16 or dib > 1024:
        raise _Bad(f"DIB header size {dib}")
    w, h = struct.unpack("<ii", src.at(18, 8))
    return w, abs(h)  # a negative height is a top-down bitmap


# ------------------------------------------------------------------ TGA

_TGA_TYPES = {1, 2, 3, 9, 10, 11, 32, 33}


def _tga(src) -> tuple[int, int]:
    head = src.at(0, 18)
    colour_map, kind = head[1], head[2]
    w, h, depth = struct.unpack("<HHB", head[12:17])
    if colour_map not in (0, 1) or kind not in _TGA_TYPES or depth not in (1, 8, 15, 16, 24, 32):
        raise _Bad(f"not a TGA header (colour map {colour_map}, type {kind}, depth {depth})")
    return w, h


_PARSERS = (
    (b"\x89PNG\r\n\x1a\n", _png),
    (b"\xff\xd8\xff", _jpeg),
    (b"#?", _radiance),
    (b"\x76\x2f\x31\x01", _exr),
    (b"II*\0", _tiff), (b"MM\0*", _tiff), (b"II+\0", _tiff), (b"MM\0+", _tiff),
    (b"RIFF", _webp),
    (b"BM", _bmp),
)
