"""``simgen inspect DIR``: a self-contained HTML report of a dataset, to look at before
training on it.

One pass over every frame (in worker processes, one frame in memory per worker) gathers
small per-frame summaries that are folded into fixed-bin histograms and counters, so memory
does not grow with the dataset; then ``frames`` frames sampled evenly are drawn on a contact
sheet (box and mask overlay, the parts label, depth, normals, flow). The page has no external resource:
pictures and plots (SVG drawn by matplotlib, see simgen.report.svg) are inline ``data:`` URIs.
"""

from __future__ import annotations

import base64
import html
import math
import os
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import cv2
import numpy as np

from simgen.version import __version__
from simgen.errors import SimgenError
from simgen.image_header import check_pixels
from simgen.safe_paths import inside
from simgen.io.dataset.layout import frame_name
from simgen.io.files import atomic_open, read_npy, read_npz, read_png
from simgen.io.names import META_DIR
from simgen.labels.flow import flow_to_color
from simgen.labels.preview import depth_preview, normal_preview, overlay, parts_preview, pose_overlay, tracks_preview
from simgen.report import mpl, svg
from simgen.report.dataset import Dataset, annotations_of, extra

CLIP_FRACTION = 0.01
"""A frame whose share of pixels clipped to white (255 in every channel) is above this is flagged."""
BLACK_MEAN = 10.0
"""A frame whose mean luma (0..255, Rec. 601 weights) is below this is flagged as nearly black."""
TILE_WIDTH = 320
"""Contact-sheet pictures wider than this are scaled down to it."""
WARN_LIST = 12
"""Frames listed per warning (the count is always given)."""
TRACK_STEPS = 4
"""Steps of the first sequence with point tracks drawn on the page (evenly spread over it)."""

SIZE_EDGES = [2.0 ** (k / 2) for k in range(0, 25)]          # sqrt(box w*h), 1 .. 4096 px
ASPECT_EDGES = [k / 4 for k in range(-16, 17)]               # log2(w / h), -4 .. 4
VIS_EDGES = [k / 20 for k in range(21)]
LUMA_EDGES = [k * 8.0 for k in range(33)]                    # 0 .. 256
CLIP_EDGES = [0.0, 0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0]
UNIT_EDGES = [k / 10 for k in range(11)]                     # a body model value in [0, 1]
PEOPLE_SHAPE: dict[str, tuple[str, list[float]]] = {
    "age_years": ("age (years)", [k * 5.0 for k in range(19)]),     # 0 .. 90
    "height_m": ("height (m)", [0.5 + k * 0.1 for k in range(18)]),  # 0.5 .. 2.2
    "gender": ("gender (0 male .. 1 female)", UNIT_EDGES),
    "weight": ("weight (body model, 0 .. 1)", UNIT_EDGES),
    "muscle": ("muscle (body model, 0 .. 1)", UNIT_EDGES),
    "proportions": ("proportions (body model, 0 .. 1)", UNIT_EDGES),
}
"""The shape parameters of the people of a dataset (the frame meta's objects' ``person``) the report
spreads out: key -> (its name on the page, its histogram's bin edges)."""


def _bin(edges: list[float], v: float) -> int:
    """Bin of ``v`` among ``edges`` (values outside go to the first / last bin)."""
    lo, hi = 0, len(edges) - 1
    if v <= edges[0]:
        return 0
    if v >= edges[-1]:
        return len(edges) - 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if v >= edges[mid]:
            lo = mid
        else:
            hi = mid
    return lo


# ------------------------------------------------------------------ the per-frame pass


