"""The COCO index of a dataset: chunk files built from the frames' meta files, and coco.json
streamed from them.

``DIR/index/coco-CCCCCC.jsonl`` holds the COCO images (line 1, a JSON array) and annotations
(line 2) of the complete frames ``C*1000 .. C*1000+999``, the COCO-video records of its frames
(line 3: ``{split: {"videos": {id: [name, width, height]}, "tracks": {id: [category, video]}}}``),
then for each split among them three lines: its name, its images, its annotations (JSON Lines
throughout); ``DIR/index/chunks.json`` lists each chunk's frames,
counts and SHA-256 (what the YOLO exports compare). At
the end of a run only the chunks whose frames on disk changed are rebuilt (the run's own,
and any a killed run or another shard left behind), so that work follows the frames written,
not the frames on disk; coco.json and the coco_<split>.json files are then streamed chunk by
chunk, so memory stays that of one chunk however big the dataset, and the time that of copying
text (no JSON is parsed).
Annotation ids are ``index * 65536 + instance id``, so chunks
(disjoint frame ranges) never share one and their concatenation is sorted.

COCO-video: a frame of a sequence (sequence.length > 1: its meta has flow) is a frame of a video,
as TAO and mmtracking's CocoVID write them: its image gets ``video_id`` (the sequence + 1),
``frame_id`` and ``frame_index`` (its step, from 0), each annotation ``video_id`` and ``track_id``
(the object's id through its sequence, unique in the dataset), and the COCO file top-level
``videos`` (``id``, ``name`` SSSSSS, ``width``, ``height``, TAO's ``neg_category_ids``: the
categories the video never shows, and ``not_exhaustive_category_ids``: none, every object is
annotated) and ``tracks`` (``id``, ``category_id``, ``video_id``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

from simgen.version import __version__
from simgen.io.files import atomic_open, atomic_write_bytes, read_json, write_json
from simgen.io.formats.coco import image_split
from simgen.io.names import META_DIR

CHUNK = 1000
"""Frames per chunk file."""
VERSION = 2
"""The chunk files' layout (2: with the COCO-video records); a chunk of another is rebuilt."""


def video_fields(meta: dict, image: dict, annotations: list[dict]) -> tuple[dict, list[dict]]:
    """A frame's COCO image and annotations with COCO-video's fields (the module's docstring)
    when the frame belongs to a sequence (its meta has flow); as they are otherwise."""
    if not meta.get("flow"):
        return image, annotations
    video = int(meta["sequence"]) + 1
    image = {**image, "video_id": video, "frame_id": int(meta["step"]), "frame_index": int(meta["step"])}
    return image, [{**a, "video_id": video, "track_id": int(a["simgen"]["track_id"])} for a in annotations]


def _name(index: int) -> str:
    return f"{index:06d}"


