"""Decompression bombs: every input image is measured from its header (simgen.core.image_header,
each reader written from its format's specification) and refused above render.max_image_pixels
before a pixel is decoded."""

import io
import os
import struct
import subprocess
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from conftest import SIMGEN
from simgen import SimgenError
from simgen.assets import images as images_mod
from simgen.core.image_header import DEFAULT_MAX_PIXELS, HeaderError, check_pixels, image_size

W, H = 37, 23


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(path, side=30000):
    """A valid greyscale PNG of side x side zeros: a megabyte on disk, side**2 bytes decoded."""
    z = zlib.compressobj(9)
    row = bytes(side + 1)  # filter byte 0 + the row
    body = b"".join(z.compress(row * 1000) for _ in range(side // 1000)) + z.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
                     + _chunk(b"IDAT", body) + _chunk(b"IEND", b""))
    return path


def exr_header(width, height) -> bytes:
    """The header of a one-channel scanline OpenEXR (its required attributes), no pixels."""
    def attr(name, kind, value):
        return name + b"\0" + kind + b"\0" + struct.pack("<i", len(value)) + value
    return (b"\x76\x2f\x31\x01" + struct.pack("<I", 2)
            + attr(b"channels", b"chlist", b"Y\0" + struct.pack("<iBBBBii", 2, 0, 0, 0, 0, 1, 1) + b"\0")
            + attr(b"compression", b"compression", b"\0")
            + attr(b"dataWindow", b"box2i", struct.pack("<iiii", 0, 0, width - 1, height - 1))
            + attr(b"displayWindow", b"box2i", struct.pack("<iiii", 0, 0, width - 1, height - 1))
            + attr(b"lineOrder", b"lineOrder", b"\0") + attr(b"pixelAspectRatio", b"float", struct.pack("<f", 1))
            + attr(b"screenWindowCenter", b"v2f", struct.pack("<ff", 0, 0))
            + attr(b"screenWindowWidth", b"float", struct.pack("<f", 1)) + b"\0")


def pil_bytes(fmt, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (H, W, 3), np.uint8)).save(buf, fmt, **kw)
    return buf.getvalue()


def cv2_file(tmp_path, suffix, image=None) -> str:
    path = str(tmp_path / f"x{suffix}")
    image = image if image is not None else np.random.default_rng(0).integers(0, 255, (H, W, 3), np.uint8)
    assert cv2.imwrite(path, image)
    return path


@pytest.mark.parametrize("fmt, kw", [("PNG", {}), ("JPEG", {}), ("JPEG", {"progressive": True}),
                                      ("JPEG", {"exif": b"Exif\0\0" + bytes(60000)}), ("TIFF", {}),
                                      ("BMP", {}), ("WEBP", {"lossless": True}), ("WEBP", {"quality": 80})])
def test_header_sizes_of_files_written_by_pillow(fmt, kw):
    assert image_size(pil_bytes(fmt, **kw)) == (W, H)


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif", ".bmp", ".hdr", ".exr", ".webp"])
def test_header_sizes_of_files_written_by_opencv(tmp_path, suffix):
    image = np.random.default_rng(1).random((H, W, 3)).astype(np.float32) if suffix in (".hdr", ".exr") else None
    if suffix == ".exr":
        import OpenEXR

        path = str(tmp_path / "x.exr")
        with OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage},
                          {"RGB": image}) as f:
            f.write(path)
    else:
        path = cv2_file(tmp_path, suffix, image)
    assert image_size(path) == (W, H)


def test_header_sizes_of_tga_and_big_endian_tiff(tmp_path):
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(tmp_path / "x.tga")
    assert image_size(tmp_path / "x.tga") == (W, H)
    tiff = pil_bytes("TIFF")  # PIL writes II; the same IFD in MM order
    ifd = struct.unpack("<I", tiff[4:8])[0]
    count = struct.unpack("<H", tiff[ifd:ifd + 2])[0]
    entries = b""
    for k in range(count):
        tag, kind, n, value = struct.unpack("<HHII", tiff[ifd + 2 + 12 * k: ifd + 14 + 12 * k])
        v = struct.pack(">HH", value & 0xFFFF, 0) if kind == 3 and n == 1 else struct.pack(">I", value)
        entries += struct.pack(">HHI", tag, kind, n) + v
    mm = b"MM\0*" + struct.pack(">I", 8) + struct.pack(">H", count) + entries + b"\0\0\0\0"
    assert image_size(mm) == (W, H)


def test_unknown_and_truncated_headers_are_refused():
    for data in (b"GIF89a" + bytes(20), b"\x89PNG\r\n\x1a\n\0\0", b"\xff\xd8\xff\xe0\0\x10JFIF", b""):
        with pytest.raises(HeaderError):
            image_size(data)
    with pytest.raises(SimgenError, match="cannot use image x.gif: not an image format"):
        check_pixels(b"GIF89a" + bytes(20), DEFAULT_MAX_PIXELS, "x.gif")


@pytest.fixture(scope="module")
def bombs(tmp_path_factory):
    d = tmp_path_factory.mktemp("bombs")
    png_bomb(d / "photo.png")
    (d / "sky.hdr").write_bytes(b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 40000 +X 80000\n" + bytes(64))
    (d / "map.exr").write_bytes(exr_header(50000, 50000) + bytes(64))
    (d / "wood.jpg").write_bytes(b"\xff\xd8\xff\xc0\x00\x11\x08" + struct.pack(">HH", 65000, 65000) + bytes(64))
    return d


@pytest.mark.parametrize("name, size", [("photo.png", (30000, 30000)), ("sky.hdr", (80000, 40000)),
                                        ("map.exr", (50000, 50000)), ("wood.jpg", (65000, 65000))])
def test_a_bomb_is_refused_before_it_is_decoded(bombs, name, size, monkeypatch):
    assert image_size(bombs / name) == size
    images_mod._problem.cache_clear()

    def never(*a):
        raise AssertionError("decoded")
    monkeypatch.setattr(images_mod, "_decode", never)
    with pytest.raises(SimgenError, match=r"more than render.max_image_pixels=134217728; raise render.max_image_pixels"
                       ) as e:
        images_mod.check_images([bombs / name], "scene.background_dir")
    assert f"{size[0]}x{size[1]}" in str(e.value) and "\n" not in str(e.value)
    images_mod.set_pixel_limit(size[0] * size[1])  # the key raised: the header passes (and decoding follows)
    try:
        with pytest.raises(SimgenError, match="AssertionError: decoded"):  # it got as far as decoding
            images_mod.check_images([bombs / name], "scene.background_dir")
    finally:
        images_mod.set_pixel_limit(DEFAULT_MAX_PIXELS)


def test_a_dataset_png_bomb_is_refused_by_read_png(bombs):
    from simgen.io.files import read_png

    with pytest.raises(SimgenError, match="30000x30000"):
        read_png(bombs / "photo.png")


@pytest.mark.render
def test_a_background_photo_bomb_is_one_line_before_blender(bombs, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    os.link(bombs / "photo.png", photos / "photo.png")
    r = subprocess.run([SIMGEN, f"output.dir={tmp_path / 'out'}", f"scene.background_dir={photos}", "frames=1",
                        "render.width=48", "render.height=32", "render.samples=1"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "30000x30000 = 900000000 pixels, more than render.max_image_pixels" in lines[0]
    assert not (tmp_path / "out").exists()
