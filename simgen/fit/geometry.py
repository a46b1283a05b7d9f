"""Label statistics without rendering: the boxes of a randomization's scenes, projected.

A scene is plain data (:mod:`simgen.core.scene`): the recipe draws it in milliseconds, and each
object's mesh through the pinhole camera gives its box. So the settings that shape the labels
(camera distance, elevation and lens, object count and size) can be searched on the label
statistics (:func:`simgen.fit.stats.label_stats`) of many candidates before a single render: a
fit with target labels starts its render search from the best of them (:func:`prefit`).

The boxes are an approximation of the rendered ones: each is the box of the object's projected
vertices (its convex hull) clipped to the image, with no occlusion (an object hidden behind
another still counts; a partly hidden one keeps its whole box), and an object counts when its
clipped box has an area and some vertex lies in front of the camera. COCO pixel coordinates: a
pixel centre (u, v) in the OpenCV convention is (u + 0.5, v + 0.5).
"""

from __future__ import annotations

import copy
from typing import Any, Sequence

import numpy as np

from simgen import SimgenError
from simgen.fit.stats import label_stats
from simgen.recipes import SHORTFALL

GEOMETRIC = ("camera.focal_length", "camera.principal_point_jitter", "objects.count")
"""The settings a prefit searches (the space's entries among them) besides every ``scene.*`` key
(the recipe's own: tabletop's camera placement and object scale among them)."""


def is_geometric(key: str) -> bool:
    return key in GEOMETRIC or key.startswith("scene.")


def with_values(settings: Any, values: dict[str, Any]) -> Any:
    """A copy of ``settings`` with ``values`` ({dotted key: value}, already checked) set."""
    out = copy.deepcopy(settings)
    for key, value in values.items():
        node = out
        *parents, leaf = key.split(".")
        for p in parents:
            node = getattr(node, p)
        setattr(node, leaf, value)
    return out


class Projector:
    """The label statistics of a randomization's scenes, projected (see the module doc)."""

    def __init__(self, settings: Any, frames: Sequence[int], catalog: Any = None):
        from simgen.pipeline.frames import catalog_for
        from simgen.recipes import load_recipe

        self.settings, self.frames = settings, list(frames)
        self.recipe = load_recipe(settings.scene.recipe)
        self.catalog = catalog if catalog is not None else catalog_for(settings)  # a fit's plan has it already
        self._hulls: dict[Any, np.ndarray] = {}

    def hull(self, mesh: Any) -> np.ndarray:
        """(N, 4) homogeneous vertices of a mesh's convex hull (cached)."""
        if mesh not in self._hulls:
            from simgen.assets.meshes import load_mesh

            m = load_mesh(mesh)
            try:
                v = np.asarray(m.convex_hull.vertices, np.float64)
            except Exception:  # noqa: BLE001 (a degenerate mesh: its own vertices)
                v = np.asarray(m.vertices, np.float64)
            self._hulls[mesh] = np.hstack([v, np.ones((len(v), 1))])
        return self._hulls[mesh]

    def coco(self, values: dict[str, Any]) -> dict:
        """A COCO dict (images; annotations with bbox and simgen.instance_id) of the frames' scenes
        under ``values``."""
        from simgen.pipeline.frames import make_frame_scene

        settings = with_values(self.settings, values)
        images, annotations, short = [], [], 0
        for index in self.frames:
            scene = make_frame_scene(self.recipe, settings, self.catalog, index)
            short += SHORTFALL in scene.params
            if short > len(self.frames) // 2:  # as simgen refuses a config most of whose scenes fall short
                raise SimgenError(f"{short} of {len(self.frames)} scenes cannot place their objects: "
                                  f"{scene.params[SHORTFALL]['message']}")
            cam = scene.camera
            images.append({"id": index, "width": cam.width, "height": cam.height})
            for o in scene.objects:
                if o.category_id <= 0:
                    continue
                box = self.box(cam, o)
                if box is not None:
                    annotations.append({"image_id": index, "bbox": box, "simgen": {"instance_id": o.instance_id}})
        return {"images": images, "annotations": annotations}

    def box(self, cam: Any, o: Any) -> list[float] | None:
        """[x, y, w, h] (COCO pixels) of object ``o``'s projected hull clipped to the image, or None."""
        p = (cam.world_to_camera @ o.mesh_to_world @ self.hull(o.mesh).T)[:3]
        p = p[:, p[2] > cam.clip_start]
        if p.shape[1] == 0:
            return None
        if cam.lens is not None:  # a calibrated lens (its vertices' box: the hull's edges bend a little)
            uv = cam.lens.project(p.T).T + 0.5
            uv = uv[:, np.isfinite(uv).all(axis=0)]
            if uv.shape[1] == 0:
                return None
        else:
            uv = (cam.K @ p)[:2] / p[2] + 0.5
        x0, y0 = np.clip(uv.min(axis=1), 0, (cam.width, cam.height))
        x1, y1 = np.clip(uv.max(axis=1), 0, (cam.width, cam.height))
        if x1 - x0 <= 0 or y1 - y0 <= 0:
            return None
        return [float(x0), float(y0), float(x1 - x0), float(y1 - y0)]

    def samples(self, values: dict[str, Any]) -> dict[str, np.ndarray]:
        """The label statistics samples of the frames' scenes under ``values``."""
        return label_stats(self.coco(values))


def prefit_scope(plan: Any) -> tuple[list[Any], list[str]]:
    """What a prefit searches and measures: the space's geometric rendered entries, and the label
    statistics in the distance (none unless fit.objective is stats and the target has labels)."""
    from simgen.fit.stats import LABEL_STATS

    return ([e for e in plan.rendered if is_geometric(e.key)],
            [n for n in LABEL_STATS if plan.weights.get(n, 0) > 0])


def prefit(plan: Any, trials: int, seed: int) -> Any:
    """Search the space's geometric entries (:func:`is_geometric`; the others at their defaults) on
    the projected label statistics of twice fit.frames scenes, ``trials`` evaluations of
    :func:`simgen.fit.develop.search`; None without label statistics in the distance (no
    target_coco, another objective) or without such an entry. A candidate whose scenes cannot be
    drawn, or most of them not place their objects, counts as EMPTY_PENALTY."""
    from simgen.fit.develop import search
    from simgen.fit.distance import EMPTY_PENALTY, Distance, distance

    entries, names = prefit_scope(plan)
    if not entries or not names:
        return None
    projector = Projector(with_values(plan.settings, {"seed": plan.fit.seed}), range(2 * plan.fit.frames), plan.catalog)
    target = {n: plan.target.samples[n] for n in names}
    weights = {n: plan.weights[n] for n in names}

    def evaluate(values: dict[str, Any]) -> Distance:
        try:
            samples = projector.samples(values)
        except SimgenError:
            return Distance(EMPTY_PENALTY, {})
        return distance(target, samples, plan.scale, weights)

    return search(entries, evaluate, trials, seed, [plan.defaults])
