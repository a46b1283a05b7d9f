"""Decompression bombs: every image simgen reads as input is sized from its header and refused
over render.max_image_pixels before anything decodes it.

The header reader (simgen.image_header) is checked against files written by independent
writers (OpenCV, Pillow, the OpenEXR package) and against hand-made headers of each format's
specification; then each input path (background photos, texture images, HDRIs in .hdr and
.exr, PBR maps, a mesh's own textures in files and embedded in a GLB, read_png, the Blender
layer) is handed a bomb and must end in one line naming the file, its size and the key, with
the decoders replaced by tripwires (and, for a real 30000 x 30000 PNG, the peak memory of a
fresh process measured).
"""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from simgen import SimgenError
from simgen.scene.data import MAX_IMAGE_PIXELS
from simgen.image_header import ImageHeaderError, ImageTooLargeError, check_pixels, image_size

REPO = Path(__file__).resolve().parents[1]
W, H = 53, 37  # odd and unequal: a swapped or off-by-one size shows
BOMB = 30000  # 30000 x 30000 = 9e8 pixels: 3.6 GB as Blender's RGBA bytes, 10.8 GB as float RGB


# ------------------------------------------------------------------ files, by format


def pixels(h: int = H, w: int = W) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)


def pil_bytes(fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels()).save(buf, fmt, **kw)
    return buf.getvalue()


def cv2_bytes(ext: str) -> bytes:
    import cv2

    image = pixels().astype(np.float32) / 255 if ext == ".hdr" else pixels()
    ok, buf = cv2.imencode(ext, image)
    assert ok
    return buf.tobytes()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(w: int = BOMB, h: int = BOMB) -> bytes:
    """A valid 1-bit grey PNG of w x h black pixels (about 110 KB for 30000 x 30000): every row
    is filter byte 0 and zeros, deflated as a stream."""
    row = (w + 7) // 8 + 1
    z = zlib.compressobj(9)
    rows_per_block = max(1, (1 << 24) // row)
    body, left = [], h
    while left:
        n = min(left, rows_per_block)
        body.append(z.compress(bytes(row * n)))
        left -= n
    body.append(z.flush())
    ihdr = struct.pack(">IIBBBBB", w, h, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", b"".join(body)) + _chunk(b"IEND", b"")


def jpeg_bomb(w: int = 65000, h: int = 65000, progressive: bool = False) -> bytes:
    """A real small JPEG whose frame header (SOF0 or SOF2) is patched to w x h."""
    data = bytearray(pil_bytes("JPEG", progressive=progressive))
    sof = data.find(b"\xff\xc2" if progressive else b"\xff\xc0")
    assert sof > 0
    data[sof + 5:sof + 9] = struct.pack(">HH", h, w)
    return bytes(data)


def hdr_bomb(w: int = BOMB, h: int = BOMB, line: str | None = None) -> bytes:
    """A Radiance file from OpenCV whose resolution line says w x h (pixels as written)."""
    data = cv2_bytes(".hdr")
    head, rest = data.split(f"-Y {H} +X {W}\n".encode(), 1)
    return head + (line or f"-Y {h} +X {w}").encode() + b"\n" + rest


def exr_header(w: int = BOMB, h: int = BOMB, display: tuple[int, int] | None = None) -> bytes:
    """A single-part scanline OpenEXR header (the required attributes of the specification,
    three FLOAT channels, no compression) with dataWindow w x h, then a zeroed offset table and
    no pixels."""
    def attr(name: str, kind: str, value: bytes) -> bytes:
        return name.encode() + b"\0" + kind.encode() + b"\0" + struct.pack("<i", len(value)) + value

    channels = b"".join(c + b"\0" + struct.pack("<iB3xii", 2, 0, 1, 1) for c in (b"B", b"G", b"R")) + b"\0"
    dw, dh = display or (w, h)
    head = (b"\x76\x2f\x31\x01" + struct.pack("<I", 2)
            + attr("channels", "chlist", channels)
            + attr("compression", "compression", b"\0")
            + attr("dataWindow", "box2i", struct.pack("<iiii", 0, 0, w - 1, h - 1))
            + attr("displayWindow", "box2i", struct.pack("<iiii", 0, 0, dw - 1, dh - 1))
            + attr("lineOrder", "lineOrder", b"\0")
            + attr("pixelAspectRatio", "float", struct.pack("<f", 1.0))
            + attr("screenWindowCenter", "v2f", struct.pack("<ff", 0.0, 0.0))
            + attr("screenWindowWidth", "float", struct.pack("<f", 1.0))
            + b"\0")
    return head + bytes(8 * min(h, 1024))


def exr_file(path: Path, h: int = H, w: int = W) -> Path:
    import OpenEXR

    OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage},
                 {"RGB": pixels(h, w).astype(np.float32) / 255}).write(str(path))
    return path


