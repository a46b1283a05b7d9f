"""Labels from raw render passes: lossless maps, COCO annotations and previews."""

from simgen.labels import amodal  # noqa: F401  (registers the optional kinds visibility and amodal)

from simgen.labels.core import (
    FrameLabels,
    annotation_id,
    camera_normals,
    coco_annotations,
    coco_image,
    make_labels,
    semantic_from_instance,
)
from simgen.labels.flow import (
    flow_to_color,
    flow_validity,
    flow_wheel_legend,
    object_motions,
    rigid_flow,
)

__all__ = [
    "FrameLabels",
    "annotation_id",
    "camera_normals",
    "coco_annotations",
    "coco_image",
    "flow_to_color",
    "flow_validity",
    "flow_wheel_legend",
    "make_labels",
    "object_motions",
    "rigid_flow",
    "semantic_from_instance",
]
