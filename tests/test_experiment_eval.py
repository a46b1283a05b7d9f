"""The experiment's scoring is COCOeval's: hand-made detections with known AP (perfect = 1, a
box shifted below the IoU thresholds = 0, a known mix), categories matched by name."""

from __future__ import annotations

import contextlib
import io

import pytest
from pycocotools.coco import COCO

from simgen import SimgenError
from simgen.experiment.evaluate import collapsed, match_categories, score

CATS = [{"id": 3, "name": "mug"}, {"id": 7, "name": "bottle"}]
BOXES = {  # image id -> [(category id, [x, y, w, h])]
    1: [(3, [10, 10, 20, 20]), (7, [50, 5, 10, 30])],
    2: [(3, [30, 30, 16, 16]), (3, [0, 0, 12, 12])],
}


def ground_truth() -> COCO:
    anns, k = [], 0
    for image, boxes in BOXES.items():
        for cat, (x, y, w, h) in boxes:
            k += 1
            anns.append({"id": k, "image_id": image, "category_id": cat, "bbox": [x, y, w, h], "area": w * h,
                         "iscrowd": 0})
    data = {"images": [{"id": i, "file_name": f"{i}.png", "width": 96, "height": 72} for i in BOXES],
            "annotations": anns, "categories": CATS}
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = data
        gt.createIndex()
    return gt


def dets(shift: float = 0.0, name_of=None, skip=()) -> list[dict]:
    name_of = name_of or {3: "mug", 7: "bottle"}
    out = []
    for image, boxes in BOXES.items():
        for j, (cat, (x, y, w, h)) in enumerate(boxes):
            if (image, j) not in skip:
                out.append({"image_id": image, "category": name_of[cat], "bbox": [x + shift, y, w, h],
                            "score": 0.9 - 0.1 * j})
    return out


def test_perfect_detections_score_one():
    cats = match_categories(CATS, ["bottle", "mug"])
    r = score(ground_truth(), dets(), cats)
    assert r["AP"] == pytest.approx(1.0) and r["AP50"] == pytest.approx(1.0)
    assert r["per_category"] == {"mug": pytest.approx(1.0), "bottle": pytest.approx(1.0)}


def test_boxes_shifted_below_the_iou_threshold_score_zero():
    # a 20x20 box shifted by 15 px: IoU 5*20 / (2*400 - 100) = 0.14 < 0.5; the 10x30 and 12x12 ones less
    r = score(ground_truth(), dets(shift=15.0), match_categories(CATS, ["mug", "bottle"]))
    assert r["AP"] == 0.0 and r["AP50"] == 0.0
    assert r["per_category"] == {"mug": 0.0, "bottle": 0.0}


def test_a_known_mix():
    # bottle: perfect (1.0). mug: 2 of 3 found, both ranked above any false positive, so precision is
    # 1 up to recall 2/3 and 0 beyond: of COCO's 101 recall points 0, .01, ..., .66 (67 of them) -> 67/101.
    r = score(ground_truth(), dets(skip={(2, 1)}), match_categories(CATS, ["mug", "bottle"]))
    assert r["per_category"]["bottle"] == pytest.approx(1.0)
    assert r["per_category"]["mug"] == pytest.approx(67 / 101)
    assert r["AP"] == pytest.approx((1.0 + 67 / 101) / 2)
    # a box at IoU 0.6 counts at thresholds 0.50, 0.55, 0.60 only: 3 of the 10
    shifted = dets()
    shifted[1]["bbox"] = [50, 5 + 30 * 0.25, 10, 30]  # IoU = 0.75*30 / (2*30 - 0.75*30) = 0.6
    r = score(ground_truth(), shifted, match_categories(CATS, ["mug", "bottle"]))
    assert r["per_category"]["bottle"] == pytest.approx(0.3)
    assert r["AP50"] == pytest.approx(1.0)


def test_categories_are_matched_by_name_not_id():
    # the detector's own ids differ from the target's: only names count (and case does not)
    cats = match_categories(CATS, ["Mug", "BOTTLE", "can"])
    assert cats == {3: "Mug", 7: "BOTTLE"}
    r = score(ground_truth(), dets(name_of={3: "Mug", 7: "BOTTLE"}), cats)
    assert r["AP"] == pytest.approx(1.0)
    # detections of a category the target does not evaluate are ignored
    extra = dets() + [{"image_id": 1, "category": "can", "bbox": [0, 0, 5, 5], "score": 1.0}]
    assert score(ground_truth(), extra, match_categories(CATS, ["mug", "bottle", "can"]))["AP"] == pytest.approx(1.0)


def test_rename_and_subset():
    cats = match_categories([{"id": 1, "name": "cup"}, {"id": 2, "name": "vase"}], ["mug"], rename={"cup": "mug"},
                            only=["mug"])
    assert cats == {1: "mug"}


@pytest.mark.parametrize("kwargs, words", [
    ({}, "'bottle' not in the training data"),
    ({"rename": {"jug": "mug"}}, "rename names 'jug'"),
    ({"only": ["chair"]}, "categories names 'chair'"),
])
def test_unmatched_categories_are_a_clear_error(kwargs, words):
    with pytest.raises(SimgenError, match=words):
        match_categories(CATS, ["mug", "can"], **kwargs)


def test_no_detections_score_zero():
    r = score(ground_truth(), [], match_categories(CATS, ["mug", "bottle"]))
    assert r["AP"] == 0.0 and r["per_category"] == {"mug": 0.0, "bottle": 0.0}


def test_a_run_whose_boxes_all_have_no_area_is_named_collapsed():
    """A detector whose box regression died (seen in a study: every box [x, y, 0, 0], AP 0) is told
    apart from one that merely detects badly, so the study can say so."""
    points = [{**d, "bbox": [d["bbox"][0], d["bbox"][1], 0.0, 0.0]} for d in dets()]
    assert collapsed(points)
    assert not collapsed(dets()) and not collapsed(dets(shift=40.0)) and not collapsed([])
    assert not collapsed([*points, dets()[0]])  # one box with an area: a detector, however weak
    assert score(ground_truth(), points, match_categories(CATS, ["mug", "bottle"]))["AP"] == 0.0