def tiff_bomb(w: int = BOMB, h: int = BOMB) -> bytes:
    """A real small TIFF from Pillow (little-endian) whose ImageWidth and ImageLength say w x h."""
    data = bytearray(pil_bytes("TIFF"))
    (ifd,) = struct.unpack("<I", data[4:8])
    (count,) = struct.unpack("<H", data[ifd:ifd + 2])
    for k in range(count):
        at = ifd + 2 + 12 * k
        tag, kind = struct.unpack("<HH", data[at:at + 4])
        if tag in (256, 257):
            data[at + 2:at + 12] = struct.pack("<HII", 4, 1, w if tag == 256 else h)  # as LONG
    return bytes(data)


def tiff_big_endian(w: int, h: int) -> bytes:
    """A big-endian 8-bit grey TIFF, one strip: ImageWidth as SHORT, ImageLength as LONG."""
    tags = [(256, 3, w), (257, 4, h), (258, 3, 8), (259, 3, 1), (262, 3, 1), (273, 4, None), (277, 3, 1),
            (278, 4, h), (279, 4, w * h)]
    strip = 8 + 2 + 12 * len(tags) + 4
    entries = b"".join(struct.pack(">HHI", tag, kind, 1)
                       + (struct.pack(">HH", value, 0) if kind == 3 else struct.pack(">I", strip if value is None else value))
                       for tag, kind, value in tags)
    return b"MM\0*" + struct.pack(">IH", 8, len(tags)) + entries + struct.pack(">I", 0) + bytes(w * h)


def webp_vp8x(w: int, h: int) -> bytes:
    """A WebP extended-format header (VP8X, 24-bit canvas size minus one), then the lossy frame."""
    lossy = pil_bytes("WEBP", quality=80)
    canvas = (w - 1).to_bytes(3, "little") + (h - 1).to_bytes(3, "little")
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\0\0\0\0" + canvas
    body = b"WEBP" + vp8x + lossy[12:]
    return b"RIFF" + struct.pack("<I", len(body)) + body


def webp_vp8l(w: int, h: int) -> bytes:
    """Pillow's lossless WebP with the VP8L 14-bit sizes patched."""
    data = bytearray(pil_bytes("WEBP", lossless=True))
    assert data[12:16] == b"VP8L"
    (bits,) = struct.unpack("<I", data[21:25])
    bits = (bits & ~((1 << 28) - 1)) | (w - 1) | ((h - 1) << 14)
    data[21:25] = struct.pack("<I", bits)
    return bytes(data)


def bmp_bomb(w: int = BOMB, h: int = -BOMB) -> bytes:
    """Pillow's BMP (BITMAPINFOHEADER) with its width and (signed; negative = top-down) height patched."""
    data = bytearray(pil_bytes("BMP"))
    data[18:26] = struct.pack("<ii", w, h)
    return bytes(data)


def bmp_core(w: int, h: int) -> bytes:
    """An OS/2 BITMAPCOREHEADER bitmap (16-bit sizes), 24 bits, black."""
    row = (w * 3 + 3) // 4 * 4
    body = struct.pack("<IHHHH", 12, w, h, 1, 24) + bytes(row * h)
    return b"BM" + struct.pack("<IHHI", 14 + len(body), 0, 0, 26) + body


def tga_bomb(w: int = 65535, h: int = 65535) -> bytes:
    data = bytearray(pil_bytes("TGA"))
    data[12:16] = struct.pack("<HH", w, h)
    return bytes(data)


# ------------------------------------------------------------------ (a) sizes of real files


