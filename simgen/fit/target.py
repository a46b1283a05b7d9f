"""The target of a fit: the user's images (and optionally their COCO labels), read once, checked,
and turned into statistics samples that are cached in the fit's folder.

The target folder is data: it is only read (nothing is written there), symbolic links are not
followed out of it, every image's header is checked against the pixel limit before it is
decoded, and an image that cannot be used as it is (truncated, greyscale, 16-bit, transparent,
another size than the others) stops the fit before anything renders, with one line naming it.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from simgen.errors import SimgenError
from simgen.image_header import MAX_IMAGE_PIXELS, check_pixels
from simgen.fit.config import digest
from simgen.fit.kid import BATCH

log = logging.getLogger("simgen.fit")

TARGET_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")


def target_files(folder: str, max_images: int) -> list[Path]:
    """At most ``max_images`` image files under ``folder`` (subfolders too; hidden names and
    symbolic links skipped), evenly spaced in name order."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise SimgenError(f"fit.target={folder}: no such folder; give the folder of your images")
    found, links = [], 0
    for here, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not (Path(here) / d).is_symlink())
        for n in names:
            p = Path(here) / n
            if n.startswith(".") or p.suffix.lower() not in TARGET_SUFFIXES:
                continue
            if p.is_symlink():
                links += 1
                continue
            found.append(p)
    if links:
        log.warning("fit.target: %d symbolic link(s) skipped (links are not followed out of the target folder)", links)
    if not found:
        raise SimgenError(f"fit.target={folder} holds no images ({' '.join(TARGET_SUFFIXES)})")
    found.sort(key=lambda p: p.relative_to(root).as_posix())
    if len(found) > max_images:
        found = [found[i] for i in np.linspace(0, len(found) - 1, max_images).round().astype(int)]
    return found


