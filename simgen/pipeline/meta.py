"""What is written for a frame besides the renderer's pixels: its COCO annotations, the
optional label kinds, flow towards its neighbours, and its meta (camera, objects, lights,
draws); assembled into a :class:`FrameOutput` for the writer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from simgen.assets import Catalog
from simgen.errors import SimgenError
from simgen.assets.library import entries_of
from simgen.assets.parts import Part, parts_of
from simgen.config import Settings
from simgen.scene.meshes import ArticulatedMesh, MeshRef, PersonMesh, RiggedMesh, deforms, plain_name
from simgen.scene.data import Scene, SceneObject
from simgen.splits import frame_split
from simgen.labels import FrameLabels, annotation_id, coco_annotations, coco_image
from simgen.labels.flow import Deforming, flow_validity, object_motions, rigid_flow
from simgen.labels.geometry import box3d, model_bounds, model_pose
from simgen.labels.kinds import FrameContext, LabelKind
from simgen.pipeline.frames import frame_position, group_length


@dataclass
class FrameOutput:
    """Everything written for one frame, made by the ``labels`` stage."""

    index: int
    labels: FrameLabels
    meta: dict
    models: list[tuple[str, MeshRef]]
    """(path in the dataset, mesh) of each object: the meshes written to ``models/``."""
    flows: dict[str, np.ndarray] = field(default_factory=dict)
    """Sequences: the frame's forward and backward flow ((H, W, 2)), for motion blur."""


def _mat(a: np.ndarray) -> list:
    return np.asarray(a, float).tolist()


def model_relpath(obj_asset_id: str, mesh: MeshRef) -> str:
    """Where an object's mesh goes in the dataset: ``models/<asset key>.ply`` (a generated
    shape's key is ``<category>/gen_<seed>``), ``models/stuff/<file stem>.ply`` for the rest."""
    return f"models/{obj_asset_id or 'stuff/' + mesh.stem}.ply"


def part_relpath(o: SceneObject, part: Part) -> str:
    """Where a part's mesh (its link's, in the link's frame) goes: ``models/<model's asset key>/<link>.ply``
    (``models/stuff/<file stem>/<link>.ply`` for a model that is no catalog asset), one file for
    every configuration of the model."""
    key = o.mesh.model_key(o.asset_id) or f"stuff/{part.mesh.file.stem}"
    return model_relpath(f"{key}/{plain_name(part.mesh.link)}", part.mesh)


def object_geometry(scene: Scene) -> dict[int, tuple[dict, dict]]:
    """Each object's (6D pose, 3D box) in the frame's camera, by instance id (simgen.labels.geometry)."""
    cam = scene.camera
    out = {}
    for o in scene.objects:
        pose = model_pose(cam.world_to_camera, o.mesh_to_world)
        out[o.instance_id] = pose, box3d(pose, *model_bounds(o.mesh), cam.K, cam.lens)
    return out


def free_joints(mesh: ArticulatedMesh) -> list[str]:
    """The names of the model's free joints (MJCF), each held where the file puts its body (the
    object's mesh_to_world places the model as a whole): :attr:`ArticulatedModel.held`."""
    from simgen.assets.articulated import load_articulated

    return [j.name for j in load_articulated(mesh.file, mesh.package_dirs).held]


def part_box3d(scene: Scene, part: Part) -> dict:
    """A part's 3D box in the frame's camera (its link's mesh, as an object's: simgen.labels.geometry)."""
    cam = scene.camera
    return box3d(model_pose(cam.world_to_camera, part.mesh_to_world), *model_bounds(part.mesh), cam.K, cam.lens)


def person_record(o: SceneObject) -> dict:
    """What the meta records of a person (an object whose mesh is a PersonMesh) at this frame: its
    skeleton in the world (the 17 COCO keypoints, :data:`simgen.people.body.KEYPOINT_NAMES`' order, and
    the 104 joints, Anny's bone heads, with their names and parents) and its shape: Anny's phenotype
    values, the age in years (:func:`simgen.people.shape.years`) and the standing height in metres (its
    body at rest, A-pose: soles to crown)."""
    from simgen.people.body import DEFAULT_PHENOTYPE, PersonParams, body
    from simgen.people.shape import years

    library = getattr(o.mesh, "library", None)
    b = body(o.mesh.params, library)
    rest = body(PersonParams(phenotype=o.mesh.params.phenotype), library)
    phenotype = dict(o.mesh.params.phenotype)
    world = _mat(o.mesh_to_world)
    m = np.asarray(world)
    return {
        "keypoints": _mat(np.asarray(b.keypoints) @ m[:3, :3].T + m[:3, 3]),
        "joints": _mat(np.asarray(b.joints) @ m[:3, :3].T + m[:3, 3]),
        "joint_names": list(b.joint_names),
        "joint_parents": list(b.parents),
        "phenotype": {k: float(phenotype.get(k, DEFAULT_PHENOTYPE))
                      for k in ("gender", "age", "muscle", "weight", "height", "proportions")} | phenotype,
        "age_years": float(years(phenotype.get("age", DEFAULT_PHENOTYPE))),
        "height_m": float(np.ptp(np.asarray(rest.vertices)[:, 2])),
    }


