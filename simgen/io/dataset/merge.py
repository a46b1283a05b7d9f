"""``simgen merge OUT IN...``: datasets into one, files hard-linked, nothing copied twice.

Two cases, told apart by the datasets' dataset.json:

- **one run in parts** (the same config apart from where and which frames, the same seed
  and categories: shards rendered into folders of their own): a frame index is the same
  frame in every input, so frames keep their indices, a frame present in several inputs is
  taken once, and OUT is what one run of all the frames would have written;
- **different runs** (e.g. the jobs of a domain-randomization sweep): frames are numbered
  again 0..N-1 input after input (each input's sequences stay whole and in order), the
  categories become one list by name, image, annotation, sequence and track ids are made
  unique, semantic maps are rewritten where a category id changed, and every frame's meta
  records where it came from (``source``); ``dataset.json`` lists the inputs.

OUT gets coco.json, and the other dataset formats (output.formats: yolo, bop, ...) that every
input's config names, built from OUT's frames as a run builds them.

Files are hard-linked where the file system allows (else copied); meta files are written
last, so OUT's frames are complete or absent, as in a run.
"""

from __future__ import annotations

import copy
import errno
import json
import logging
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from simgen.errors import SimgenError
from simgen.safe_paths import regular_file
from simgen.io.dataset.layout import DatasetWriter, config_fingerprint, frame_name, frames_on_disk
from simgen.io.files import atomic_write_bytes, read_json, read_png, write_json, write_png
from simgen.io.formats.exporters import EXPORTERS, Exporter, resolve as resolve_formats
from simgen.io.names import DATASET_JSON, LOGS_DIR, META_DIR
from simgen.labels import annotation_id, coco_image

log = logging.getLogger(__name__)

_FRAME_FILE = re.compile(r"^(\d{6,})(\..+)$")


@dataclass
class Source:
    root: Path
    info: dict
    frames: list[int]
    category_map: dict[int, int] = field(default_factory=dict)
    """Its category ids -> OUT's."""


def _run_fingerprint(info: dict) -> str:
    return json.dumps([config_fingerprint(info.get("config", {})), info.get("seed"), info.get("categories")],
                      sort_keys=True)


def _load(root: Path) -> Source:
    path = root / DATASET_JSON
    try:
        info = read_json(path)
    except FileNotFoundError:
        raise SimgenError(f"{root} is not a simgen dataset (no dataset.json); give dataset folders to merge") from None
    except ValueError:
        raise SimgenError(f"{path} cannot be read; is the dataset complete? (run its command again)") from None
    return Source(root=root, info=info, frames=frames_on_disk(root))


def _link(src: Path, dst: Path) -> None:
    """Hard-link ``src`` (a regular file, checked by the caller) to ``dst``, which must not
    exist: merge never overwrites. Copied only where a hard link cannot be made (another file
    system, or one without hard links)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst, follow_symlinks=False)
    except FileExistsError:
        raise SimgenError(f"{dst} exists already; merge never overwrites (merge into a new folder)") from None
    except OSError as e:
        if e.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
        with open(src, "rb") as f, open(dst, "xb") as g:  # "x": never overwrite
            shutil.copyfileobj(f, g)
        shutil.copystat(src, dst, follow_symlinks=False)


def _frame_files(root: Path) -> dict[int, list[tuple[Path, int, str]]]:
    """Every frame's files outside meta/, models/ and logs/, by frame index, each as its kind
    (folder relative to root, digits of the name, suffix: file ``folder/{index:0{digits}d}{suffix}``,
    one tuple shared by every frame of that kind, so that a million frames hold no million paths):
    one walk of the dataset, not one per frame. A frame file that is a symbolic link is refused:
    merge never carries a link (it could lead anywhere)."""
    out: dict[int, list[tuple[Path, int, str]]] = {}
    kinds: dict[tuple[Path, int, str], tuple[Path, int, str]] = {}
    for folder, _, names in os.walk(root):
        rel = Path(folder).relative_to(root)
        if rel.parts and rel.parts[0] in (META_DIR, "models", LOGS_DIR):
            continue
        for n in names:  # os.walk enters no linked folder: only the file itself can be a link
            if m := _FRAME_FILE.match(n):
                if os.path.islink(os.path.join(folder, n)):
                    regular_file(root, (rel / n).as_posix(), "a frame file")  # refuses it
                kind = (rel, len(m.group(1)), m.group(2))
                out.setdefault(int(m.group(1)), []).append(kinds.setdefault(kind, kind))
    return out


def merge(out: str | os.PathLike, inputs: list[str | os.PathLike]) -> dict:
    """Merge the datasets ``inputs`` into the new folder ``out``; returns OUT's dataset.json."""
    out = Path(out).expanduser().resolve()
    roots = [Path(p).expanduser().resolve() for p in inputs]
    _check_target(out, roots)
    sources = [_load(r) for r in roots]
    same_run = len({_run_fingerprint(s.info) for s in sources}) == 1
    categories = _merge_categories(sources, same_run)
    writer = DatasetWriter(out, categories, previews=False)
    _merge_frames(out, sources, same_run)
    index = writer.export(resolve_formats(["coco"], flow=False))
    counts = index.category_counts()
    info = _merged_info(out, sources, same_run, categories)
    info["frames"] = writer.frames_on_disk()
    info["category_counts"] = counts
    writer.write_dataset_json(info)
    writer.export(_formats(sources), index)  # after dataset.json: a format may read its config (bop)
    return info