def read_image(path: Path, limit: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """An 8-bit RGB target image as (H, W, 3) uint8; a one-line SimgenError naming the file when it
    is over ``limit`` pixels, truncated or unreadable, greyscale, 16-bit or transparent."""
    from PIL import Image

    check_pixels(path, limit)
    if path.suffix.lower() == ".png":
        with open(path, "rb") as f:
            head = f.read(26)
        if len(head) == 26 and head[24] == 16:
            raise SimgenError(f"fit.target: {path} is a 16-bit PNG; the fit compares 8-bit sRGB images as a camera "
                              "writes them: convert it to 8 bits")
    try:
        with Image.open(path) as im:
            im.load()
            mode = im.mode
            if mode in ("L", "LA", "1", "I", "I;16", "I;16B", "F"):
                raise SimgenError(f"fit.target: {path} is a greyscale image (mode {mode}); simgen renders colour and the "
                                  "fit compares colour statistics: give colour images")
            if mode in ("RGBA", "PA") or (mode == "P" and "transparency" in im.info):
                rgba = np.asarray(im.convert("RGBA"))
                if (rgba[..., 3] < 255).any():
                    raise SimgenError(f"fit.target: {path} has transparent pixels; a camera image has none: flatten it "
                                      "onto its background first")
                return np.ascontiguousarray(rgba[..., :3])
            return np.ascontiguousarray(np.asarray(im.convert("RGB"), np.uint8))
    except SimgenError:
        raise
    except (OSError, ValueError, SyntaxError) as e:  # PIL: truncated, corrupt, unknown
        raise SimgenError(f"fit.target: cannot read {path} ({' '.join(str(e).split())}); fix or remove it") from None


@dataclass
class Target:
    """The target's statistics samples and what they were computed from."""

    files: list[str]
    """The images used, relative to the target folder."""
    size: tuple[int, int]
    """(width, height) of the target images as they are."""
    samples: dict[str, np.ndarray]
    """Statistic name -> its sample (simgen.fit.stats: one value per image, or per object)."""
    labelled: bool
    features: np.ndarray | None = None
    """(N, D) features of the images for fit.objective=kid (simgen.fit.kid), else None."""


def image_size_of(files: list[Path], limit: int = MAX_IMAGE_PIXELS) -> tuple[int, int]:
    """The one (width, height) of every file, from their headers; a one-line SimgenError naming two
    files of different sizes."""
    sizes = {}
    for p in files:
        sizes.setdefault(check_pixels(p, limit), p)
    if len(sizes) > 1:
        (a, pa), (b, pb) = list(sizes.items())[:2]
        raise SimgenError(f"fit.target: images of different sizes ({pa.name} is {a[0]}x{a[1]}, {pb.name} is "
                          f"{b[0]}x{b[1]}); the statistics of blur, noise and JPEG blocks are per pixel, so give "
                          "images of one size (resize or crop them, or fit each size apart)")
    return next(iter(sizes))


def coco_samples(path: str, categories: Iterable[str], rename: Mapping[str, str]) -> dict[str, np.ndarray]:
    """The label statistics of a target COCO json, after checking its categories against the
    catalog's ``categories`` (matched by name; ``rename``: target name -> catalog name)."""
    from simgen.experiment.evaluate import match_categories
    from simgen.fit.stats import label_stats
    from simgen.io.files import read_json

    try:
        coco = read_json(Path(path).expanduser())
        if not isinstance(coco, dict) or not isinstance(coco.get("images"), list) \
                or not isinstance(coco.get("categories"), list):
            raise ValueError("it is not a COCO json with images and categories")
        match_categories(coco["categories"], categories, rename=rename, keys="fit")
        return label_stats(coco)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SimgenError(f"fit.target_coco={path}: cannot use it ({' '.join(str(e).split())})") from None


def load_target(folder: str, *, max_images: int, size: tuple[int, int] | None, coco: str | None,
                categories: Iterable[str], rename: Mapping[str, str], cache: Path,
                limit: int = MAX_IMAGE_PIXELS, features: Any = None) -> Target:
    """The target's statistics, from ``cache`` (an .npz in the fit's folder) when it was computed
    from the same files, size and labels, else computed and cached. ``size``: (width, height) the
    renders have; target images of another size with the same aspect are resized to it (area
    averaging) before their statistics, with a warning; another aspect is refused. ``features``:
    a simgen.fit.kid.Features whose features of the images the target keeps too."""
    from simgen.fit.stats import image_samples
    from simgen.io.files import read_npz, write_npz

    files = target_files(folder, max_images)
    own = image_size_of(files, limit)
    size = size or own
    if abs(own[0] / own[1] - size[0] / size[1]) > 0.01 * own[0] / own[1]:
        raise SimgenError(f"fit.target images are {own[0]}x{own[1]} but the renders are {size[0]}x{size[1]}, another "
                          f"aspect; render at the target's aspect (e.g. render.width={size[0]} "
                          f"render.height={round(size[0] * own[1] / own[0])}) or leave render.width/height unset")
    root = Path(folder).expanduser()
    names = [p.relative_to(root).as_posix() for p in files]
    coco_stat = Path(coco).expanduser().stat() if coco else None
    key = digest({"files": [(n, p.stat().st_size, p.stat().st_mtime_ns) for n, p in zip(names, files)],
                        "size": size, "coco": (coco, coco_stat.st_size, coco_stat.st_mtime_ns) if coco_stat else None,
                        "rename": dict(rename), "version": STATS_VERSION,
                        "features": features.key if features is not None else None})
    if cache.is_file():
        data = read_npz(cache)
        if str(data.get("fingerprint", "")) == key:
            samples = {k[len("s_"):]: v for k, v in data.items() if k.startswith("s_")}
            return Target(names, own, samples, coco is not None, data.get("features"))
    if size != own:
        log.warning("fit.target images are %dx%d, the renders %dx%d: the target is resized to the renders' size "
                    "before its statistics (blur, noise and JPEG blocks then describe the resized images)",
                    own[0], own[1], size[0], size[1])

    def images() -> Iterable[np.ndarray]:
        import cv2

        for p in files:
            rgb = read_image(p, limit)
            yield rgb if size == own else cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)

    batches: list[np.ndarray] = []

    def with_features() -> Iterable[np.ndarray]:  # the images' features in batches as they pass
        batch: list[np.ndarray] = []
        for rgb in images():
            batch.append(rgb)
            if len(batch) == BATCH:
                batches.append(features(batch))
                batch = []
            yield rgb
        if batch:
            batches.append(features(batch))

    samples = image_samples(images() if features is None else with_features())
    if coco is not None:
        samples.update(coco_samples(coco, categories, rename))
    feats = np.concatenate(batches) if batches else None
    write_npz(cache, {"fingerprint": np.array(key), **{f"s_{k}": np.asarray(v, np.float64) for k, v in samples.items()},
                      **({"features": feats} if feats is not None else {})})
    return Target(names, own, samples, coco is not None, feats)


STATS_VERSION = 2
"""Bumped when a statistic's definition changes: cached target statistics are then recomputed."""
