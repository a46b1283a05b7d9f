"""``simgen compare A B``: how two datasets differ, without pretrained networks.

Each side is a simgen dataset folder or a plain COCO dataset (a COCO json file and the
folder its ``file_name`` entries are relative to). Image statistics come from at most
``frames`` images per side, sampled evenly (deterministic); label statistics from every
annotation. Every statistic is a normalized histogram over the same bins on both sides and
its distance is the Jensen-Shannon distance (base 2: 0 = identical, 1 = disjoint), so that
all rows sort on one scale; the 1-D ones also get the Wasserstein-1 distance in their own
units. Written: one self-contained HTML page (plots: SVG drawn by matplotlib, inline as data:
URIs; left out with a note without it), a JSON of the distances beside it.
"""

from __future__ import annotations

import html
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import cv2
import numpy as np

from simgen.version import __version__
from simgen.errors import SimgenError
from simgen.image_header import ImageTooLargeError, check_pixels
from simgen.safe_paths import inside
from simgen.io.dataset.layout import frame_name
from simgen.io.files import atomic_open
from simgen.report import mpl, svg
from simgen.report.dataset import Dataset, annotations_of, extra
from simgen.report.inspect import CSS, sample_frames

PIXEL_EDGES = np.linspace(0.0, 256.0, 33)                 # colour and brightness, 8-bit values
SPECTRUM_SIZE = 128                                        # images are scaled and centre-cropped to this square
SPECTRUM_EDGES = np.linspace(0.0, 0.5, 17)                 # radial frequency, cycles per pixel (DC left out)
EDGE_EDGES = np.linspace(0.0, 0.4, 21)                     # share of Canny edge pixels per image
CANNY = (100, 200)
SIZE_EDGES = np.linspace(0.0, 1.0, 26)                     # sqrt(box w*h) / image diagonal
CENTRE_BINS = 10                                           # 10 x 10 grid of box centres (x / width, y / height)
ASPECT_EDGES = np.linspace(-4.0, 4.0, 33)                  # log2(box w / h)
OBJECTS_MAX = 30                                           # objects per image: 0 .. 29, 30 or more
VIS_EDGES = np.linspace(0.0, 1.0, 21)


# ------------------------------------------------------------------ distances


