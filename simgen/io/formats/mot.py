"""The ``mot`` format: every sequence of the dataset as a MOT Challenge sequence, in the folders
TrackEval's MOTChallenge reader looks in (``GT_FOLDER/<BENCHMARK>-<SPLIT>/<seq>/``):

``DIR/mot/SIMGEN-<split>/SSSSSS/`` (S: the sequence), with

- ``seqinfo.ini``: ``[Sequence]`` ``name``, ``imDir`` (img1), ``frameRate``, ``seqLength``,
  ``imWidth``, ``imHeight``, ``imExt`` (.png), in MOT's order; then ``[simgen]`` ``categories``:
  each track id's COCO category name (``1:mug 2:can``);
- ``img1/000001.png`` ...: the sequence's images by step, numbered from 1 (hard links);
- ``gt/gt.txt``: a line per object and frame where the object has visible pixels,
  ``frame, id, bb_left, bb_top, bb_width, bb_height, 1, 1, visibility``: the frame numbered
  from 1, the object's instance id (the same through its sequence), its COCO box with MOT's
  1-based pixel numbering (``bb_left = x + 1``, ``bb_top = y + 1``), the flag 1 (evaluated), the
  class 1 (every object a target of the one class MOT Challenge scores: the categories are in
  seqinfo.ini) and the visible fraction of its amodal mask (output.labels=[visibility]);

and ``DIR/mot/seqmaps/SIMGEN-<split>.txt``: ``name``, then the split's sequences, one a line.
TrackEval scores against it with ``--GT_FOLDER DIR/mot --BENCHMARK SIMGEN --SPLIT_TO_EVAL train``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from simgen.safe_paths import regular_file
from simgen.io.files import link_or_copy, off_layout, rebuilt_folder
from simgen.io.formats.coco import DEFAULT_SPLIT, CocoSource, image_split, sequence_frames

BENCHMARK = "SIMGEN"
FRAME_RATE = 24
"""seqinfo.ini's frameRate: a sequence's steps have no time of their own; 24, the steps per second
physics settles at (simgen.blender.physics.STEPS_PER_SECOND)."""

FILES = re.compile(rf"^({BENCHMARK}-[A-Za-z0-9_-]+/\d{{6,}}/(seqinfo\.ini|gt/gt\.txt|img1/\d{{6}}\.png)"
                   rf"|seqmaps/{BENCHMARK}-[A-Za-z0-9_-]+\.txt)$")


def foreign_files(folder: Path) -> list[str]:
    """Files under DIR/mot/ that are not of its layout."""
    return off_layout(folder, FILES)


def gt_lines(frames: list[tuple[str, dict]]) -> list[str]:
    """gt.txt's lines of one sequence (the module's docstring), frame by frame, ids ascending."""
    lines = []
    for step, (_, meta) in enumerate(frames, start=1):
        for a in sorted(meta["coco"]["annotations"], key=lambda a: a["simgen"]["instance_id"]):
            x, y, w, h = a["bbox"]
            own = a["simgen"]
            lines.append(f"{step},{own['instance_id']},{x + 1:g},{y + 1:g},{w:g},{h:g},1,1,{own['visibility']:.6f}")
    return lines


def seqinfo(name: str, frames: list[tuple[str, dict]], categories: dict[int, str]) -> str:
    meta = frames[0][1]
    names = {int(o["instance_id"]): categories.get(int(o["category_id"]), str(o["category_id"]))
             for _, m in frames for o in m["objects"] if int(o["category_id"]) > 0}
    tracks = " ".join(f"{i}:{names[i]}" for i in sorted(names))
    return (f"[Sequence]\nname={name}\nimDir=img1\nframeRate={FRAME_RATE}\nseqLength={len(frames)}\n"
            f"imWidth={meta['width']}\nimHeight={meta['height']}\nimExt=.png\n\n[simgen]\ncategories={tracks}\n")


def write_mot(root: Path, index: CocoSource, splits: list[str]) -> None:
    """The ``mot`` format (the module's docstring), built anew from every sequence on disk."""
    root = Path(root)
    categories = {int(c["id"]): str(c["name"]) for c in index.categories}
    by_split: dict[str, list[str]] = defaultdict(list)
    with rebuilt_folder(root, "mot", foreign_files) as tmp:
        for sequence, frames in sequence_frames(root, index):
            name = f"{int(sequence):06d}"
            split = image_split(frames[0][1]["coco"]["image"]) or DEFAULT_SPLIT
            out = tmp / f"{BENCHMARK}-{split}" / name
            (out / "gt").mkdir(parents=True)
            (out / "img1").mkdir()
            for step, (stem, _) in enumerate(frames, start=1):
                link_or_copy(regular_file(root, f"images/{stem}.png", f"frame {stem}"), out / "img1" / f"{step:06d}.png")
            (out / "gt" / "gt.txt").write_text("".join(line + "\n" for line in gt_lines(frames)), encoding="utf-8")
            (out / "seqinfo.ini").write_text(seqinfo(name, frames, categories), encoding="utf-8")
            by_split[split].append(name)
        if by_split:
            (tmp / "seqmaps").mkdir()
        for split, names in by_split.items():
            (tmp / "seqmaps" / f"{BENCHMARK}-{split}.txt").write_text("name\n" + "".join(n + "\n" for n in names),
                                                                      encoding="utf-8")
