"""Labels from raw render passes: lossless maps, COCO annotations and previews."""

from simgen.labels.core import (
    FrameLabels,
    annotation_id,
    camera_normals,
    coco_annotations,
    coco_image,
    make_labels,
    semantic_from_instance,
)

__all__ = [
    "FrameLabels",
    "annotation_id",
    "camera_normals",
    "coco_annotations",
    "coco_image",
    "make_labels",
    "semantic_from_instance",
]