def frame_summary(root: str, index: int) -> dict:
    """What the statistics need from one frame: its annotations' categories, boxes and
    visibility, and its image's brightness and clipping (or the error that stopped it)."""
    root_p = Path(root)
    out: dict[str, Any] = {"index": index}
    try:
        import json

        meta = json.loads(inside(root_p, f"{META_DIR}/{frame_name(index)}.json", f"frame {index}").read_text(encoding="utf-8"))
        anns = annotations_of(meta)
        out["cats"] = [int(a["category_id"]) for a in anns]
        out["boxes"] = [(float(a["bbox"][2]), float(a["bbox"][3])) for a in anns]
        vis = [extra(a, "visibility") for a in anns]
        out["vis"] = [float(v) for v in vis if v is not None]
        if int(meta.get("step", 0)) == 0:  # each person once: at its sequence's first step
            out["people"] = people_summary(meta)
    except (OSError, ValueError, KeyError, TypeError, IndexError, SimgenError) as e:
        out["error"] = f"meta: {e}"
        return out
    try:
        image = inside(root_p, f"images/{frame_name(index)}.png", f"frame {index}")
    except SimgenError as e:
        out["error"] = str(e)
        return out
    try:
        check_pixels(image)  # before decoding: the images are data (a bomb is one line)
    except (SimgenError, OSError) as e:
        out["error"] = str(e)
        return out
    bgr = cv2.imread(str(image), cv2.IMREAD_COLOR)
    if bgr is None:
        out["error"] = "image missing or unreadable"
        return out
    n = bgr.shape[0] * bgr.shape[1]
    out["luma"] = float(cv2.mean(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))[0])  # Rec. 601 luma, 8-bit
    out["white"] = cv2.countNonZero(cv2.inRange(bgr, (255, 255, 255), (255, 255, 255))) / n
    return out


def people_summary(meta: dict) -> list[dict]:
    """Each person of a frame's meta (an object with a ``person`` record): its shape parameters
    (:data:`PEOPLE_SHAPE`'s keys), the named pose it was drawn in and its skin tone (1..10 of the Monk
    scale) as its ``params.people`` record gives them ("?" where the record names none)."""
    records = {int(r["instance_id"]): r for r in (meta.get("params") or {}).get("people", ())
               if r.get("placed") and "instance_id" in r}
    out = []
    for o in meta.get("objects", ()):
        rec = o.get("person")
        if not rec:
            continue
        phen = rec.get("phenotype") or {}
        values = {"age_years": rec.get("age_years"), "height_m": rec.get("height_m"),
                  **{k: phen.get(k) for k in ("gender", "weight", "muscle", "proportions")}}
        r = records.get(int(o["instance_id"]), {})
        tone = ((r.get("look") or {}).get("skin") or {}).get("tone")
        out.append({"shape": {k: float(v) for k, v in values.items() if v is not None},
                    "pose": str((r.get("pose") or {}).get("name", "?")), "skin": "?" if tone is None else str(tone)})
    return out


def _summaries(root: Path, frames: list[int], jobs: int) -> Iterator[dict]:
    if jobs <= 1 or len(frames) < 64:
        for i in frames:
            yield frame_summary(str(root), i)
        return
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        yield from pool.map(frame_summary, [str(root)] * len(frames), frames, chunksize=64)


