"""Score detections on a target COCO set with pycocotools' COCOeval, categories matched by name.

Trainers report detections by category *name* (``{"image_id", "category", "bbox": [x, y, w, h],
"score"}``); :func:`match_categories` maps the target's category names (after a rename) to the
names the detector was trained on, and :func:`score` hands COCOeval the detections with the
target's own category ids. Every number is COCOeval's: AP (IoU 0.50:0.95), AP50, AP75, and the
AP of each category read from COCOeval's precision array the way its summary reads it (mean over
IoU thresholds and recall points of the entries that are not -1).
"""

from __future__ import annotations

import contextlib
import io
from typing import Any, Iterable, Mapping

import numpy as np

from simgen.errors import SimgenError


def collapsed(detections: list[dict]) -> bool:
    """Whether a training run's detections are all boxes of no area (and there are some): its box
    regression died in training (torchvision's FCOS passes it through a ReLU, which a bad start can
    leave at 0 for good), so its AP of 0 says nothing of the data it was trained on. Seen once in
    165 runs of fit_gap's tiny FCOS, its loss stuck near 1.8 where the others reach 1.0."""
    return bool(detections) and not any(d["bbox"][2] > 0 and d["bbox"][3] > 0 for d in detections)


def match_categories(target: list[dict], trained: Iterable[str], *, rename: Mapping[str, str] | None = None,
                     only: Iterable[str] = (), keys: str = "study.target") -> dict[int, str]:
    """Target category id -> trained category name, for the target categories evaluated.

    ``target``: the target json's ``categories``; ``rename``: target name -> trained name;
    ``only``: evaluate these (renamed) names only (default: every target category). A target
    category the detector was not trained on raises SimgenError naming both lists; ``keys``: the
    prefix of the settings the messages name (``KEYS.rename``, ``KEYS.categories``)."""
    rename = dict(rename or {})
    trained = list(trained)
    names = {int(c["id"]): rename.get(str(c["name"]), str(c["name"])) for c in target}
    unknown_rename = sorted(set(rename) - {str(c["name"]) for c in target})
    if unknown_rename:
        raise SimgenError(f"{keys}.rename names {unknown_rename[0]!r}, which is not a target category "
                          f"(the target has {', '.join(sorted(str(c['name']) for c in target))})")
    only = list(only)
    if only:
        missing = sorted(set(only) - set(names.values()))
        if missing:
            raise SimgenError(f"{keys}.categories names {missing[0]!r}, which is not a target category "
                              f"(after {keys}.rename: {', '.join(sorted(set(names.values())))})")
        names = {i: n for i, n in names.items() if n in only}
    folded = {n.casefold(): n for n in trained}
    out, missing = {}, []
    for cid, name in sorted(names.items()):
        if name in trained:
            out[cid] = name
        elif name.casefold() in folded:
            out[cid] = folded[name.casefold()]
        else:
            missing.append(name)
    if missing:
        raise SimgenError(f"target categor{'y' if len(missing) == 1 else 'ies'} {', '.join(map(repr, missing))} "
                          f"not in the training data (it has {', '.join(sorted(trained)) or 'no categories'}); "
                          f"map names with {keys}.rename={{target_name: simgen_name}}"
                          + (f" or evaluate a subset with {keys}.categories=[...]" if keys == "study.target" else ""))
    if not out:
        raise SimgenError("the target set has no categories to evaluate")
    return out


def score(gt: Any, detections: list[dict], categories: Mapping[int, str]) -> dict[str, Any]:
    """COCOeval (bbox) of ``detections`` (by category name) on the ground truth ``gt`` (a
    pycocotools COCO) over the target categories ``categories`` (id -> trained name, from
    :func:`match_categories`) and every image of ``gt``. Returns ``{"AP", "AP50", "AP75",
    "per_category": {target name: AP or None}, "detections": N}``; None where a category has
    no ground truth."""
    from pycocotools.cocoeval import COCOeval

    id_of = {}
    for cid, name in categories.items():
        id_of.setdefault(name, []).append(cid)
    results = []
    for d in detections:
        for cid in id_of.get(str(d["category"]), ()):
            x, y, w, h = (float(v) for v in d["bbox"])
            results.append({"image_id": int(d["image_id"]), "category_id": cid, "bbox": [x, y, w, h],
                            "score": float(d["score"])})
    cat_ids = sorted(categories)
    gt_names = {c["id"]: c["name"] for c in gt.loadCats(cat_ids)}
    if not results:
        return {"AP": 0.0, "AP50": 0.0, "AP75": 0.0, "detections": 0,
                "per_category": {gt_names[c]: (0.0 if gt.getAnnIds(catIds=[c]) else None) for c in cat_ids}}
    with contextlib.redirect_stdout(io.StringIO()):
        dt = gt.loadRes(results)
        ev = COCOeval(gt, dt, iouType="bbox")
        ev.params.catIds = cat_ids
        ev.params.imgIds = sorted(gt.getImgIds())
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    # precision[T, R, K, A, M]: IoU thresholds, recall points, categories, area ranges, max dets
    area = ev.params.areaRngLbl.index("all")
    maxdet = len(ev.params.maxDets) - 1
    per_category: dict[str, float | None] = {}
    for k, cid in enumerate(ev.params.catIds):
        p = ev.eval["precision"][:, :, k, area, maxdet]
        valid = p[p > -1]
        per_category[gt_names[cid]] = float(np.mean(valid)) if valid.size else None
    stats = [float(v) for v in ev.stats[:3]]
    return {"AP": max(stats[0], 0.0), "AP50": max(stats[1], 0.0), "AP75": max(stats[2], 0.0),
            "per_category": per_category, "detections": len(results)}