REAL = {
    "cv2-png": lambda: cv2_bytes(".png"), "cv2-jpeg": lambda: cv2_bytes(".jpg"),
    "cv2-tiff": lambda: cv2_bytes(".tif"), "cv2-bmp": lambda: cv2_bytes(".bmp"),
    "cv2-webp": lambda: cv2_bytes(".webp"), "cv2-hdr": lambda: cv2_bytes(".hdr"),
    "pil-png": lambda: pil_bytes("PNG"), "pil-jpeg": lambda: pil_bytes("JPEG"),
    "pil-jpeg-progressive": lambda: pil_bytes("JPEG", progressive=True),
    "pil-jpeg-exif": lambda: pil_bytes("JPEG", exif=Image.Exif()),
    "pil-tiff-lzw": lambda: pil_bytes("TIFF", compression="tiff_lzw"),
    "pil-bigtiff": lambda: pil_bytes("TIFF", big_tiff=True),
    "pil-bmp": lambda: pil_bytes("BMP"), "pil-tga": lambda: pil_bytes("TGA"),
    "pil-tga-rle": lambda: pil_bytes("TGA", compression="tga_rle"),
    "pil-webp-lossy": lambda: pil_bytes("WEBP", quality=80),
    "pil-webp-lossless": lambda: pil_bytes("WEBP", lossless=True),
}


@pytest.mark.parametrize("writer", list(REAL))
def test_sizes_of_files_from_other_writers(writer, tmp_path):
    data = REAL[writer]()
    suffix = ".tga" if "tga" in writer else ".img"
    path = tmp_path / f"image{suffix}"
    path.write_bytes(data)
    assert image_size(path) == (W, H)
    assert image_size(data, name=path.name) == (W, H)
    assert image_size(memoryview(data), name=path.name) == (W, H)
    with Image.open(io.BytesIO(data)) if "hdr" not in writer else _nothing() as im:  # Pillow agrees
        assert im is None or im.size == (W, H)


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def test_sizes_of_openexr_files(tmp_path):
    import OpenEXR

    assert image_size(exr_file(tmp_path / "scanline.exr")) == (W, H)
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    parts = [OpenEXR.Part(dict(header, name="a"), {"R": pixels()[..., 0].astype(np.float32)}),
             OpenEXR.Part(dict(header, name="b"), {"G": pixels()[..., 1].astype(np.float32)})]
    OpenEXR.File(parts).write(str(tmp_path / "multipart.exr"))
    assert (tmp_path / "multipart.exr").read_bytes()[5] & 0x10  # the multi-part flag is set
    assert image_size(tmp_path / "multipart.exr") == (W, H)
    # the hand-made header of the bombs below is one the OpenEXR library reads the same way
    (tmp_path / "made.exr").write_bytes(exr_header(W, H))
    with OpenEXR.File(str(tmp_path / "made.exr"), header_only=True) as f:
        (x0, y0), (x1, y1) = np.asarray(f.header()["dataWindow"]).tolist()
    assert (x1 - x0 + 1, y1 - y0 + 1) == image_size(tmp_path / "made.exr") == (W, H)


@pytest.mark.parametrize("make, size", [
    (lambda: tiff_big_endian(W, H), (W, H)),
    (lambda: webp_vp8x(W, H), (W, H)),
    (lambda: webp_vp8l(300, 200), (300, 200)),
    (lambda: bmp_core(W, H), (W, H)),
    (lambda: bmp_bomb(W, -H), (W, H)),  # top-down
    (lambda: hdr_bomb(W, H, line=f"+X {W} -Y {H}"), (W, H)),  # the rotated orientations
    (lambda: hdr_bomb(W, H, line=f"-X {W} +Y {H}"), (W, H)),
    (lambda: exr_header(W, H, display=(2 * W, 2 * H)), (2 * W, 2 * H)),  # the larger window counts
    (lambda: jpeg_bomb(300, 200, progressive=True), (300, 200)),
], ids=["tiff-big-endian", "webp-vp8x", "webp-vp8l", "bmp-core", "bmp-top-down", "hdr-rotated", "hdr-flipped",
        "exr-display-window", "jpeg-sof2"])