def _check_target(out: Path, roots: list[Path]) -> None:
    """SimgenError unless there are inputs and ``out`` is a new (or empty) folder that is none of them."""
    if not roots:
        raise SimgenError("nothing to merge: give OUT and at least one dataset folder")
    if out in roots:
        raise SimgenError(f"{out} is one of the inputs; merge into a new folder")
    if out.exists() and any(out.iterdir()):
        raise SimgenError(f"{out} is not empty; merge into a new folder")


def _merge_categories(sources: list[Source], same_run: bool) -> list[dict]:
    """OUT's categories: the inputs' by name, in order of first appearance (their ids kept for
    parts of one run, else 1..N); sets each input's ``category_map``. SimgenError where a category's
    keypoints differ between inputs."""
    names = _category_names(sources)
    _check_keypoints(sources, names)
    categories = []
    for i, name in enumerate(names):
        first = next(c for s in sources for c in s.info["categories"] if c["name"] == name)
        categories.append({**first, "id": first["id"] if same_run else i + 1})
    new_id = {c["name"]: c["id"] for c in categories}
    for s in sources:
        s.category_map = {c["id"]: new_id[c["name"]] for c in s.info["categories"]}
    return categories


def _category_names(sources: list[Source]) -> list[str]:
    """OUT's category names, in order of first appearance."""
    names: list[str] = []
    for s in sources:
        for c in s.info["categories"]:
            if c["name"] not in names:
                names.append(c["name"])
    return names


def _check_keypoints(sources: list[Source], names: list[str]) -> None:
    """SimgenError where a category has other keypoints (or skeleton) in one input than in
    another: a category's keypoints mean one thing in the merged dataset."""
    for name in names:
        schemas = {}
        for s in sources:
            for c in s.info["categories"]:
                if c["name"] == name:
                    schemas.setdefault((tuple(c.get("keypoints") or ()), str(c.get("skeleton") or [])), s.root)
        if len(schemas) > 1:
            (a, ra), (b, rb) = list(schemas.items())[:2]
            raise SimgenError(f"cannot merge: category {name!r} has keypoints {list(a[0]) or 'none'} in {ra} but "
                              f"{list(b[0]) or 'none'} in {rb}; merge datasets that all have keypoints "
                              "(output.labels=[keypoints]) from the same output.keypoints")


@dataclass
class _Merging:
    """What the merge has put in OUT so far, input after input."""

    out: Path
    same_run: bool
    models: dict[str, Path] = field(default_factory=dict)
    """OUT's model files -> where they came from."""
    chosen: dict[tuple[int, str], str] = field(default_factory=dict)
    """(input, its model file) -> OUT's."""
    taken: set[int] = field(default_factory=set)
    """OUT's frame indices."""
    next_index: int = 0
    next_sequence: int = 0


