"""The ``nerfstudio`` format: every multi-view scene (``scene.views=K``) or sequence of the dataset
as a folder nerfstudio trains from, ``DIR/nerfstudio/SSSSSS/`` (S: the meta's sequence):
``images/NNNNNN.png`` (hard links to the dataset's images) and ``transforms.json`` in
nerfstudio's format (https://docs.nerf.studio/quickstart/data_conventions.html):
``camera_model`` OPENCV, and per frame its ``file_path``, intrinsics (``fl_x``, ``fl_y``, ``cx``,
``cy``, ``w``, ``h``; no distortion) and ``transform_matrix``, camera-to-world in the OpenGL/Blender
camera axes nerfstudio uses (x right, y up, z back).

Nerfstudio puts pixel (0, 0)'s centre at (0.5, 0.5) where simgen puts it at (0, 0): its ``cx`` and
``cy`` are simgen's K plus 0.5, so its rays go through the same pixel centres as simgen's labels.
Nothing here imports Blender.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from simgen.optics.camera import BLENDER_TO_OPENCV
from simgen.safe_paths import regular_file
from simgen.io.files import link_or_copy, off_layout, rebuilt_folder
from simgen.io.formats.coco import CocoSource, sequence_frames

FILES = re.compile(r"^\d{6,}/(transforms\.json|images/\d{6,}\.png)$")


def foreign_files(folder: Path) -> list[str]:
    """Files (and links) under DIR/nerfstudio/ that are not of its layout."""
    return off_layout(folder, FILES)


def frame_entry(meta: dict, file_path: str) -> dict:
    """One frame of transforms.json from a frame's meta (its K, size and world_to_camera)."""
    K = np.asarray(meta["K"], float)
    camera_to_world = np.linalg.inv(np.asarray(meta["world_to_camera"], float)) @ BLENDER_TO_OPENCV
    return {"file_path": file_path, "fl_x": K[0, 0], "fl_y": K[1, 1], "cx": K[0, 2] + 0.5, "cy": K[1, 2] + 0.5,
            "w": int(meta["width"]), "h": int(meta["height"]), "transform_matrix": camera_to_world.tolist()}


def write_nerfstudio(root: Path, index: CocoSource, splits: list[str]) -> None:
    """The ``nerfstudio`` format (see the module's docstring)."""
    root = Path(root)
    with rebuilt_folder(root, "nerfstudio", foreign_files) as tmp:
        for sequence, frames in sequence_frames(root, index):
            out = tmp / f"{int(sequence):06d}"
            (out / "images").mkdir(parents=True)
            for stem, _ in frames:
                link_or_copy(regular_file(root, f"images/{stem}.png", f"frame {stem}"), out / "images" / f"{stem}.png")
            transforms = {"camera_model": "OPENCV",
                          "frames": [frame_entry(meta, f"images/{stem}.png") for stem, meta in frames]}
            (out / "transforms.json").write_text(json.dumps(transforms, indent=1) + "\n", encoding="utf-8")