@dataclass
class Stats:
    """Streamed statistics of a dataset: counters and fixed-bin histograms only."""

    frames: int = 0
    annotations: int = 0
    categories: Counter = field(default_factory=Counter)
    per_frame: Counter = field(default_factory=Counter)
    size: list = field(default_factory=lambda: [0] * (len(SIZE_EDGES) - 1))
    aspect: list = field(default_factory=lambda: [0] * (len(ASPECT_EDGES) - 1))
    vis: list = field(default_factory=lambda: [0] * (len(VIS_EDGES) - 1))
    vis_count: int = 0
    luma: list = field(default_factory=lambda: [0] * (len(LUMA_EDGES) - 1))
    clip: list = field(default_factory=lambda: [0] * (len(CLIP_EDGES) - 1))
    luma_sum: float = 0.0
    images: int = 0
    warnings: dict = field(default_factory=dict)
    """kind -> [count, first frames]"""
    people: int = 0
    """People counted (each once, at its sequence's first step)."""
    people_shape: dict = field(default_factory=lambda: {k: [0] * (len(e) - 1) for k, (_, e) in PEOPLE_SHAPE.items()})
    """Shape parameter -> histogram over :data:`PEOPLE_SHAPE`'s edges."""
    people_moments: dict = field(default_factory=dict)
    """Shape parameter -> [count, sum, sum of squares, min, max]."""
    poses: Counter = field(default_factory=Counter)
    """Named pose -> people drawn in it."""
    skins: Counter = field(default_factory=Counter)
    """Skin tone -> people drawn with it."""

    def warn(self, kind: str, index: int, note: str = "") -> None:
        entry = self.warnings.setdefault(kind, [0, []])
        entry[0] += 1
        if len(entry[1]) < WARN_LIST:
            entry[1].append((index, note))

    def add(self, s: dict) -> None:
        self.frames += 1
        i = s["index"]
        if "error" in s and "cats" not in s:
            self.warn("unreadable frames", i, s["error"])
            return
        cats = s["cats"]
        self.annotations += len(cats)
        self.categories.update(cats)
        self.per_frame[len(cats)] += 1
        if not cats:
            self.warn("frames without annotations", i)
        for w, h in s["boxes"]:
            if w > 0 and h > 0:
                self.size[_bin(SIZE_EDGES, math.sqrt(w * h))] += 1
                self.aspect[_bin(ASPECT_EDGES, math.log2(w / h))] += 1
        for v in s["vis"]:
            self.vis[_bin(VIS_EDGES, v)] += 1
            self.vis_count += 1
        for person in s.get("people", ()):
            self.people += 1
            self.poses[person["pose"]] += 1
            self.skins[person.get("skin", "?")] += 1
            for k, v in person["shape"].items():
                if k in self.people_shape and math.isfinite(v):
                    self.people_shape[k][_bin(PEOPLE_SHAPE[k][1], v)] += 1
                    m = self.people_moments.setdefault(k, [0, 0.0, 0.0, math.inf, -math.inf])
                    m[0] += 1
                    m[1] += v
                    m[2] += v * v
                    m[3], m[4] = min(m[3], v), max(m[4], v)
        if "error" in s:
            self.warn("unreadable frames", i, s["error"])
            return
        self.images += 1
        self.luma_sum += s["luma"]
        self.luma[_bin(LUMA_EDGES, s["luma"])] += 1
        self.clip[_bin(CLIP_EDGES, s["white"])] += 1
        if s["white"] > CLIP_FRACTION:
            self.warn(f"frames with more than {CLIP_FRACTION:.0%} of pixels clipped to white", i,
                      f"{100 * s['white']:.1f} %")
        if s["luma"] < BLACK_MEAN:
            self.warn(f"nearly black frames (mean brightness below {BLACK_MEAN:g} of 255)", i,
                      f"mean {s['luma']:.1f}")


def gather(ds: Dataset, jobs: int = 0) -> Stats:
    """Stats of every frame of ``ds`` (``jobs`` worker processes; 0: one per CPU)."""
    jobs = jobs or (os.cpu_count() or 1)
    stats = Stats()
    for s in _summaries(ds.root, ds.frames, jobs):
        stats.add(s)
    return stats


# ------------------------------------------------------------------ the contact sheet