def _merge_frames(out: Path, sources: list[Source], same_run: bool) -> None:
    """Every input's frames into OUT, input after input."""
    merging = _Merging(out, same_run)
    for j, s in enumerate(sources):
        _merge_source(merging, s, j)


def _merge_source(merging: _Merging, s: Source, j: int) -> None:
    """Input ``j``'s frames into OUT, in index order."""
    sequences: dict[int, int] = {}
    files = _frame_files(s.root)
    lut = _semantic_lut(s, merging.same_run)
    for i in s.frames:
        _merge_frame(merging, s, j, i, files, lut, sequences)
    log.info("merged %d frame(s) of %s", len(s.frames), s.root)


def _semantic_lut(s: Source, same_run: bool) -> np.ndarray | None:
    """The input's semantic ids -> OUT's, where any changes; None where none does."""
    lut = None
    if not same_run and any(a != b for a, b in s.category_map.items()):
        lut = np.zeros(max(s.category_map) + 1, np.uint16)
        for a, b in s.category_map.items():
            lut[a] = b
    return lut


def _merge_frame(merging: _Merging, s: Source, j: int, i: int, files: dict[int, list[tuple[Path, int, str]]],
                 lut: np.ndarray | None, sequences: dict[int, int]) -> None:
    """Frame ``i`` of input ``j`` into OUT: its models, its files, then its meta (the frame is
    complete); skipped where a part of the same run has put that frame in OUT already.
    ``sequences``: the input's sequence ids -> OUT's, filled here."""
    out, same_run = merging.out, merging.same_run
    meta_file = f"{META_DIR}/{frame_name(i)}.json"
    meta = read_json(regular_file(s.root, meta_file, "a meta file"))
    if same_run:
        if i in merging.taken:
            return
        n = i
    else:
        if meta["sequence"] not in sequences:
            sequences[meta["sequence"]] = merging.next_sequence
            merging.next_sequence += 1
        n = merging.next_index
        merging.next_index += 1
    merging.taken.add(n)
    own = _renumbered(meta, i, n, s, j, None if same_run else sequences[meta["sequence"]])
    own |= _merge_models(merging, s, j, meta, meta_file)
    _merge_frame_files(s, i, n, out, files, lut)
    meta_out = out / META_DIR / f"{frame_name(n)}.json"  # last: the frame is complete
    if own:
        write_json(meta_out, meta)
    else:  # the input's meta as it is (a part of the same run, its models where they were)
        _link(s.root / meta_file, meta_out)


def _merge_models(merging: _Merging, s: Source, j: int, meta: dict, meta_file: str) -> bool:
    """Link the models of a frame's objects into OUT (:func:`_merge_model`) and point ``meta``
    (changed in place) at them; whether any object's model path changed."""
    chosen, changed = merging.chosen, False
    for o in meta["objects"]:
        if (j, o.get("mesh")) not in chosen:  # one check and link per model file, not per object
            chosen[j, o.get("mesh")] = _merge_model(s.root, o.get("mesh"), merging.out, merging.models, j,
                                                    f"{meta_file} objects' mesh")
        changed |= chosen[j, o["mesh"]] != o["mesh"]
        o["mesh"] = chosen[j, o["mesh"]]
    return changed


def _merge_frame_files(s: Source, i: int, n: int, out: Path, files: dict[int, list[tuple[Path, int, str]]],
                       lut: np.ndarray | None) -> None:
    """Frame ``i``'s files (:func:`_frame_files`) of input ``s`` as frame ``n`` of OUT: linked, but
    semantic maps rewritten where ``lut`` changes ids."""
    for folder, digits, suffix in files.get(i, []):
        rel, target = folder / f"{i:0{digits}d}{suffix}", out / folder / (frame_name(n) + suffix)
        if lut is not None and rel.parts[0] == "semantic":
            target.parent.mkdir(parents=True, exist_ok=True)
            write_png(target, lut[read_png(s.root / rel)])  # a regular file: _frame_files checked it
        elif lut is not None and rel.parts[0] == "lidar" and suffix == ".ply":  # sensor.lidar: points' semantic ids
            from simgen.io.formats.lidar import encode_ply, read_ply

            target.parent.mkdir(parents=True, exist_ok=True)
            cloud = read_ply(s.root / rel)
            cloud["semantic"] = lut[cloud["semantic"]].astype(cloud["semantic"].dtype)
            atomic_write_bytes(target, encode_ply(cloud))
        else:
            _link(s.root / rel, target)


