"""Labels from raw render passes: lossless maps, COCO annotations and previews.

simgen's optional label kinds are registered here, in the order docs/dataset.md lists them
(the core kinds register in simgen.labels.kinds itself); a user's package adds its own through
an entry point or a dotted path (simgen.registry).
"""

from simgen.labels.amodal import AMODAL, VISIBILITY
from simgen.labels.frame import (
    DISTANCE,
    LIGHTS,
    LINEAR,
    PARTS,
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
from simgen.labels.keypoints import KEYPOINTS
from simgen.labels.kinds import LABEL_KINDS
from simgen.labels.stereo import DISPARITY, OCCLUDED, RIGHT
from simgen.labels.tracks import TRACKS
from simgen.labels.sensors import EVENTS, IR_LEFT, IR_RIGHT, SENSOR_DEPTH

LABEL_KINDS.register(PARTS)
LABEL_KINDS.register(VISIBILITY)
LABEL_KINDS.register(AMODAL)
LABEL_KINDS.register(KEYPOINTS)
LABEL_KINDS.register(DISTANCE)
LABEL_KINDS.register(RIGHT)
LABEL_KINDS.register(DISPARITY)
LABEL_KINDS.register(OCCLUDED)
LABEL_KINDS.register(LINEAR)
LABEL_KINDS.register(LIGHTS)
LABEL_KINDS.register(TRACKS)
LABEL_KINDS.register(EVENTS)
LABEL_KINDS.register(SENSOR_DEPTH)
LABEL_KINDS.register(IR_LEFT)
LABEL_KINDS.register(IR_RIGHT)

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
