"""Label statistics without rendering: the boxes of a randomization's scenes, projected.

A scene is plain data (:mod:`simgen.scene.data`): the recipe draws it in milliseconds, and each
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
import math
from typing import Any, Sequence

import numpy as np

from simgen.errors import SimgenError
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
        from simgen.compose.settings import catalog_for
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


PREFIT_TOP = 10
"""The prefit's candidates (by their distance on fit.frames scenes) measured again on twice as many."""
PREFIT_STARTS = 3
"""Of those, how many the prefit's pattern searches start from (the closest on twice the scenes)."""
PREFIT_REFINE = 0.2
"""Each pattern search's evaluations, as a share of the prefit's candidates."""


def prefit(plan: Any, trials: int, seed: int) -> Any:
    """Search the space's geometric entries (:func:`is_geometric`; the others at their defaults) on
    projected label statistics, without rendering; None without label statistics in the distance
    (no target_coco, another objective) or without such an entry.

    ``trials`` candidates spread over the space (the defaults and a Latin hypercube,
    :func:`simgen.fit.post_render.latin_hypercube`) are measured on fit.frames scenes; the
    :data:`PREFIT_TOP` closest again on twice as many; from the :data:`PREFIT_STARTS` closest there,
    a pattern search each (:func:`simgen.fit.post_render.refine`) on those scenes. Their best is the
    result. A global phase first, since the label statistics have broad wrong valleys (many objects
    far apart seen from low and near shows as many boxes as few seen from above) that a search from
    one start stays in: on fit_gap's target, TPE then a pattern search found label distance
    0.21-0.31 where the target's own settings measure 0.14; this, 0.14-0.18 over four seeds, in 30-39 s (the
    former search: 32-54 s). Measured on 256 other scenes, where the target's own settings are 0.105
    away, the prefits of fit_gap's three fits (fit.seed 0, 1, 2) are 0.149, 0.187 and 0.182 (0.202,
    0.223 and 0.227 while a range's width was clipped at the bounds, :data:`simgen.fit.space.RANGES`).
    A candidate whose scenes cannot be drawn, or most of them not place their objects, counts as
    EMPTY_PENALTY."""
    from simgen.fit.post_render import Search, latin_hypercube, refine
    from simgen.fit.distance import EMPTY_PENALTY, Distance, distance
    from simgen.fit.space import params_of, values_of

    entries, names = prefit_scope(plan)
    if not entries or not names:
        return None
    settings = with_values(plan.settings, {"seed": plan.fit.seed})
    coarse = Projector(settings, range(plan.fit.frames), plan.catalog)
    fine = Projector(settings, range(2 * plan.fit.frames), plan.catalog)
    target = {n: plan.target.samples[n] for n in names}
    weights = {n: plan.weights[n] for n in names}
    history: list[dict] = []
    best: list[Any] = [Distance(math.inf, {}), None]  # the closest on the fine scenes, and its params

    def measure(projector: Projector, params: dict[str, Any]) -> Distance:
        try:
            d = distance(target, projector.samples(values_of(entries, params)), plan.scale, weights)
        except SimgenError:
            d = Distance(EMPTY_PENALTY, {})
        history.append({"params": dict(params), "value": d.total, "frames": len(projector.frames)})
        if projector is fine and d.total < best[0].total:
            best[:] = [d, dict(params)]
        return d

    start = params_of(entries, plan.defaults)
    candidates = [*([start] if start is not None else []), *latin_hypercube(entries, trials, np.random.default_rng(seed))]
    closest = sorted(candidates, key=lambda p: measure(coarse, p).total)[:PREFIT_TOP]
    again = sorted(((measure(fine, p), p) for p in closest), key=lambda dp: dp[0].total)
    budget = max(1, round(PREFIT_REFINE * trials))
    for d, p in again[:PREFIT_STARTS]:
        refine(entries, lambda q: measure(fine, q), p, d, budget, balance=None)
    return Search(values_of(entries, best[1]), best[0], history)
