#!/usr/bin/env python3
"""The diagrams of the docs, drawn as plain SVG text (no dependency): the flow of one frame
(docs/img/frame_flow.svg, in docs/explanation/architecture.md) and shards of one run writing into
one dataset (docs/img/shards.svg, in docs/how-to/streaming.md).

    python scripts/make_diagrams.py                    # both, into docs/img/
    python scripts/make_diagrams.py --out-dir /tmp/d

What they say follows the code: the frame loop's stages (simgen.pipeline.loop.STAGES: sample,
settle, build, render, read, labels, flow, write), the modules that run them, and the end of a
shard (simgen.pipeline.finish: the COCO index, dataset.json and the exports, built under
DIR/logs/dataset.lock from every frame on disk). A diagram is a list of boxes and arrows placed by
hand on a grid; the text is escaped; the output is the same, byte for byte, every run.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parents[1]
FONT = "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\""
LINE = 16
"""Pixels between text lines."""
COLOURS = {  # fill, stroke: one kind of code a colour
    "config": ("#eef1f5", "#6b7a8f"),
    "pure": ("#e3effb", "#3b78b5"),
    "blender": ("#fdebd8", "#c9711e"),
    "disk": ("#e8f5e4", "#4a8a3c"),
    "lock": ("#f8e1e4", "#b2394a"),
}


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    w: int
    h: int
    title: str
    lines: tuple[str, ...] = ()
    kind: str = "pure"
    mono: tuple[int, ...] = ()
    """Indices of ``lines`` set in a monospace font (commands, paths)."""

    def svg(self) -> str:
        for i, line in enumerate((self.title, *self.lines)):  # an estimate of DejaVu Sans's widths
            em = 14 * 0.62 if i == 0 else 11.5 * 0.61 if i - 1 in self.mono else 12.5 * 0.57
            if len(line) * em > self.w - 10:
                raise ValueError(f"{line!r} is wider than its box ({len(line) * em:.0f} > {self.w - 10} px)")
        fill, stroke = COLOURS[self.kind]
        out = [f'<rect x="{self.x}" y="{self.y}" width="{self.w}" height="{self.h}" rx="8" fill="{fill}" '
               f'stroke="{stroke}" stroke-width="1.5"/>']
        cx = self.x + self.w / 2
        y = self.y + 22
        out.append(f'<text x="{cx:g}" y="{y}" text-anchor="middle" font-weight="bold" font-size="14">'
                   f'{escape(self.title)}</text>')
        for i, line in enumerate(self.lines):
            y += LINE
            style = ' font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" font-size="11.5"' if i in self.mono \
                else ' font-size="12.5"'
            out.append(f'<text x="{cx:g}" y="{y}" text-anchor="middle"{style}>{escape(line)}</text>')
        return "\n".join(out)


def arrow(points: list[tuple[float, float]], label: str = "", at: tuple[float, float] | None = None,
          anchor: str = "middle") -> str:
    """A polyline with an arrow head at its last point, and its label (italic) at ``at``."""
    d = " ".join(f"{x:g},{y:g}" for x, y in points)
    out = [f'<polyline points="{d}" fill="none" stroke="#444" stroke-width="1.6" marker-end="url(#head)"/>']
    if label and at:
        out.append(f'<text x="{at[0]:g}" y="{at[1]:g}" text-anchor="{anchor}" font-size="12" font-style="italic" '
                   f'fill="#333">{escape(label)}</text>')
    return "\n".join(out)


def text(x: float, y: float, s: str, size: float = 12.5, anchor: str = "start", extra: str = "") -> str:
    return f'<text x="{x:g}" y="{y:g}" text-anchor="{anchor}" font-size="{size:g}"{extra}>{escape(s)}</text>'


def legend(x: float, y: float, items: list[tuple[str, str]]) -> str:
    out = []
    for kind, what in items:
        fill, stroke = COLOURS[kind]
        out.append(f'<rect x="{x:g}" y="{y - 11:g}" width="16" height="12" rx="3" fill="{fill}" stroke="{stroke}"/>')
        out.append(text(x + 22, y, what, 12))
        x += 34 + 7.0 * len(what)
    return "\n".join(out)


def document(width: int, height: int, title: str, body: list[str]) -> str:
    return "\n".join([
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'{FONT} fill="#1a1a1a">',
        f"<title>{escape(title)}</title>",
        '<defs><marker id="head" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#444"/></marker></defs>',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        *body, "</svg>", ""])


def frame_flow() -> str:
    """config -> recipe -> plain-data scene -> Blender -> passes -> labels -> writers -> files, in three
    rows that snake (left to right, right to left, left to right)."""
    w, h, gap = 252, 104, 80
    xs = [16, 16 + w + gap, 16 + 2 * (w + gap)]
    ys = [44, 44 + h + 60, 44 + 2 * (h + 60)]
    boxes = [
        Box(xs[0], ys[0], w, h, "Config", ("simgen KEY=VALUE GROUP=OPTION", "Hydra composes configs/,",
                                           "checked into typed Settings", "simgen/cli/, simgen/compose/"),
            "config", mono=(0,)),
        Box(xs[1], ys[0], w, h, "The recipe draws the scene", ("make_sequence(settings,", "catalog, rng, length)",
                                                               "rng from (seed, frame index)", "scenes/NAME.py"),
            mono=(0, 1)),
        Box(xs[2], ys[0], w, h, "Scene: plain data", ("objects, meshes and poses,", "materials, lights, world,",
                                                      "camera, lens, motion", "simgen/scene/data.py")),
        Box(xs[2], ys[1], w, h, "Blender builds and renders", ("objects, node graphs, camera;",
                                                               "Bullet settles (physics);", "Cycles -> multilayer EXR",
                                                               "simgen/blender/: the only bpy"), "blender"),
        Box(xs[1], ys[1], w, h, "Render passes", ("read back as numpy arrays:", "linear RGB, object index,",
                                                  "depth, normals, vectors", "simgen/io/exr.py")),
        Box(xs[0], ys[1], w, h, "Labels from the passes", ("instance and semantic maps,", "masks, boxes, COCO RLE,",
                                                           "depth, normals, flow, 3D boxes",
                                                           "simgen/labels/ (numpy)")),
        Box(xs[0], ys[2], w, h, "Writers", ("RGB tone-mapped, camera effects;", "lossless label files, meta last;",
                                            "each to a temporary name, renamed", "simgen/io/dataset/layout.py")),
        Box(xs[1], ys[2], w, h, "Dataset files", ("images/ instance/ semantic/", "depth/ normal/ meta/ previews/",
                                                  "then index/, coco.json, exports,", "dataset.json (at the end)"),
            "disk", mono=(0, 1)),
    ]
    body = [b.svg() for b in boxes]

    def across(a: Box, b: Box, label: str) -> str:  # side by side, either way
        y = a.y + h / 2
        x0, x1 = (a.x + w + 2, b.x - 2) if b.x > a.x else (a.x - 2, b.x + w + 2)
        return arrow([(x0, y), (x1, y)], label, ((x0 + x1) / 2, y - 8))

    def down(a: Box, b: Box, label: str) -> str:
        x = a.x + w / 2
        return arrow([(x, a.y + h + 2), (x, b.y - 2)], label, (x + 8, (a.y + h + b.y) / 2 + 4), "start")

    stages = ["Settings", "sample", "settle, build", "render, read", "labels, flow", "write", "rename"]
    for k, (a, b) in enumerate(zip(boxes, boxes[1:])):
        body.append(across(a, b, stages[k]) if a.y == b.y else down(a, b, stages[k]))
    body.append(text(16, 26, "One frame, a pure function of (config, seed, index); on the arrows, the frame "
                             "loop's stages (simgen/pipeline/loop.py)", 13.5, extra=' font-weight="bold"'))
    note = ("Only the orange box imports", "Blender: recipes, scenes,", "labels and writers are", "tested without it.")
    body += [text(xs[2] + w / 2, ys[2] + 30 + LINE * i, line, 12.5, "middle", ' fill="#555" font-style="italic"')
             for i, line in enumerate(note)]
    body.append(legend(16, ys[2] + h + 34, [("config", "configuration"), ("pure", "pure Python and numpy"),
                                             ("blender", "Blender (bpy)"), ("disk", "on disk")]))
    return document(xs[2] + w + 16, ys[2] + h + 48, "The flow of one frame", body)


def shards() -> str:
    """Several shards of one run rendering frame ranges into one dataset folder, the lock, the index."""
    sw, sh, gap = 290, 88, 20
    sx = [16, 16 + sw + gap, 16 + 2 * (sw + gap)]
    width = sx[2] + sw + 16
    body = [text(16, 26, "One run in three shards: simgen -m 'shard.index=range(3)' shard.count=3 frames=3000",
                 13.5, extra=' font-weight="bold"')]
    sy = 44
    ranges = ["frames 0 - 999", "frames 1000 - 1999", "frames 2000 - 2999"]
    for i, x in enumerate(sx):  # the processes: whole sequences, contiguous, near-equal shares
        body.append(Box(x, sy, sw, sh, f"shard {i}: a process of its own",
                        (ranges[i], "renders its frames, writes each", "frame's files (atomically)"),
                        "blender").svg())
    dy = sy + sh + 46
    fy, fh = dy + 34, 104
    ly, lh = fy + fh + 44, 120
    dh = ly + lh + 14 - dy
    body.append(f'<rect x="8" y="{dy}" width="{width - 16}" height="{dh}" rx="10" fill="#fbfdfa" stroke="#4a8a3c" '
                f'stroke-width="1.5" stroke-dasharray="6 4"/>')
    body.append(text(20, dy + 20, "DIR (output.dir): one folder every shard reaches", 13,
                     extra=' font-weight="bold" fill="#2f6a24"'))
    for i, x in enumerate(sx):
        first, last = 1000 * i, 1000 * i + 999
        body.append(Box(x, fy, sw, fh, "its frames' files", (f"images/{first:06d}.png ...", f"meta/{last:06d}.json",
                                                              "and webdataset/, parquet/ shards,",
                                                              "each built when its range is whole"),
                        "disk", mono=(0, 1)).svg())
        body.append(arrow([(x + sw / 2, sy + sh + 2), (x + sw / 2, fy - 2)]))
    lw = 2 * sw + gap
    lock = Box(16, ly, lw, lh, "logs/dataset.lock: one shard at a time, as each ends",
               ("adds its frames to the COCO index (index/, chunks of 1,000",
                "frames: only the chunks its frames fall in) and rewrites",
                "dataset.json; the shard that completes the run's frames",
                "writes coco.json and the exports from every frame on disk"), "lock")
    body.append(lock.svg())
    out = Box(sx[2], ly, sw, lh, "built from every frame", ("index/coco-NNNNNN.jsonl", "dataset.json",
                                                            "coco.json, coco_train.json ...",
                                                            "yolo/ bop/ (output.formats)"),
              "disk", mono=(0, 1, 2, 3))
    body.append(out.svg())
    for x in sx[:2]:
        body.append(arrow([(x + sw / 2, fy + fh + 2), (x + sw / 2, ly - 2)], "ends", (x + sw / 2 + 8, ly - 16),
                          "start"))
    bend = 16 + lw - 40
    body.append(arrow([(sx[2] + sw / 2, fy + fh + 2), (sx[2] + sw / 2, fy + fh + 22), (bend, fy + fh + 22),
                       (bend, ly - 2)], "ends", (sx[2] + sw / 2 + 8, fy + fh + 18), "start"))
    body.append(arrow([(16 + lw + 2, ly + lh / 2), (sx[2] - 2, ly + lh / 2)]))
    bottom = dy + dh
    body.append(text(16, bottom + 24, "The same files, byte for byte, as one process rendering every frame (only "
                                      "the timings in logs/ differ).", 12.5))
    body.append(legend(16, bottom + 50, [("blender", "a process rendering (Blender)"), ("disk", "on disk"),
                                         ("lock", "under the dataset's lock (flock)")]))
    return document(width, bottom + 64, "Shards of one run writing into one dataset", body)


DIAGRAMS = {"frame_flow.svg": frame_flow, "shards.svg": shards}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out-dir", type=Path, default=ROOT / "docs" / "img", help="where the SVGs go (default docs/img)")
    args = ap.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for name, draw in DIAGRAMS.items():
        path = args.out_dir / name
        path.write_text(draw())
        print(f"{path}: {path.stat().st_size / 1024:.1f} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
