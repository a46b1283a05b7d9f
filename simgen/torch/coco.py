"""Any COCO detection set (a simgen dataset's coco.json, or real images) as a torch dataset with
the label ids of a given list of category names.

    ds = CocoImages("data/wide/coco.json", labels=["bottle", "mug"], image_ids=[1, 2, 3])
    image, target = ds[0]   # uint8 (3, H, W); {"boxes" XYXY float32, "labels" int64, "image_id"}

Labels are 1 + the index of the category's name in ``labels`` (0 is the detectors'
background): sets whose category ids differ but whose names agree train one model. Crowd
annotations and categories not in ``labels`` are left out; boxes are COCO's ``[x, y, w, h]`` as
``[x, y, x + w, y + h]``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image
from torchvision import tv_tensors

from simgen.errors import SimgenError
from simgen.image_header import check_pixels
from simgen.safe_paths import inside
from simgen.io.files import read_json


class CocoImages(torch.utils.data.Dataset):
    def __init__(self, coco_json: str | os.PathLike, labels: Sequence[str], *, images: str | os.PathLike | None = None,
                 image_ids: Sequence[int] | None = None) -> None:
        path = Path(coco_json)
        try:
            data = read_json(path)
        except (OSError, ValueError) as e:
            raise SimgenError(f"cannot read the COCO json {path}: {e}") from None
        self.root = Path(images) if images is not None else path.parent
        label_of = {name: k + 1 for k, name in enumerate(labels)}
        self.labels = list(labels)
        cat_label = {int(c["id"]): label_of[c["name"]] for c in data.get("categories", []) if c["name"] in label_of}
        by_image: dict[int, list[dict]] = {}
        for a in data.get("annotations", []):
            if a.get("iscrowd", 0) or int(a["category_id"]) not in cat_label:
                continue
            by_image.setdefault(int(a["image_id"]), []).append(a)
        images_by_id = {int(im["id"]): im for im in data.get("images", [])}
        ids = sorted(images_by_id) if image_ids is None else [int(i) for i in image_ids]
        unknown = [i for i in ids if i not in images_by_id]
        if unknown:
            raise SimgenError(f"{path} has no image with id {unknown[0]}")
        self.items = []
        for i in ids:
            boxes, cls = [], []
            for a in by_image.get(i, []):
                x, y, w, h = (float(v) for v in a["bbox"])
                if w > 0 and h > 0:
                    boxes.append([x, y, x + w, y + h])
                    cls.append(cat_label[int(a["category_id"])])
            name = images_by_id[i]["file_name"]
            inside(self.root, name, f"image {i} file_name")  # data: it stays in the image folder
            self.items.append((i, name, np.asarray(boxes, np.float32).reshape(-1, 4),
                               np.asarray(cls, np.int64)))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict]:
        image_id, name, boxes, cls = self.items[index]
        path = inside(self.root, name, f"image {image_id} file_name")
        check_pixels(path)  # before decoding: the images are data (a bomb is one line)
        try:
            with Image.open(path) as im:
                rgb = np.asarray(im.convert("RGB"))
        except OSError as e:
            raise SimgenError(f"cannot read image {path} (image id {image_id}): {e}") from None
        h, w = rgb.shape[:2]
        image = tv_tensors.Image(torch.from_numpy(rgb.copy()).permute(2, 0, 1))
        return image, {"image_id": image_id,
                       "boxes": tv_tensors.BoundingBoxes(torch.from_numpy(boxes), format="XYXY", canvas_size=(h, w)),
                       "labels": torch.from_numpy(cls)}