def frame_meta(scene: Scene, settings: Settings, catalog: Catalog, index: int, annotations: list[dict],
               geometry: dict[int, tuple[dict, dict]], flow: dict[str, dict[str, str] | None] | None = None) -> dict:
    """Everything about a frame that is not pixels: camera, objects (with their 3D boxes from
    ``geometry``, :func:`object_geometry`), lights, draws, COCO records."""
    cam = scene.camera
    names = {c.id: c.name for c in catalog.categories}
    scene_parts = parts_of(scene)
    parts, body_parts = scene_parts.by_object, scene_parts.body_parts_by_object
    symmetries = {a.key: a.symmetries for a in catalog.assets if a.symmetries}
    sequence, step = frame_position(settings, index)
    split = frame_split(settings.seed, index, sequence, settings.output.splits, settings.output.split_by)
    meta = {
        "index": index,
        "seed": settings.seed,
        "sequence": sequence,
        "step": step,
        "split": split,
        "sequence_length": group_length(settings),
        "flow": flow or {},
        "width": cam.width,
        "height": cam.height,
        "K": _mat(cam.K),
        **({"lens": cam.lens.to_dict()} if cam.lens is not None else {}),
        "world_to_camera": _mat(cam.world_to_camera),
        **({"stereo": {"baseline": scene.params["stereo"]["baseline"], "right_world_to_camera":
                       _mat(scene.right.world_to_camera)}} if scene.right is not None else {}),
        "clip_start": cam.clip_start,
        "clip_end": cam.clip_end,
        "objects": [{
            "name": o.name,
            "instance_id": o.instance_id,
            "category_id": o.category_id,
            "category": names.get(o.category_id, ""),
            "asset": o.asset_id,
            "mesh": model_relpath(o.asset_id, o.mesh),
            "mesh_to_world": _mat(o.mesh_to_world),
            "material": o.material.to_dict(),
            "box3d": geometry[o.instance_id][1],
            **({"deforms": True} if deforms(o.mesh) else {}),
            **({"symmetries": symmetries[o.asset_id]} if o.asset_id in symmetries else {}),
            **({"joints": dict(o.mesh.joints)} if isinstance(o.mesh, ArticulatedMesh) and o.mesh.joints else {}),
            **({"free_joints": free} if isinstance(o.mesh, ArticulatedMesh) and (free := free_joints(o.mesh)) else {}),
            **({"animation": {"clip": o.mesh.clip, "frame": o.mesh.frame}}
               if isinstance(o.mesh, RiggedMesh) and o.mesh.frame is not None else {}),
            **({"parts": [{"id": p.id, "link": p.mesh.link, "mesh": part_relpath(o, p),
                           "mesh_to_world": _mat(p.mesh_to_world), "box3d": part_box3d(scene, p)}
                          for p in parts[o.instance_id]]}
               if o.instance_id in parts else {}),
            **({"body_parts": [{"id": p.id, "part": p.name} for p in body_parts[o.instance_id]]}
               if o.instance_id in body_parts else {}),
            **({"person": person_record(o)} if isinstance(o.mesh, PersonMesh) else {}),
        } for o in scene.objects],
        "lights": [{"kind": li.kind, "light_to_world": _mat(li.light_to_world), "power": li.power,
                    "color": list(li.color), "size": li.size, "spot_angle": li.spot_angle} for li in scene.lights],
        "world": scene.world.to_dict(),
        "params": scene.params,
        "coco": {"image": coco_image(index, cam.width, cam.height, f"images/{index:06d}.png", split),
                 "annotations": annotations},
    }
    library = entries_of(scene.files())
    if library:  # the asset-library entries (simgen fetch) the frame drew: source, id, version, licence
        meta["library"] = library
    return meta