def sample_frames(frames: list[int], n: int) -> list[int]:
    """``n`` frames spread evenly over ``frames`` (first and last included), in order."""
    if n <= 0 or not frames:
        return []
    if n >= len(frames):
        return list(frames)
    if n == 1:
        return [frames[len(frames) // 2]]
    return sorted({frames[round(k * (len(frames) - 1) / (n - 1))] for k in range(n)})


def image_data_uri(rgb: np.ndarray) -> str:
    h, w = rgb.shape[:2]
    if w > TILE_WIDTH:
        rgb = cv2.resize(rgb, (TILE_WIDTH, max(1, round(h * TILE_WIDTH / w))), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(rgb[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 88])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode("ascii")


def frame_tiles(ds: Dataset, index: int) -> tuple[list[tuple[str, str]], str]:
    """The contact-sheet pictures of one frame as (caption, data URI), and a caption line."""
    name = frame_name(index)
    root = ds.root
    meta = ds.meta(index)
    rgb = read_png(inside(root, f"images/{name}.png", f"frame {index}"))
    instance = read_png(inside(root, f"instance/{name}.png", f"frame {index}"))
    anns = annotations_of(meta)
    tiles = [("boxes and masks", image_data_uri(overlay(rgb, instance, anns, ds.category_names)))]
    if any((a.get("simgen") or {}).get("box3d") for a in anns):  # datasets made before 3D boxes have none
        skeletons = {int(c["id"]): c.get("skeleton", []) for c in ds.categories}
        tiles.append(("3D boxes and keypoints", image_data_uri(pose_overlay(rgb, anns, skeletons))))
    parts = inside(root, f"parts/{name}.png", f"frame {index}")
    if parts.is_file():  # output.labels=[parts] (or tracks, bop): each link of a robot in its own colour
        tiles.append(parts_tile(read_png(parts), meta))
    depth = inside(root, f"depth/{name}.npy", f"frame {index}")
    if depth.is_file():
        tiles.append(("depth", image_data_uri(depth_preview(read_npy(depth)))))
    normal = inside(root, f"normal/{name}.npy", f"frame {index}")
    if normal.is_file():
        tiles.append(("normals", image_data_uri(normal_preview(read_npy(normal)))))
    flow = (meta.get("flow") or {})
    for direction in ("forward", "backward"):
        files = flow.get(direction)
        where = f"meta/{name}.json flow.{direction}"
        if files and inside(root, files.get("flow"), where).is_file():
            valid_file = inside(root, files["valid"], where) if files.get("valid") else None
            valid = read_png(valid_file) != 0 if valid_file is not None and valid_file.is_file() else None
            tiles.append((f"flow {direction}", image_data_uri(flow_to_color(read_npy(inside(root, files["flow"], where)),
                                                                        valid))))
            break
    caption = f"frame {index}: {len(anns)} object(s)"
    return tiles, caption


def parts_tile(parts: np.ndarray, meta: dict) -> tuple[str, str]:
    """The parts label of a frame as (caption, data URI): each part in its colour, each link named
    on the picture (small frames enlarged first, so that the names fit) and in the caption, in
    part-id order, as the meta's objects' ``parts`` name them."""
    links = {int(p["id"]): str(p["link"]) for o in meta.get("objects", ()) for p in o.get("parts", ())}
    seen = set(np.unique(parts).tolist())
    shown = {pid: link for pid, link in sorted(links.items()) if pid in seen}
    scale = max(1, TILE_WIDTH // parts.shape[1])
    caption = "parts" + (f": {', '.join(shown.values())}" if shown else "")
    return caption, image_data_uri(parts_preview(parts, shown, scale))


def track_tiles(ds: Dataset) -> list[tuple[str, str]]:
    """The first sequence's point tracks (DIR/tracks/, output.labels=[tracks]) drawn on
    :data:`TRACK_STEPS` of its steps as (caption, data URI); none without tracks."""
    files = sorted(p.name for p in (ds.root / "tracks").glob("*.npz")) if (ds.root / "tracks").is_dir() else []
    if not files:
        return []
    tracks = read_npz(inside(ds.root, f"tracks/{files[0]}", "the tracks"))
    frames, uv, visible = tracks["frames"], tracks["uv"], tracks["visible"]
    tiles = []
    for step in sorted({round(k * (len(frames) - 1) / max(TRACK_STEPS - 1, 1)) for k in range(TRACK_STEPS)}):
        name = frame_name(int(frames[step]))
        rgb = read_png(inside(ds.root, f"images/{name}.png", f"frame {int(frames[step])}"))
        scale = max(1, TILE_WIDTH // rgb.shape[1])  # small frames enlarged first: the dots stay dots
        big = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST) if scale > 1 else rgb
        drawn = tracks_preview(big, (uv + 0.5) * scale - 0.5, visible, step)
        tiles.append((f"step {step}: {int(visible[:, step].sum())} of {len(uv)} visible", image_data_uri(drawn)))
    return tiles


# ------------------------------------------------------------------ the page


CSS = """
body{font-family:sans-serif;margin:16px 24px;color:#222;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:22px 0 8px;border-bottom:1px solid #ccc}
table.summary td{padding:1px 10px 1px 0}table.summary td:first-child{color:#666}
.warn{color:#a12}.ok{color:#176}
.sheet{display:flex;flex-direction:column;gap:8px}
.row{display:flex;gap:6px;align-items:flex-start}
.row .cap{width:120px;font-size:12px;color:#444}
figure{margin:0}figure img{width:220px;image-rendering:auto;display:block;border:1px solid #ddd}
figcaption{font-size:11px;color:#666}
.plots{display:flex;flex-wrap:wrap;gap:14px}
img.plot{border:1px solid #eee;background:#fcfcfc}
"""

SCRIPT = """
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var broken = imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); });
  document.body.setAttribute('data-images', String(imgs.length));
  document.body.setAttribute('data-broken-images', String(broken.length));
  var r = document.getElementById('contact-sheet').getBoundingClientRect();
  document.body.setAttribute('data-sheet-rect', [r.left, r.top + window.scrollY, r.width, r.height].map(Math.round).join(','));
  document.title = (broken.length ? 'BROKEN IMAGES: ' : 'images ok: ') + document.title;
});
"""


def _warnings_html(ds: Dataset, stats: Stats) -> str:
    items = []
    never = [c["name"] for c in ds.categories if stats.categories.get(int(c["id"]), 0) == 0]
    if never and stats.frames:
        items.append(f"<li><b>categories never visible</b> ({len(never)}): {html.escape(', '.join(never))}</li>")
    for kind, (count, first) in stats.warnings.items():
        listed = ", ".join(f"{i}" + (f" ({html.escape(note)})" if note else "") for i, note in first)
        more = f", ... ({count - len(first)} more)" if count > len(first) else ""
        items.append(f"<li><b>{html.escape(kind)}</b>: {count} of {stats.frames} &mdash; frames {listed}{more}</li>")
    if not items:
        return '<p class="ok" id="no-warnings">No warnings.</p>'
    return '<ul class="warn" id="warnings">' + "".join(items) + "</ul>"


def _plots(ds: Dataset, stats: Stats) -> list[str]:
    if not mpl.available():
        return [svg.NO_PLOTS]
    names = [c["name"] for c in ds.categories]
    counts = [stats.categories.get(int(c["id"]), 0) for c in ds.categories]
    unknown = sum(n for cid, n in stats.categories.items() if cid not in ds.category_names)
    if unknown:
        names, counts = names + ["(unknown)"], counts + [unknown]
    colors = [svg.WARN if n == 0 else svg.COLOR for n in counts]
    plots = [svg.bar_chart("Annotations per category", names, counts, "category", "annotations", colors)]
    top = max(stats.per_frame, default=0)
    if top <= 40:
        labels = [str(k) for k in range(top + 1)]
        values = [stats.per_frame.get(k, 0) for k in range(top + 1)]
    else:  # bins of equal width
        step = math.ceil((top + 1) / 40)
        labels = [f"{k}-{k + step - 1}" for k in range(0, top + 1, step)]
        values = [sum(stats.per_frame.get(j, 0) for j in range(k, k + step)) for k in range(0, top + 1, step)]
    plots.append(svg.bar_chart("Objects per frame", labels, values, "annotations in the frame", "frames"))
    plots.append(svg.histogram("Box size", SIZE_EDGES, stats.size, "sqrt(box width x height), px (log scale)",
                               "boxes", log_x=True))
    plots.append(svg.histogram("Box aspect ratio", ASPECT_EDGES, stats.aspect, "log2(width / height)", "boxes",
                               mark=0.0))
    if stats.vis_count:
        plots.append(svg.histogram("Visibility", VIS_EDGES, stats.vis, "visible / unoccluded pixels", "annotations"))
    plots.append(svg.histogram("Image brightness", LUMA_EDGES, stats.luma, "mean luma of the frame (0..255)",
                               "frames", mark=BLACK_MEAN))
    clip_labels = [f"{100 * a:g}-{100 * b:g}" for a, b in zip(CLIP_EDGES[:-1], CLIP_EDGES[1:])]
    clip_colors = [svg.WARN if a >= CLIP_FRACTION else svg.COLOR for a in CLIP_EDGES[:-1]]
    plots.append(svg.bar_chart("Pixels clipped to white", clip_labels, stats.clip, "% of the frame's pixels",
                               "frames", clip_colors))
    return plots


def people_table(stats: Stats) -> list[tuple[str, int, float, float, float, float]]:
    """The spread of the people's shape parameters: (name, people, min, mean, standard deviation, max)
    per parameter of :data:`PEOPLE_SHAPE` that any person has."""
    rows = []
    for k, (name, _) in PEOPLE_SHAPE.items():
        m = stats.people_moments.get(k)
        if m and m[0]:
            mean = m[1] / m[0]
            rows.append((name, m[0], m[3], mean, math.sqrt(max(m[2] / m[0] - mean * mean, 0.0)), m[4]))
    return rows


def _tone(item: tuple[str, int]) -> tuple[int, str]:
    """Skin tones in the scale's order (a name that is no number last)."""
    return (int(item[0]), "") if item[0].isdigit() else (1 << 30, item[0])


def _people_html(stats: Stats) -> list[str]:
    """The people section: the shape parameters' spread and the poses drawn, as tables and (with
    matplotlib) plots; nothing for a dataset without people."""
    if not stats.people:
        return []
    out = ["<h2>People</h2>", f'<p id="people-count">{stats.people} people (each counted once a sequence)</p>',
           '<table class="summary" id="people-shape"><tr><td>shape</td><td>people</td><td>min</td><td>mean</td>'
           "<td>sd</td><td>max</td></tr>"]
    out += [f"<tr><td>{html.escape(name)}</td><td>{n}</td>" + "".join(f"<td>{v:.3g}</td>" for v in values) + "</tr>"
            for name, n, *values in people_table(stats)]
    out += ["</table>", '<table class="summary" id="people-poses"><tr><td>pose</td><td>people</td></tr>']
    out += [f"<tr><td>{html.escape(p)}</td><td>{n}</td></tr>" for p, n in sorted(stats.poses.items())]
    out += ["</table>", '<table class="summary" id="people-skins"><tr><td>skin tone</td><td>people</td></tr>']
    out += [f"<tr><td>{html.escape(t)}</td><td>{n}</td></tr>" for t, n in sorted(stats.skins.items(), key=_tone)]
    out.append("</table>")
    if mpl.available():
        out.append('<div class="plots" id="people-plots">')
        out += [svg.histogram(f"People: {name}", edges, stats.people_shape[k], name, "people")
                for k, (name, edges) in PEOPLE_SHAPE.items() if k in stats.people_moments]
        names = sorted(stats.poses)
        out.append(svg.bar_chart("People: poses drawn", names, [stats.poses[p] for p in names], "named pose", "people"))
        tones = [t for t, _ in sorted(stats.skins.items(), key=_tone)]
        out.append(svg.bar_chart("People: skin tones", tones, [stats.skins[t] for t in tones],
                                 "Monk Skin Tone Scale (1 light .. 10 dark)", "people"))
        out.append("</div>")
    return out


def render_html(ds: Dataset, stats: Stats, sheet: Iterable[tuple[int, list[tuple[str, str]], str]],
                tracks: Iterable[tuple[str, str]] = ()) -> str:
    cfg = ds.config
    render = cfg.get("render") or {}
    title = f"simgen inspect: {ds.root.name}"
    summary = [("folder", str(ds.root.resolve())), ("frames", f"{stats.frames}"),
               ("annotations", f"{stats.annotations} ({stats.annotations / max(stats.frames, 1):.2f} per frame)"),
               ("categories", f"{len(ds.categories)}"),
               ("resolution", f"{render.get('width', '?')} x {render.get('height', '?')}"),
               ("scene", str((cfg.get("scene") or {}).get("recipe", cfg.get("scene", "?"))) if cfg else "?"),
               ("labels", ", ".join(["rgb", "instance", "semantic", "depth", "normal", *ds.labels])),
               ("mean brightness", f"{stats.luma_sum / max(stats.images, 1):.1f} of 255"),
               ("simgen", f"{ds.info.get('simgen_version', '?')} (report by {__version__})")]
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
           f"<h1>{html.escape(title)}</h1>", '<table class="summary">']
    out += [f"<tr><td>{k}</td><td>{html.escape(v)}</td></tr>" for k, v in summary]
    out += ["</table>", "<h2>Warnings</h2>", _warnings_html(ds, stats), "<h2>Contact sheet</h2>",
            '<div class="sheet" id="contact-sheet">']
    for index, tiles, caption in sheet:
        out.append(f'<div class="row" data-frame="{index}"><div class="cap">{html.escape(caption)}</div>')
        for label, uri in tiles:
            out.append(f'<figure><img src="{uri}" alt="frame {index} {html.escape(label)}">'
                       f"<figcaption>{html.escape(label)}</figcaption></figure>")
        out.append("</div>")
    out.append("</div>")
    tracks = list(tracks)
    if tracks:
        out += ["<h2>Point tracks</h2>", '<div class="row" id="tracks"><div class="cap">the first sequence: '
                "a dot where each track is (a ring: hidden), its path over the steps before</div>"]
        out += [f'<figure><img src="{uri}" alt="{html.escape(label)}"><figcaption>{html.escape(label)}</figcaption>'
                "</figure>" for label, uri in tracks]
        out.append("</div>")
    out += ["<h2>Statistics</h2>", '<div class="plots" id="plots">', *_plots(ds, stats), "</div>",
            *_people_html(stats), f"<script>{SCRIPT}</script>", "</body></html>"]
    return "\n".join(out)


def inspect(root: str | os.PathLike, out: str | os.PathLike | None = None, frames: int = 12,
            jobs: int = 0) -> tuple[Path, Stats]:
    """Write the HTML report of the dataset at ``root`` to ``out`` (default DIR/inspect.html)."""
    ds = Dataset(root)
    if frames < 0:
        raise SimgenError(f"--frames must be >= 0, got {frames}")
    if not ds.frames:
        raise SimgenError(f"{root}: the dataset has no complete frame (no meta/NNNNNN.json)")
    path = Path(out) if out is not None else ds.root / "inspect.html"
    stats = gather(ds, jobs)
    sheet = []
    for i in sample_frames(ds.frames, frames):
        try:
            tiles, caption = frame_tiles(ds, i)
        except (OSError, ValueError, KeyError) as e:
            stats.warn("frames that could not be drawn", i, str(e))
            continue
        sheet.append((i, tiles, caption))
    try:
        tracks = track_tiles(ds)
    except (OSError, ValueError, KeyError, IndexError) as e:
        stats.warn("point tracks that could not be drawn", 0, str(e))
        tracks = []
    page = render_html(ds, stats, sheet, tracks)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path) as f:
        f.write(page)
    return path, stats