def js_distance(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon distance (square root of the divergence, base 2) of two histograms
    over the same bins, each normalized to sum 1: 0 when equal, 1 when disjoint."""
    p, q = np.asarray(p, float).ravel(), np.asarray(q, float).ravel()
    if p.sum() <= 0 or q.sum() <= 0:
        return float("nan")
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2

    def kl(a: np.ndarray) -> float:
        nz = a > 0
        return float(np.sum(a[nz] * np.log2(a[nz] / m[nz])))

    return float(math.sqrt(max(0.0, (kl(p) + kl(q)) / 2)))


def wasserstein1(edges: np.ndarray, p: np.ndarray, q: np.ndarray) -> float:
    """Wasserstein-1 (earth mover's) distance of two 1-D histograms over ``edges`` (mass at
    bin centres), in the units of the edges."""
    p, q = np.asarray(p, float), np.asarray(q, float)
    if p.sum() <= 0 or q.sum() <= 0:
        return float("nan")
    cdf = np.cumsum(p / p.sum() - q / q.sum())[:-1]
    centres = (edges[:-1] + edges[1:]) / 2
    return float(np.sum(np.abs(cdf) * np.diff(centres)))


# ------------------------------------------------------------------ the two sides


@dataclass
class Image:
    path: Path
    width: int
    height: int
    annotations: list[dict]


class Side:
    """One dataset to compare: categories by id and its images with their annotations."""

    def __init__(self, spec: str | os.PathLike, images: str | os.PathLike | None = None):
        p = Path(spec).expanduser()
        self.spec = str(spec)
        if p.is_dir():
            if images is not None:
                raise SimgenError(f"{spec}: --images is for a COCO json file, not a simgen dataset folder")
            self.ds: Dataset | None = Dataset(p)
            self.kind = "simgen"
            self.category_names = dict(self.ds.category_names)
            self.indices = list(self.ds.frames)
            if not self.indices:
                raise SimgenError(f"{spec}: the dataset has no complete frame (no meta/NNNNNN.json)")
            self.labels_vis = "visibility" in self.ds.labels
            return
        if not p.is_file():
            raise SimgenError(f"{spec}: no such file or folder (give a simgen dataset folder or a COCO json file)")
        self.ds = None
        self.kind = "coco"
        try:
            coco = json.loads(p.read_text(encoding="utf-8"))
            self.category_names = {int(c["id"]): str(c["name"]) for c in coco.get("categories") or []}
            imgs = list(coco["images"])
            anns = list(coco.get("annotations") or [])
        except (ValueError, KeyError, TypeError) as e:
            raise SimgenError(f"{spec}: not a COCO json file ({type(e).__name__}: {e})") from None
        if not imgs:
            raise SimgenError(f"{spec}: the COCO file lists no images")
        root = Path(images).expanduser() if images is not None else p.parent
        if not root.is_dir():
            raise SimgenError(f"{images}: no such image folder")
        by_image: dict[int, list[dict]] = {}
        for a in anns:
            by_image.setdefault(int(a["image_id"]), []).append(a)
        try:
            self._images = [Image(inside(root, im["file_name"], f"{spec}: image {im['id']} file_name"),
                                  int(im["width"]), int(im["height"]), by_image.get(int(im["id"]), [])) for im in imgs]
        except (KeyError, TypeError, ValueError) as e:
            raise SimgenError(f"{spec}: a COCO image lacks id, file_name, width or height ({e})") from None
        self.indices = list(range(len(self._images)))
        self.labels_vis = any(extra(a, "visibility") is not None for a in anns)

    def image(self, i: int) -> Image:
        if self.ds is None:
            return self._images[i]
        meta = self.ds.meta(i)
        im = (meta.get("coco") or {}).get("image") or {}
        return Image(self.ds.root / "images" / f"{frame_name(i)}.png", int(im.get("width", 0)),
                     int(im.get("height", 0)), annotations_of(meta))

    def images(self) -> Iterator[Image]:
        for i in self.indices:
            yield self.image(i)


# ------------------------------------------------------------------ statistics


@dataclass
class Stats:
    """Histograms of one side (unnormalized; image ones are averages over images)."""

    images: int = 0
    sampled: int = 0
    annotations: int = 0
    red: np.ndarray = field(default_factory=lambda: np.zeros(len(PIXEL_EDGES) - 1))
    green: np.ndarray = field(default_factory=lambda: np.zeros(len(PIXEL_EDGES) - 1))
    blue: np.ndarray = field(default_factory=lambda: np.zeros(len(PIXEL_EDGES) - 1))
    luma: np.ndarray = field(default_factory=lambda: np.zeros(len(PIXEL_EDGES) - 1))
    spectrum: np.ndarray = field(default_factory=lambda: np.zeros(len(SPECTRUM_EDGES) - 1))
    edges: np.ndarray = field(default_factory=lambda: np.zeros(len(EDGE_EDGES) - 1))
    categories: dict = field(default_factory=dict)
    size: np.ndarray = field(default_factory=lambda: np.zeros(len(SIZE_EDGES) - 1))
    centre: np.ndarray = field(default_factory=lambda: np.zeros((CENTRE_BINS, CENTRE_BINS)))
    aspect: np.ndarray = field(default_factory=lambda: np.zeros(len(ASPECT_EDGES) - 1))
    objects: np.ndarray = field(default_factory=lambda: np.zeros(OBJECTS_MAX + 1))
    vis: np.ndarray = field(default_factory=lambda: np.zeros(len(VIS_EDGES) - 1))


def _radial_bins() -> np.ndarray:
    f = np.fft.fftfreq(SPECTRUM_SIZE)
    r = np.hypot(f[:, None], f[None, :])
    b = np.minimum(np.digitize(r, SPECTRUM_EDGES) - 1, len(SPECTRUM_EDGES) - 2)
    b[(r <= 0) | (r > SPECTRUM_EDGES[-1])] = -1                    # DC and the corners left out
    return b


_RADIAL = _radial_bins()
_HANN = np.outer(np.hanning(SPECTRUM_SIZE), np.hanning(SPECTRUM_SIZE))


def _hist(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    v = np.clip(np.asarray(values, float), edges[0], np.nextafter(edges[-1], edges[0]))
    return np.histogram(v, bins=edges)[0].astype(float)


def image_stats(bgr: np.ndarray, st: Stats) -> None:
    """Add one image's normalized histograms to ``st``."""
    n = bgr.shape[0] * bgr.shape[1]
    for k, name in enumerate(("blue", "green", "red")):
        getattr(st, name)[:] += cv2.calcHist([bgr], [k], None, [32], [0, 256]).ravel() / n
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    st.luma += cv2.calcHist([gray], [0], None, [32], [0, 256]).ravel() / n
    st.edges += _hist([cv2.countNonZero(cv2.Canny(gray, *CANNY)) / n], EDGE_EDGES)
    # power spectrum: shorter side scaled to SPECTRUM_SIZE, centre crop, Hann window
    h, w = gray.shape
    s = SPECTRUM_SIZE / min(h, w)
    g = cv2.resize(gray, (max(SPECTRUM_SIZE, round(w * s)), max(SPECTRUM_SIZE, round(h * s))),
                   interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR).astype(float)
    y0, x0 = (g.shape[0] - SPECTRUM_SIZE) // 2, (g.shape[1] - SPECTRUM_SIZE) // 2
    g = g[y0:y0 + SPECTRUM_SIZE, x0:x0 + SPECTRUM_SIZE]
    power = np.abs(np.fft.fft2((g - g.mean()) * _HANN)) ** 2
    keep = _RADIAL >= 0
    band = np.bincount(_RADIAL[keep], weights=power[keep], minlength=len(SPECTRUM_EDGES) - 1)
    band = band / np.maximum(np.bincount(_RADIAL[keep], minlength=len(band)), 1)   # radial average
    if band.sum() > 0:
        st.spectrum += band / band.sum()


def label_stats(im: Image, st: Stats, names: dict[int, str]) -> None:
    anns = [a for a in im.annotations if not a.get("iscrowd")]
    st.objects[min(len(anns), OBJECTS_MAX)] += 1
    diag = math.hypot(im.width, im.height) or 1.0
    for a in anns:
        st.annotations += 1
        name = names.get(int(a["category_id"]), f"id {a['category_id']}")
        st.categories[name] = st.categories.get(name, 0) + 1
        x, y, w, h = (float(v) for v in a["bbox"])
        st.size += _hist([math.sqrt(max(w * h, 0.0)) / diag], SIZE_EDGES)
        if w > 0 and h > 0:
            st.aspect += _hist([math.log2(w / h)], ASPECT_EDGES)
        if im.width > 0 and im.height > 0:
            cx = min(max((x + w / 2) / im.width, 0.0), 0.999999)
            cy = min(max((y + h / 2) / im.height, 0.0), 0.999999)
            st.centre[int(cy * CENTRE_BINS), int(cx * CENTRE_BINS)] += 1
        v = extra(a, "visibility")
        if v is not None:
            st.vis += _hist([float(v)], VIS_EDGES)


def gather(side: Side, frames: int) -> Stats:
    st = Stats(images=len(side.indices))
    names = side.category_names
    for i in side.indices:
        try:
            label_stats(side.image(i), st, names)
        except (OSError, ValueError, KeyError, TypeError, IndexError) as e:
            raise SimgenError(f"{side.spec}: image {i}: bad annotation or meta ({type(e).__name__}: {e})") from None
    for i in sample_frames(side.indices, frames):
        im = side.image(i)
        try:
            check_pixels(im.path)  # before decoding: the images are data (a bomb is one line)
        except ImageTooLargeError:
            raise
        except (SimgenError, OSError):
            raise SimgenError(f"{im.path}: image missing or unreadable") from None
        bgr = cv2.imread(str(im.path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise SimgenError(f"{im.path}: image missing or unreadable")
        image_stats(bgr, st)
        st.sampled += 1
    return st


# ------------------------------------------------------------------ the comparison


@dataclass
class Row:
    name: str
    kind: str                      # "image" or "label"
    distance: float                # Jensen-Shannon distance, 0..1 (nan: not available on a side)
    w1: float | None = None        # Wasserstein-1 in ``unit``, for 1-D statistics
    unit: str = ""
    note: str = ""
    plot: str = ""


def _labels(edges: np.ndarray, digits: int = 2) -> list[str]:
    return [f"{v:.{digits}g}" for v in edges[:-1]]


def compare_stats(a: Stats, b: Stats, names: tuple[str, str] = ("A", "B")) -> list[Row]:
    """The rows of the comparison, sorted by distance (largest first, unavailable last)."""
    rows: list[Row] = []

    def norm(h: np.ndarray) -> np.ndarray:
        s = h.sum()
        return h / s if s > 0 else h

    def one_d(name: str, kind: str, edges: np.ndarray, ha: np.ndarray, hb: np.ndarray, unit: str,
              xlabel: str, digits: int = 2, note: str = "") -> None:
        plot = svg.pair_bars(name, _labels(edges, digits), norm(ha), norm(hb), xlabel=xlabel, names=names)
        rows.append(Row(name, kind, js_distance(ha, hb), wasserstein1(edges, ha, hb), unit, note, plot))

    if a.sampled and b.sampled:
        for ch in ("red", "green", "blue"):
            one_d(f"colour {ch}", "image", PIXEL_EDGES, getattr(a, ch), getattr(b, ch), "8-bit levels",
                  f"{ch} value (0..255)", 3)
        one_d("brightness", "image", PIXEL_EDGES, a.luma, b.luma, "8-bit levels", "luma (Rec. 601, 0..255)", 3)
        freqs = (SPECTRUM_EDGES[:-1] + SPECTRUM_EDGES[1:]) / 2
        la, lb = (np.log10(np.maximum(norm(h), 1e-12)) for h in (a.spectrum, b.spectrum))
        rows.append(Row("power spectrum", "image", js_distance(a.spectrum, b.spectrum),
                        wasserstein1(SPECTRUM_EDGES, a.spectrum, b.spectrum), "cycles/pixel",
                        "share of power per radial frequency band",
                        svg.pair_lines("power spectrum (radial average)", freqs, la, lb,
                                       xlabel="cycles per pixel", ylabel="log10 power share", names=names)))
        one_d("edge density", "image", EDGE_EDGES, a.edges, b.edges, "edge-pixel share",
              "share of Canny edge pixels per image", 2)
    if a.annotations and b.annotations:
        cats = sorted(set(a.categories) | set(b.categories), key=lambda c: -(a.categories.get(c, 0)
                                                                            + b.categories.get(c, 0)))
        ca = np.array([a.categories.get(c, 0) for c in cats], float)
        cb = np.array([b.categories.get(c, 0) for c in cats], float)
        only_a = [c for c in cats if c not in b.categories]
        only_b = [c for c in cats if c not in a.categories]
        note = "; ".join(s for s in (f"only in {names[0]}: {', '.join(only_a)}" if only_a else "",
                                     f"only in {names[1]}: {', '.join(only_b)}" if only_b else "") if s)
        rows.append(Row("categories", "label", js_distance(ca, cb), None, "", note,
                        svg.pair_bars("categories (matched by name)", cats, norm(ca), norm(cb), names=names)))
        one_d("box size", "label", SIZE_EDGES, a.size, b.size, "of image diagonal", "sqrt(box area) / image diagonal")
        xa, xb = a.centre.sum(axis=0), b.centre.sum(axis=0)
        ya, yb = a.centre.sum(axis=1), b.centre.sum(axis=1)
        ce = np.linspace(0, 1, CENTRE_BINS + 1)
        rows.append(Row("box centre", "label", js_distance(a.centre, b.centre), None, "",
                        f"{CENTRE_BINS}x{CENTRE_BINS} grid; x marginal W1 {wasserstein1(ce, xa, xb):.3g}, "
                        f"y marginal W1 {wasserstein1(ce, ya, yb):.3g} (of image width / height)",
                        svg.pair_bars("box centre x", _labels(ce), norm(xa), norm(xb), xlabel="x / width", names=names)
                        + svg.pair_bars("box centre y", _labels(ce), norm(ya), norm(yb), xlabel="y / height",
                                        names=names)))
        one_d("aspect ratio", "label", ASPECT_EDGES, a.aspect, b.aspect, "log2 units", "log2(box width / height)")
    else:
        empty = " and ".join(n for n, st in zip(names, (a, b)) if not st.annotations)
        rows.append(Row("categories and boxes", "label", float("nan"), None, "", f"no annotations in {empty}"))
    if a.images and b.images:
        oe = np.arange(OBJECTS_MAX + 2, dtype=float)
        one_d("objects per image", "label", oe, a.objects, b.objects, "objects", f"objects ({OBJECTS_MAX}: or more)", 3)
    if a.vis.sum() and b.vis.sum():
        one_d("visibility", "label", VIS_EDGES, a.vis, b.vis, "visible share", "visible share of each object")
    else:
        rows.append(Row("visibility", "label", float("nan"), None, "",
                        "not on both sides (simgen: output.labels=[visibility]; COCO: ann['simgen']['visibility'])"))
    rows.sort(key=lambda r: (math.isnan(r.distance), -r.distance if not math.isnan(r.distance) else 0.0))
    return rows


# ------------------------------------------------------------------ output


def table(rows: list[Row]) -> str:
    """The plain-text table printed to stdout."""
    out = [f"{'statistic':<20} {'JS dist':>8} {'W1':>10}  unit / note"]
    for r in rows:
        d = "n/a" if math.isnan(r.distance) else f"{r.distance:.3f}"
        w = "" if r.w1 is None or math.isnan(r.w1) else f"{r.w1:.3g}"
        out.append(f"{r.name:<20} {d:>8} {w:>10}  " + "; ".join(s for s in (r.unit, r.note) if s))
    return "\n".join(out)


def _num(v: float | None) -> float | None:
    return None if v is None or math.isnan(v) else round(float(v), 6)


def render_html(sides: tuple[Side, Side], stats: tuple[Stats, Stats], rows: list[Row]) -> str:
    title = f"simgen compare: {sides[0].spec} vs {sides[1].spec}"
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{html.escape(title)}</title><style>{CSS}"
           "table.dist td,table.dist th{padding:2px 10px;text-align:left}table.dist td.n{text-align:right}"
           "</style></head><body>", f"<h1>{html.escape(title)}</h1>", '<table class="summary">']
    for label, side, st in zip(("A", "B"), sides, stats):
        out.append(f"<tr><td>{label}</td><td>{html.escape(side.spec)} ({side.kind}): {st.images} image(s), "
                   f"{st.sampled} sampled for image statistics, {st.annotations} annotation(s)</td></tr>")
    out.append(f"<tr><td>simgen</td><td>{html.escape(__version__)}</td></tr></table>")
    out += ["<h2>Distances</h2>", "<p>Jensen-Shannon distance (base 2) of normalized histograms over the same bins: "
            "0 identical, 1 disjoint; W1: Wasserstein-1 distance of the 1-D ones in their units. Largest first.</p>",
            '<table class="dist"><tr><th>statistic</th><th>JS distance</th><th>W1</th><th>unit / note</th></tr>']
    for r in rows:
        d = "n/a" if math.isnan(r.distance) else f"{r.distance:.3f}"
        w = "" if r.w1 is None or math.isnan(r.w1) else f"{r.w1:.3g}"
        note = "; ".join(s for s in (r.unit, r.note) if s)
        out.append(f'<tr><td>{html.escape(r.name)}</td><td class="n">{d}</td><td class="n">{w}</td>'
                   f"<td>{html.escape(note)}</td></tr>")
    out += ["</table>", "<h2>Plots</h2>", '<div class="plots">']
    out += [r.plot for r in rows if r.plot] if mpl.available() else [svg.NO_PLOTS]
    out += ["</div>", "</body></html>"]
    return "\n".join(out)


def compare(a: str | os.PathLike, b: str | os.PathLike, out: str | os.PathLike | None = None, frames: int = 50,
            images_a: str | os.PathLike | None = None, images_b: str | os.PathLike | None = None
            ) -> tuple[Path, Path, list[Row]]:
    """Compare datasets ``a`` and ``b``; write the HTML report to ``out`` (default
    ./compare.html) and the distances to the same path with ``.json``; returns both paths
    and the rows, largest distance first."""
    if frames < 0:
        raise SimgenError(f"--frames must be >= 0, got {frames}")
    sides = (Side(a, images_a), Side(b, images_b))
    stats = (gather(sides[0], frames), gather(sides[1], frames))
    rows = compare_stats(*stats)
    path = Path(out) if out is not None else Path("compare.html")
    jpath = path.with_suffix(".json")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path) as f:
        f.write(render_html(sides, stats, rows))
    doc: dict[str, Any] = {
        "a": {"source": sides[0].spec, "kind": sides[0].kind, "images": stats[0].images,
              "sampled": stats[0].sampled, "annotations": stats[0].annotations},
        "b": {"source": sides[1].spec, "kind": sides[1].kind, "images": stats[1].images,
              "sampled": stats[1].sampled, "annotations": stats[1].annotations},
        "distance": "jensen-shannon (base 2, 0..1)",
        "statistics": [{"name": r.name, "kind": r.kind, "js": _num(r.distance), "w1": _num(r.w1),
                        "w1_unit": r.unit if r.w1 is not None else None, "note": r.note} for r in rows]}
    with atomic_open(jpath) as f:
        f.write(json.dumps(doc, indent=1) + "\n")
    return path, jpath, rows