class CocoIndex:
    """The chunked COCO index of the dataset at ``root`` (see the module's doc)."""

    def __init__(self, root: str | os.PathLike, categories: list[dict]):
        self.root = Path(root)
        self.categories = categories
        self.dir = self.root / "index"
        self.entries: dict[str, dict] = {}
        """Chunk number (str) -> {"frames", "images", "annotations", "category_counts"}."""

    def _chunk(self, c: int) -> Path:
        return self.dir / f"coco-{c:06d}.jsonl"

    def update(self, frames: list[int]) -> int:
        """Make the index hold exactly ``frames`` (the complete frames on disk): rebuild the
        chunks whose frames changed, drop those with none left. Returns how many were rebuilt."""
        by_chunk: dict[int, list[int]] = {}
        for i in sorted(frames):
            by_chunk.setdefault(i // CHUNK, []).append(i)
        manifest = self.dir / "chunks.json"
        try:
            old = read_json(manifest)
        except (FileNotFoundError, ValueError):
            old = {}
        self.entries, rebuilt = {}, 0
        for c, indices in by_chunk.items():
            entry = old.get(str(c))
            if entry is None or entry.get("frames") != indices or "sha256" not in entry or \
                    entry.get("version") != VERSION or not self._chunk(c).is_file():
                entry = self._build(c, indices)
                rebuilt += 1
            self.entries[str(c)] = entry
        for key in set(old) - set(self.entries):
            self._chunk(int(key)).unlink(missing_ok=True)
        if rebuilt or old.keys() != self.entries.keys():
            write_json(manifest, self.entries)
        return rebuilt

    def _build(self, c: int, indices: list[int]) -> dict:
        images, annotations = [], []
        for i in indices:
            meta = read_json(self.root / META_DIR / f"{_name(i)}.json")
            image, anns = video_fields(meta, {**meta["coco"]["image"], "file_name": f"images/{_name(i)}.png"},
                                       sorted(meta["coco"]["annotations"], key=lambda a: a["id"]))
            images.append(image)
            annotations += anns
        ids = [a["id"] for a in annotations]
        if len(set(ids)) != len(ids):
            dup = sorted({i for i in ids if ids.count(i) > 1})
            raise ValueError(f"duplicate annotation ids in {self.root / META_DIR}: {dup[:10]}")
        self.dir.mkdir(exist_ok=True)
        split_of = {im["id"]: image_split(im) for im in images}
        by_split: dict[str, tuple[list, list]] = {}
        for im in images:
            by_split.setdefault(split_of[im["id"]], ([], []))[0].append(im)
        for a in annotations:
            by_split[split_of[a["image_id"]]][1].append(a)
        records: dict[str, dict[str, dict]] = {}
        for im in images:
            if "video_id" in im:
                records.setdefault(split_of[im["id"]], {"videos": {}, "tracks": {}})["videos"][im["video_id"]] = \
                    [f"{im['video_id'] - 1:06d}", im["width"], im["height"]]
        for a in annotations:
            if "track_id" in a:
                records[split_of[a["image_id"]]]["tracks"][a["track_id"]] = [a["category_id"], a["video_id"]]
        lines = [json.dumps(images), json.dumps(annotations), json.dumps(records)]
        for s, (ims, anns) in by_split.items():  # three lines per split: its name, its images, its annotations
            lines += [json.dumps(s), json.dumps(ims), json.dumps(anns)]
        data = ("\n".join(lines) + "\n").encode()
        atomic_write_bytes(self._chunk(c), data)
        counts: dict[str, int] = {}
        for a in annotations:
            counts[str(a["category_id"])] = counts.get(str(a["category_id"]), 0) + 1
        splits = {s: len(ims) for s, (ims, _) in by_split.items()}
        return {"frames": indices, "images": len(images), "annotations": len(annotations), "category_counts": counts,
                "splits": splits, "sha256": hashlib.sha256(data).hexdigest(), "version": VERSION}

    # ------------------------------------------------------------------ what it holds
    def frames(self) -> list[int]:
        """The frames it indexes (the complete frames on disk), sorted."""
        return [i for c in sorted(self.entries, key=int) for i in self.entries[c]["frames"]]

    def chunk_digests(self) -> dict[int, tuple[str, list[int]]]:
        """Each chunk's (SHA-256 of its file, frames): what an export built from chunk C needs to
        rebuild when it changes."""
        return {int(c): (e["sha256"], e["frames"]) for c, e in self.entries.items()}

    def chunk(self, c: int) -> dict[str, list]:
        """Chunk ``c``'s {"images", "annotations"}."""
        with open(self._chunk(c), encoding="utf-8") as f:
            return {"images": json.loads(f.readline()), "annotations": json.loads(f.readline())}

    @property
    def images(self) -> int:
        return sum(e["images"] for e in self.entries.values())

    @property
    def annotations(self) -> int:
        return sum(e["annotations"] for e in self.entries.values())

    def category_counts(self) -> dict[str, int]:
        """Annotations per category name, in category order (zeros included)."""
        total: dict[str, int] = {}
        for e in self.entries.values():
            for cid, n in e["category_counts"].items():
                total[cid] = total.get(cid, 0) + n
        return {c["name"]: total.get(str(c["id"]), 0) for c in self.categories}

    def _lines(self) -> Iterator[tuple[str, str]]:
        """Each chunk's (images, annotations) JSON arrays as text, in frame order."""
        for key in sorted(self.entries, key=int):
            with open(self._chunk(int(key)), encoding="utf-8") as f:
                yield f.readline().rstrip("\n"), f.readline().rstrip("\n")

    def chunks(self) -> Iterator[dict[str, list]]:
        """Each chunk's {"images", "annotations"}, in frame order (one in memory at a time)."""
        for images, annotations in self._lines():
            yield {"images": json.loads(images), "annotations": json.loads(annotations)}

    def video_records(self, splits: list[str] | None = None) -> tuple[list[dict], list[dict]]:
        """COCO-video's top-level ``videos`` and ``tracks`` of the indexed frames (of ``splits``'
        frames only, when given): empty for a dataset of single frames."""
        videos: dict[int, list] = {}
        tracks: dict[int, list] = {}
        seen: dict[int, set[int]] = {}
        for key in sorted(self.entries, key=int):
            with open(self._chunk(int(key)), encoding="utf-8") as f:
                f.readline(), f.readline()
                for split, rec in json.loads(f.readline()).items():
                    if splits is None or split in splits:
                        videos.update({int(v): r for v, r in rec["videos"].items()})
                        for t, (category, video) in rec["tracks"].items():
                            tracks[int(t)] = [category, video]
                            seen.setdefault(int(video), set()).add(int(category))
        ids = [int(c["id"]) for c in self.categories]
        return ([{"id": v, "name": name, "width": w, "height": h,
                  "neg_category_ids": [c for c in ids if c not in seen.get(v, set())], "not_exhaustive_category_ids": []}
                 for v, (name, w, h) in sorted(videos.items())],
                [{"id": t, "category_id": c, "video_id": v} for t, (c, v) in sorted(tracks.items())])

    def _video_keys(self, splits: list[str] | None = None) -> str:
        """``"videos": [...], "tracks": [...], `` for a COCO file, or nothing without videos."""
        videos, tracks = self.video_records(splits)
        return f'"videos": {json.dumps(videos)}, "tracks": {json.dumps(tracks)}, ' if videos else ""

    def split_names(self) -> list[str]:
        """The splits the indexed frames belong to, in order of first appearance."""
        names: dict[str, None] = {}
        for key in sorted(self.entries, key=int):
            if "splits" in self.entries[key]:
                names.update(dict.fromkeys(self.entries[key]["splits"]))
            else:  # a manifest written before splits existed
                with open(self._chunk(int(key)), encoding="utf-8") as f:
                    names.update(dict.fromkeys(image_split(im) for im in json.loads(f.readline())))
        return list(names)

    # ------------------------------------------------------------------ coco.json
    def write_coco(self, path: str | os.PathLike, info: dict | None = None, split: str | None = None) -> None:
        """Stream the COCO file of every indexed frame (``split``: of the frames of that split only)
        to ``path`` (atomically), copying the chunks' arrays as text."""
        if split is not None:
            self.write_split_cocos({split: path}, info)
            return
        with atomic_open(path) as f:
            f.write('{"info": ' + json.dumps(_info(info)) + ', "licenses": [], ')
            for k, what in enumerate(("images", "annotations")):
                f.write(f'"{what}": [')
                first = True
                for lines in self._lines():
                    body = lines[k][1:-1]  # the array's items
                    if body:
                        f.write(body if first else ", " + body)
                        first = False
                f.write("], ")
            f.write(self._video_keys() + '"categories": ' + json.dumps(self.categories) + "}\n")

    def write_split_cocos(self, paths: dict[str, str | os.PathLike], info: dict | None = None) -> None:
        """Write the COCO file of each split's frames, ``{split: path}``, in one pass over the chunks,
        copying the arrays each chunk file holds per split as text (no JSON is parsed; a chunk whose
        manifest entry counts none of the splits is not read); every file is written atomically, its
        annotations waiting in a temp file while the images go out."""
        with contextlib.ExitStack() as stack:
            files = {s: stack.enter_context(atomic_open(p)) for s, p in paths.items()}
            rest = {s: stack.enter_context(tempfile.TemporaryFile("w+", encoding="utf-8", dir=self.root))
                    for s in paths}
            first = {(s, what): True for s in paths for what in ("images", "annotations")}
            for f in files.values():
                f.write('{"info": ' + json.dumps(_info(info)) + ', "licenses": [], "images": [')
            for key in sorted(self.entries, key=int):
                if not any(self.entries[key]["splits"].get(s) for s in paths):
                    continue
                with open(self._chunk(int(key)), encoding="utf-8") as f:
                    f.readline(), f.readline(), f.readline()  # every frame's arrays, the video records
                    for line in f:  # then each split's name, images and annotations
                        s, images, annotations = json.loads(line), f.readline().rstrip("\n"), f.readline().rstrip("\n")
                        if s not in paths:
                            continue
                        for body, what, out in ((images[1:-1], "images", files[s]),
                                                (annotations[1:-1], "annotations", rest[s])):
                            if body:
                                out.write(("" if first[s, what] else ", ") + body)
                                first[s, what] = False
            for s, f in files.items():
                f.write('], "annotations": [')
                rest[s].seek(0)
                shutil.copyfileobj(rest[s], f)
                f.write('], ' + self._video_keys([s]) + '"categories": ' + json.dumps(self.categories) + "}\n")

    def coco(self, info: dict | None = None) -> dict[str, Any]:
        """The same COCO dictionary in memory (for small datasets and tests)."""
        images, annotations = [], []
        for chunk in self.chunks():
            images += chunk["images"]
            annotations += chunk["annotations"]
        videos, tracks = self.video_records()
        return {"info": _info(info), "licenses": [], "images": images, "annotations": annotations,
                **({"videos": videos, "tracks": tracks} if videos else {}), "categories": self.categories}


def _info(info: dict | None) -> dict:
    return dict(info) if info is not None else {"description": "simgen synthetic dataset", "version": __version__}