def _merged_info(out: Path, sources: list[Source], same_run: bool, categories: list[dict]) -> dict:
    """OUT's dataset.json before its frames and counts: the first input's, in OUT, for parts of
    one run; else the inputs' versions, OUT's categories and the inputs listed (``merged_from``)."""
    if same_run:
        info = copy.deepcopy(sources[0].info)
        info["config"].setdefault("output", {})["dir"] = str(out)
    else:
        info = {k: sources[0].info[k] for k in ("simgen_version", "blender_version", "python_version")
                if k in sources[0].info}
        info["categories"] = categories
        info["merged_from"] = [{"path": str(s.root), "frames": len(s.frames), "seed": s.info.get("seed"),
                                "config": s.info.get("config")} for s in sources]
    return info


def _formats(sources: list[Source]) -> list[Exporter]:
    """The dataset formats besides coco that every input's config asks for (output.formats):
    OUT gets them as a run would. Only formats registered by name (simgen's own, installed
    plugins): a dotted path read from a dataset is data, never imported."""
    asked = [((s.info.get("config") or {}).get("output") or {}).get("formats") or [] for s in sources]
    known = set(EXPORTERS.names())
    return resolve_formats([f for f in asked[0] if isinstance(f, str) and f != "coco" and f in known
                            and all(f in a for a in asked[1:])], flow=False)


def _renumbered(meta: dict, old: int, new: int, s: Source, j: int, sequence: int | None) -> bool:
    """Make ``meta`` (changed in place) frame ``old`` of source ``j`` as frame ``new`` of OUT
    (``sequence``: its new sequence id, None to keep every id); whether it changed."""
    if sequence is None:
        return False
    meta["index"], meta["sequence"] = new, sequence
    meta["source"] = {"dataset": str(s.root), "index": old}
    image = meta["coco"]["image"]
    meta["coco"]["image"] = {**image, **coco_image(new, image["width"], image["height"],
                                                   f"images/{frame_name(new)}.png",
                                                   image.get("simgen", {}).get("split"))}
    for a in meta["coco"]["annotations"]:
        own = a["simgen"]  # simgen's own fields (simgen.labels.frame.SIMGEN_KEY)
        a["id"] = annotation_id(new, own["instance_id"])
        a["image_id"] = meta["coco"]["image"]["id"]
        a["category_id"] = s.category_map[a["category_id"]]
        if "track_id" in own:
            own["track_id"] = annotation_id(sequence, own["instance_id"])
    for o in meta["objects"]:
        if o.get("category_id"):
            o["category_id"] = s.category_map.get(o["category_id"], o["category_id"])
    for direction, files in (meta.get("flow") or {}).items():
        if files:
            meta["flow"][direction] = {k: re.sub(r"\d{6,}", frame_name(new), v) for k, v in files.items()}
    return True


def _merge_model(root: Path, rel: str, out: Path, models: dict[str, Path], j: int, where: str) -> str:
    """Link a frame's model into OUT once; a different file under the same name goes to
    models/_sourceJ/...; returns its path in OUT. ``rel`` (read from the meta file ``where``)
    must be a file under the input's models/ (simgen.safe_paths)."""
    src = regular_file(root, rel, where)
    if PurePosixPath(rel).parts[0] != "models":
        raise SimgenError(f"{root}: {where} gives the mesh {rel!r}, which is not under models/ (is the dataset "
                          "damaged or crafted?)")
    for candidate in (rel, f"models/_source{j}/{Path(rel).relative_to('models').as_posix()}"):
        have = models.get(candidate)
        if have is None:
            _link(src, out / candidate)
            models[candidate] = src
            return candidate
        if have == src or have.read_bytes() == src.read_bytes():
            return candidate
    raise SimgenError(f"two different models named {rel} in one input ({root})")