def frame_output(settings: Settings, catalog: Catalog, kinds: list[LabelKind], index: int, scene: Scene,
                 own: FrameLabels) -> FrameOutput:
    """Annotations (with track ids), the optional label kinds and the meta of frame ``index``
    (``scene``, labels ``own``); flow is added by the loop's ``flow`` stage."""
    sequence = frame_position(settings, index)[0]
    category_of = {o.instance_id: o.category_id for o in scene.objects}
    annotations = coco_annotations(own.instance, category_of, index)
    geometry = object_geometry(scene)
    for a in annotations:  # one object keeps its track id through a sequence
        iid = a["simgen"]["instance_id"]
        a["simgen"]["track_id"] = annotation_id(sequence, iid)
        a["simgen"]["pose"], a["simgen"]["box3d"] = geometry[iid]
    computed: dict[Callable, Any] = {}  # kinds that share a computation run it once
    context = FrameContext(scene=scene, settings=settings, catalog=catalog, index=index, sequence=sequence)
    for kind in kinds:
        if kind.compute is None:
            continue
        if kind.compute not in computed:
            computed[kind.compute] = kind.compute(own, context)
        own.extra[kind.name] = computed[kind.compute]
        if kind.annotate:
            kind.annotate(own.extra[kind.name], annotations)
    models = [(model_relpath(o.asset_id, o.mesh), o.mesh) for o in scene.objects]
    by_id = {o.instance_id: o for o in scene.objects}
    models += [(part_relpath(by_id[p.instance_id], p), p.mesh) for p in parts_of(scene).parts]
    meta = frame_meta(scene, settings, catalog, index, annotations, geometry)
    meta["image"] = own.image  # exposure metering and tone (simgen.color.tone)
    if context.sensor:  # the sensor models' draws (simgen.sensors; docs/how-to/sensors.md)
        meta.setdefault("sensor", {}).update(context.sensor)
    return FrameOutput(index=index, labels=own, meta=meta, models=models)


def flow_between(scene: Scene, labels: FrameLabels, other: Scene, other_labels: FrameLabels):
    """Flow of ``scene``'s frame towards ``other``'s, and its validity (see simgen.labels.flow): the
    surfaces that bend between them (:func:`~simgen.scene.meshes.deforms`) by their vertices at each."""
    drawn = [parts_of(s).drawn for s in (scene, other)]
    motions = object_motions(*[[{"instance_id": o.instance_id, "mesh_to_world": o.mesh_to_world}
                                for o in objects] for objects in drawn])
    flow, z_other, in_view = rigid_flow(labels.depth, labels.bodies, scene.camera.K,
                                        scene.camera.world_to_camera, other.camera.K,
                                        other.camera.world_to_camera, motions, scene.camera.lens, other.camera.lens,
                                        bending(*drawn))
    valid = flow_validity(flow, z_other, in_view, labels.bodies, other_labels.depth, other_labels.bodies)
    return flow, valid


def bending(at_t: list[SceneObject], at_o: list[SceneObject]) -> dict[int, Deforming]:
    """The drawn objects of two steps that bend between them (:func:`~simgen.scene.meshes.deforms`
    at either), by instance id: their triangles and world vertices at each step."""
    from simgen.assets.meshes import load_mesh

    other = {o.instance_id: o for o in at_o}
    out = {}
    for o in at_t:
        p = other.get(o.instance_id)
        if p is None or o.mesh == p.mesh or not (deforms(o.mesh) or deforms(p.mesh)):
            continue  # the same shape at both: its motion is rigid
        a, b = load_mesh(o.mesh), load_mesh(p.mesh)
        if a.vertices.shape != b.vertices.shape or not np.array_equal(a.faces, b.faces):
            raise SimgenError(f"object {o.name!r} has {len(a.vertices)} vertices at one step and {len(b.vertices)} "
                              "at the next (a remesh, a fracture): no flow follows it; hide it or draw stills")
        out[o.instance_id] = Deforming(np.asarray(a.faces), _world(a.vertices, o.mesh_to_world),
                                       _world(b.vertices, p.mesh_to_world))
    return out


def _world(vertices: np.ndarray, mesh_to_world: np.ndarray) -> np.ndarray:
    m = np.asarray(mesh_to_world, float)
    return np.asarray(vertices, float) @ m[:3, :3].T + m[:3, 3]