def test_sizes_of_headers_from_the_specifications(make, size):
    assert image_size(make(), name="x") == size


def test_pillow_reads_the_hand_made_headers_alike():
    """The hand-made variants are files other readers take for what they say."""
    for data in (webp_vp8x(W, H), bmp_core(W, H), tiff_big_endian(W, H)):
        with Image.open(io.BytesIO(data)) as im:
            assert im.size == (W, H)


BAD = {
    "empty": (b"", "empty"),
    "garbage": (bytes(range(256)) * 4, "not a known image format"),
    "png-signature-only": (b"\x89PNG\r\n\x1a\n", "truncated"),
    "png-not-ihdr-first": (b"\x89PNG\r\n\x1a\n" + _chunk(b"IDAT", b"x" * 13), "not IHDR"),
    "png-header-cut": (png_bomb(W, H)[:20], "truncated"),
    "jpeg-no-frame": (b"\xff\xd8\xff\xe0\x00\x04ab\xff\xda\x00\x02", "no frame header"),
    "jpeg-cut": (pil_bytes("JPEG")[:30], "truncated"),
    "jpeg-deferred-height": (jpeg_bomb(W, 0), "DNL"),
    "hdr-no-resolution": (b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n", "truncated"),
    "hdr-bad-resolution": (b"#?RADIANCE\n\n-Y 12 +Z 3\n", "resolution line"),
    "hdr-no-blank-line": (b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n", "truncated"),
    "exr-no-data-window": (b"\x76\x2f\x31\x01\x02\0\0\0" + b"x\0int\0" + struct.pack("<i", 4) + bytes(5),
                           "no dataWindow"),
    "exr-empty-window": (exr_header(0, H)[:200], "is empty"),
    "exr-cut": (exr_header(W, H)[:60], "truncated"),
    "exr-version": (b"\x76\x2f\x31\x01\x09\0\0\0", "version"),
    "tiff-no-width": (b"II*\0" + struct.pack("<IH", 8, 1) + struct.pack("<HHII", 259, 3, 1, 1) + bytes(4),
                      "no ImageWidth"),
    "tiff-ifd-outside": (b"II*\0" + struct.pack("<I", 1 << 30), "truncated"),
    "webp-other-chunk": (b"RIFF\0\0\0\0WEBPALPH" + bytes(20), "VP8"),
    "riff-not-webp": (b"RIFF\0\0\0\0WAVEfmt " + bytes(20), "not WebP"),
    "bmp-cut": (b"BM" + bytes(10), "truncated"),
    "tga-implausible": (bytes([0, 7, 99]) + bytes(15), "not a TGA header"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_unknown_or_broken_headers_are_one_line_errors(name, tmp_path):
    data, words = BAD[name]
    filename = "x.tga" if name.startswith("tga") else "x.img"
    (tmp_path / filename).write_bytes(data)
    for source in (tmp_path / filename, data):
        with pytest.raises(ImageHeaderError) as e:
            image_size(source, name=filename)
        assert words in str(e.value) and "\n" not in str(e.value) and filename in str(e.value)
        assert isinstance(e.value, SimgenError) and isinstance(e.value, ValueError)


def test_a_missing_file_is_a_header_error(tmp_path):
    with pytest.raises(ImageHeaderError, match="cannot read it"):
        image_size(tmp_path / "gone.png")


# ------------------------------------------------------------------ (b) every format's bomb refused


BOMBS = {
    "png": (".png", lambda: png_bomb(), (BOMB, BOMB)),
    "jpeg": (".jpg", lambda: jpeg_bomb(), (65000, 65000)),
    "hdr": (".hdr", lambda: hdr_bomb(), (BOMB, BOMB)),
    "exr": (".exr", lambda: exr_header(), (BOMB, BOMB)),
    "tiff": (".tif", lambda: tiff_bomb(), (BOMB, BOMB)),
    "webp": (".webp", lambda: webp_vp8x(1 << 24, 1 << 24), (1 << 24, 1 << 24)),
    "bmp": (".bmp", lambda: bmp_bomb(), (BOMB, BOMB)),
    "tga": (".tga", lambda: tga_bomb(), (65535, 65535)),
}


@pytest.fixture(scope="module")
def bombs() -> dict[str, bytes]:
    return {k: make() for k, (_, make, _) in BOMBS.items()}


def refusal(message: str, name: str, size: tuple[int, int]) -> None:
    """``message`` is one line naming the file, its size and the key to raise."""
    w, h = size
    assert "\n" not in message
    assert name in message
    assert f"{w}x{h} = {w * h} pixels" in message
    assert f"render.max_image_pixels={MAX_IMAGE_PIXELS}" in message  # the limit it is over
    assert f"render.max_image_pixels={w * h}" in message  # the value that would take it


@pytest.mark.parametrize("kind", list(BOMBS))
def test_check_pixels_refuses_each_formats_bomb(kind, bombs, tmp_path):
    suffix, _, size = BOMBS[kind]
    path = tmp_path / f"bomb{suffix}"
    path.write_bytes(bombs[kind])
    assert image_size(path) == size
    with pytest.raises(ImageTooLargeError) as e:
        check_pixels(path)
    refusal(str(e.value), path.name, size)
    assert check_pixels(path, limit=size[0] * size[1]) == size  # exactly at the limit: fine


def test_the_png_bomb_is_small_and_valid(monkeypatch):
    """The PNG bomb is a real image: a few hundred KB that Pillow takes for 30000 x 30000
    (once its own bomb check is off, as simgen's decode check turns it off)."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    data = png_bomb()
    assert len(data) < 200_000
    with Image.open(io.BytesIO(data)) as im:  # header only: Pillow decodes lazily
        assert im.size == (BOMB, BOMB) and im.mode == "1"


# ------------------------------------------------------------------ (b) every input path refuses


class Tripped(BaseException):
    """Not an Exception: no ``except Exception`` of a checker can take it for a bad file."""


@pytest.fixture
def no_decoding(monkeypatch):
    """Tripwires on every decoder the checks and readers use: reaching one fails the test."""
    import cv2

    import simgen.assets.images as images
    import simgen.io.files as files

    def tripped(*args, **kwargs):
        raise Tripped(f"a decoder was called for {args[:1]}: the header check came too late")

    monkeypatch.setattr(images, "_decode", tripped)
    monkeypatch.setattr(files.cv2, "imdecode", tripped)
    monkeypatch.setattr(cv2, "imread", tripped)
    monkeypatch.setattr(Image.Image, "load", tripped)
    images._problem.cache_clear()
    yield
    images._problem.cache_clear()


def settings_with(tmp_path: Path, *overrides: str):
    from test_randomization import settings_for

    return settings_for(tmp_path, *overrides)


def _clear_listings():
    """Forget the cached folder listings (each test makes its folders anew)."""
    import simgen.assets.images as images
    import simgen.assets.pbr as pbr

    for module in (images, pbr):
        for f in vars(module).values():
            if callable(getattr(f, "cache_clear", None)) and getattr(f, "__module__", "") == module.__name__:
                f.cache_clear()


@pytest.mark.parametrize("kind", ["png", "jpeg", "tiff", "bmp", "tga"])
def test_background_photo_bomb(kind, bombs, tmp_path, no_decoding):
    from simgen.assets.images import photo_files

    suffix, _, size = BOMBS[kind]
    d = tmp_path / "photos"
    d.mkdir()
    (d / f"big{suffix}").write_bytes(bombs[kind])
    _clear_listings()
    with pytest.raises(SimgenError) as e:
        photo_files("scene.background_dir", str(d))
    refusal(str(e.value), f"big{suffix}", size)
    assert "(scene.background_dir)" in str(e.value)
    for scene in ("tabletop", "flying"):  # each recipe's own check, from the config
        _clear_listings()
        with pytest.raises(SimgenError) as e:
            settings_with(tmp_path, f"scene={scene}", f"scene.background_dir={d}")
        refusal(str(e.value), f"big{suffix}", size)


@pytest.mark.parametrize("kind", ["hdr", "exr"])
def test_hdri_bomb(kind, bombs, tmp_path, no_decoding):
    suffix, _, size = BOMBS[kind]
    d = tmp_path / "hdris" / "lib"
    d.mkdir(parents=True)
    (d / f"sky{suffix}").write_bytes(bombs[kind])
    _clear_listings()
    with pytest.raises(SimgenError) as e:
        settings_with(tmp_path, "lighting=hdri", f"lighting.hdri_dir={d.parent}")
    refusal(str(e.value), f"sky{suffix}", size)
    assert "(lighting.hdri_dir)" in str(e.value)


@pytest.mark.parametrize("kind", ["png", "jpeg", "exr", "hdr", "tiff", "bmp", "tga"])
def test_texture_image_bomb(kind, bombs, tmp_path, no_decoding):
    suffix, _, size = BOMBS[kind]
    d = tmp_path / "textures"
    d.mkdir()
    (d / f"t{suffix}").write_bytes(bombs[kind])
    _clear_listings()
    with pytest.raises(SimgenError) as e:
        settings_with(tmp_path, "materials.textures=[image]", f"materials.image_dir={d}")
    refusal(str(e.value), f"t{suffix}", size)
    assert "(materials.image_dir)" in str(e.value)


def test_pbr_map_bomb(bombs, tmp_path, no_decoding):
    d = tmp_path / "pbr" / "Planks"
    d.mkdir(parents=True)
    (d / "Planks_1K-JPG_Color.png").write_bytes(bombs["png"])
    (d / "Planks_1K-JPG_Roughness.jpg").write_bytes(bombs["jpeg"])
    _clear_listings()
    with pytest.raises(SimgenError) as e:
        settings_with(tmp_path, "materials=pbr", f"materials.pbr_dir={tmp_path / 'pbr'}")
    assert "Planks_1K-JPG_Color.png" in str(e.value) or "Planks_1K-JPG_Roughness.jpg" in str(e.value)
    name, size = (("Planks_1K-JPG_Color.png", (BOMB, BOMB)) if "Color" in str(e.value)
                  else ("Planks_1K-JPG_Roughness.jpg", (65000, 65000)))
    refusal(str(e.value), name, size)
    assert "set Planks" in str(e.value)


def _obj_with_texture(folder: Path, texture: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "m.mtl").write_text(f"newmtl a\nmap_Kd {texture}\n")
    (folder / "m.obj").write_text("mtllib m.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nvt 0 0\nvt 1 0\nvt 0 1\n"
                                  "usemtl a\nf 1/1 2/2 3/3\nf 1/1 3/3 4/1\nf 1/1 4/1 2/2\nf 2/2 4/1 3/3\n")
    return folder / "m.obj"


def _glb_with_image(path: Path, image: bytes, mime: str = "image/png") -> Path:
    """A one-triangle GLB (glTF 2.0 binary) whose material's baseColorTexture is ``image``,
    embedded in the binary chunk."""
    pos = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], "<f4").tobytes()
    uv = np.array([[0, 0], [1, 0], [0, 1]], "<f4").tobytes()
    idx = np.array([0, 1, 2, 0], "<u2").tobytes()  # padded to 4 bytes
    chunks, views = b"", []
    for data in (pos, uv, idx, image):
        views.append({"buffer": 0, "byteOffset": len(chunks), "byteLength": len(data)})
        chunks += data + b"\0" * (-len(data) % 4)
    doc = {"asset": {"version": "2.0"}, "scene": 0, "scenes": [{"nodes": [0]}], "nodes": [{"mesh": 0}],
           "meshes": [{"primitives": [{"attributes": {"POSITION": 0, "TEXCOORD_0": 1}, "indices": 2,
                                       "material": 0}]}],
           "accessors": [{"bufferView": 0, "componentType": 5126, "count": 3, "type": "VEC3",
                          "min": [0, 0, 0], "max": [1, 1, 0]},
                         {"bufferView": 1, "componentType": 5126, "count": 3, "type": "VEC2"},
                         {"bufferView": 2, "componentType": 5123, "count": 3, "type": "SCALAR"}],
           "bufferViews": views, "buffers": [{"byteLength": len(chunks)}],
           "images": [{"bufferView": 3, "mimeType": mime}], "textures": [{"source": 0}],
           "materials": [{"pbrMetallicRoughness": {"baseColorTexture": {"index": 0}}}]}
    js = json.dumps(doc).encode()
    js += b" " * (-len(js) % 4)
    body = struct.pack("<II", len(js), 0x4E4F534A) + js + struct.pack("<II", len(chunks), 0x004E4942) + chunks
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(struct.pack("<4sII", b"glTF", 2, 12 + len(body)) + body)
    return path


def test_mesh_texture_bombs(bombs, tmp_path, no_decoding):
    from simgen.assets.meshes import clear_mesh_cache, load_asset, load_mesh

    obj = _obj_with_texture(tmp_path / "obj", "big.jpg")
    (tmp_path / "obj" / "big.jpg").write_bytes(bombs["jpeg"])
    glb = _glb_with_image(tmp_path / "glb" / "m.glb", bombs["png"])
    webp = _glb_with_image(tmp_path / "webp" / "m.glb", bombs["webp"], "image/webp")
    for mesh, name, size in ((obj, "big.jpg", (65000, 65000)), (glb, "m.glb#image0", (BOMB, BOMB)),
                             (webp, "m.glb#image0", (1 << 24, 1 << 24))):
        clear_mesh_cache()
        with pytest.raises(SimgenError) as e:
            load_asset(mesh)
        refusal(str(e.value), name, size)
        assert f"of mesh {mesh}" in str(e.value)
        assert len(load_mesh(mesh).faces) > 0  # the geometry alone reads no texture


def test_catalog_with_a_texture_bomb_fails_from_the_config(bombs, tmp_path, no_decoding):
    from simgen.assets.meshes import clear_mesh_cache
    from simgen.pipeline import catalog_for

    glb = _glb_with_image(tmp_path / "meshes" / "m.glb", bombs["png"])
    clear_mesh_cache()
    s = settings_with(tmp_path, "objects.catalog=null", f"objects.dirs={{thing: {glb.parent}}}")
    with pytest.raises(SimgenError) as e:
        catalog_for(s)
    refusal(str(e.value), "m.glb#image0", (BOMB, BOMB))


def test_read_png_refuses_a_bomb(bombs, tmp_path, no_decoding):
    from simgen.io.files import read_png

    (tmp_path / "000000.png").write_bytes(bombs["png"])
    with pytest.raises(ImageTooLargeError) as e:
        read_png(tmp_path / "000000.png")
    refusal(str(e.value), "000000.png", (BOMB, BOMB))
    assert isinstance(e.value, ValueError)  # readers that report ValueError as an unreadable file still do


def test_read_png_reads_normal_files(tmp_path):
    from simgen.io.files import read_png, write_png

    rgb = pixels()
    write_png(tmp_path / "a.png", rgb)
    assert np.array_equal(read_png(tmp_path / "a.png"), rgb)
    with pytest.raises(ImageTooLargeError):
        read_png(tmp_path / "a.png", max_pixels=W * H - 1)


def test_the_blender_layer_checks_before_loading(bombs, tmp_path):
    """An image that reaches the backend unchecked (a Scene built by hand) is refused before
    bpy.data.images.load; the check itself is pure (simgen.image_header)."""
    from simgen.assets.appearance import TextureImage
    from simgen.blender.datablocks import Datablocks
    from simgen.config import RenderConfig

    (tmp_path / "sky.hdr").write_bytes(bombs["hdr"])
    blocks = Datablocks(RenderConfig().max_image_pixels, tmp_path)
    with pytest.raises(SimgenError) as e:
        blocks.image(tmp_path / "sky.hdr")
    refusal(str(e.value), "sky.hdr", (BOMB, BOMB))
    with pytest.raises(SimgenError) as e:
        blocks.texture(TextureImage(name="m.glb#image0", data=bombs["png"]), True)
    refusal(str(e.value), "m.glb#image0", (BOMB, BOMB))
    assert not list(tmp_path.glob("texture-*"))  # not even written to the scratch folder


def test_only_the_blender_package_imports_bpy():
    code = ("import sys, simgen.image_header, simgen.assets.images, simgen.assets.meshes, simgen.io.files; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('bpy', 'mathutils', 'bmesh')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"


# ------------------------------------------------------------------ the limit is a setting


def test_the_limit_follows_render_max_image_pixels(tmp_path):
    """A 53 x 37 texture is refused under render.max_image_pixels=1000, with the value that
    takes it, and accepted (and decoded) with that value."""
    d = tmp_path / "textures"
    d.mkdir()
    Image.fromarray(pixels()).save(d / "t.png")
    _clear_listings()
    with pytest.raises(SimgenError) as e:
        settings_with(tmp_path, "materials.textures=[image]", f"materials.image_dir={d}",
                      "render.max_image_pixels=1000")
    assert f"{W}x{H} = {W * H} pixels" in str(e.value) and f"render.max_image_pixels={W * H}" in str(e.value)
    s = settings_with(tmp_path, "materials.textures=[image]", f"materials.image_dir={d}",
                      f"render.max_image_pixels={W * H}")
    assert s.render.max_image_pixels == W * H


def test_a_raised_limit_reaches_photos_and_mesh_textures(tmp_path):
    from simgen.assets.meshes import clear_mesh_cache, load_asset, validate_catalog
    from simgen.assets.catalog import build_catalog

    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(pixels()).save(photos / "p.png")
    _clear_listings()
    with pytest.raises(SimgenError, match="render.max_image_pixels"):
        settings_with(tmp_path, f"scene.background_dir={photos}", "render.max_image_pixels=100")
    _clear_listings()
    settings_with(tmp_path, f"scene.background_dir={photos}", f"render.max_image_pixels={W * H}")

    buf = io.BytesIO()
    Image.fromarray(pixels()).save(buf, "PNG")
    glb = _glb_with_image(tmp_path / "meshes" / "m.glb", buf.getvalue())
    clear_mesh_cache()
    with pytest.raises(SimgenError, match="render.max_image_pixels"):
        load_asset(glb, max_pixels=100)
    assert load_asset(glb, max_pixels=W * H).appearance is not None
    catalog = build_catalog(catalog=None, dirs={"thing": str(glb.parent)})
    with pytest.raises(SimgenError, match="render.max_image_pixels"):
        validate_catalog(catalog, max_pixels=100)
    validate_catalog(catalog, max_pixels=W * H)


def test_the_default_takes_a_16k_hdri():
    assert MAX_IMAGE_PIXELS == 16384 * 8192
    assert check_pixels(hdr_bomb(16384, 8192)) == (16384, 8192)


def test_cli_refuses_a_bomb_in_one_line(bombs, tmp_path, monkeypatch, capfd):
    from test_bad_inputs import TINY, run_in_process

    d = tmp_path / "photos"
    d.mkdir()
    (d / "big.png").write_bytes(bombs["png"])
    _clear_listings()
    code, out, err, touched = run_in_process(
        [*TINY, "scene.background=[walls]", f"scene.background_dir={d}", f"output.dir={tmp_path / 'out'}"],
        tmp_path, monkeypatch, capfd)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("simgen: error:"), err
    refusal(lines[0], "big.png", (BOMB, BOMB))
    assert not touched


# ------------------------------------------------------------------ before decoding: memory


def test_refusal_costs_no_decoding_memory(bombs, tmp_path):
    """A fresh process refuses the 30000 x 30000 PNG (900 MB as grey bytes, 3.6 GB as RGBA)
    through the background-photo check with its peak memory far below one decoded copy."""
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "big.png").write_bytes(bombs["png"])
    code = textwrap.dedent(f"""
        import sys
        from simgen import SimgenError
        from simgen.assets.images import photo_files
        def peak_kib():  # VmHWM: this program's peak (ru_maxrss would carry the parent's over exec)
            line = next(x for x in open("/proc/self/status") if x.startswith("VmHWM:"))
            return int(line.split()[1])
        before = peak_kib()
        try:
            photo_files("scene.background_dir", {str(tmp_path / 'photos')!r})
        except SimgenError as e:
            print("refused:", e)
        after = peak_kib()
        print("peak_kib", before, after)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                         env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert "refused:" in out.stdout, out.stdout + out.stderr
    before, after = (int(x) for x in out.stdout.split("peak_kib")[1].split())
    assert after - before < 50 * 1024, f"peak grew by {(after - before) / 1024:.0f} MiB"
    assert after < 400 * 1024  # the whole process, imports included; one decoded copy is 858 MiB
