"""The frame loop: recipe -> Blender -> labels -> writers, for frames start..start+frames-1."""

from __future__ import annotations

import json
import logging
import platform
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

import simgen
from simgen import SimgenError
from simgen.assets import BUNDLED_CATALOG, Catalog, build_catalog, load_mesh, validate_catalog
from simgen.config import Settings
from simgen.core.scene import Scene
from simgen.io.dataset import DatasetWriter
from simgen.labels import coco_annotations, coco_image, make_labels
from simgen.progress import Progress
from simgen.recipes import load_recipe
from simgen.sampling.random import frame_rng, render_seed

log = logging.getLogger(__name__)

FINGERPRINT_IGNORES = {"start", "frames", "output", "render.device", "render.threads", "render.persistent_data"}
"""Config keys that may differ between runs writing into the same dataset folder (shards, resumes)."""


@dataclass
class RunSummary:
    out_dir: Path
    rendered: list[int]
    skipped: list[int]
    frames_on_disk: int
    annotations: int
    images: int


def catalog_for(settings: Settings) -> Catalog:
    o = settings.objects
    path = BUNDLED_CATALOG if o.catalog == "bundled" else o.catalog
    catalog = build_catalog(catalog=path, dirs=o.dirs, dir_scale=o.dir_scale)
    if not catalog.assets:
        raise SimgenError("the asset catalog has no meshes; check objects.catalog and objects.dirs")
    validate_catalog(catalog)
    return catalog


def make_frame_scene(recipe: ModuleType, settings: Settings, catalog: Catalog, index: int) -> Scene:
    """Frame ``index``'s scene: a pure function of (settings, seed, index)."""
    scene = recipe.make_scene(settings, catalog, frame_rng(settings.seed, index))
    scene.validate()
    return scene


def _mat(a: np.ndarray) -> list:
    return np.asarray(a, float).tolist()


def model_relpath(obj_asset_id: str, mesh_path: Path) -> str:
    return f"models/{obj_asset_id or 'stuff/' + Path(mesh_path).stem}.ply"


def frame_meta(scene: Scene, settings: Settings, catalog: Catalog, index: int, annotations: list[dict]) -> dict:
    """Everything about a frame that is not pixels: camera, objects, lights, draws, COCO records."""
    cam = scene.camera
    names = {c.id: c.name for c in catalog.categories}
    return {
        "index": index,
        "seed": settings.seed,
        "width": cam.width,
        "height": cam.height,
        "K": _mat(cam.K),
        "world_to_camera": _mat(cam.world_to_camera),
        "clip_start": cam.clip_start,
        "clip_end": cam.clip_end,
        "objects": [{
            "name": o.name,
            "instance_id": o.instance_id,
            "category_id": o.category_id,
            "category": names.get(o.category_id, ""),
            "asset": o.asset_id,
            "mesh": model_relpath(o.asset_id, o.mesh_path),
            "mesh_to_world": _mat(o.mesh_to_world),
            "material": {"base_color": list(o.material.base_color), "roughness": o.material.roughness,
                         "metallic": o.material.metallic},
        } for o in scene.objects],
        "lights": [{"kind": li.kind, "light_to_world": _mat(li.light_to_world), "power": li.power,
                    "color": list(li.color), "size": li.size, "spot_angle": li.spot_angle} for li in scene.lights],
        "world": {"color": list(scene.world.color), "strength": scene.world.strength},
        "params": scene.params,
        "coco": {"image": coco_image(index, cam.width, cam.height, f"images/{index:06d}.png"),
                 "annotations": annotations},
    }


def _fingerprint(config: dict) -> dict:
    def strip(d: dict, prefix: str = "") -> dict:
        out = {}
        for k, v in d.items():
            key = f"{prefix}{k}"
            if key in FINGERPRINT_IGNORES:
                continue
            out[k] = strip(v, key + ".") if isinstance(v, dict) else v
        return out
    return strip({k: v for k, v in config.items() if k != "hydra"})


def _check_existing(out: Path, config: dict, overwrite: bool) -> None:
    existing = out / "dataset.json"
    if not existing.exists() or overwrite:
        return
    try:
        old = json.loads(existing.read_text())
    except (OSError, ValueError):
        raise SimgenError(f"{existing} exists but cannot be read; remove it or choose another output.dir") from None
    if _fingerprint(old.get("config", {})) != _fingerprint(config):
        raise SimgenError(f"{out} already holds a dataset made with another config; choose another output.dir, "
                          "or set output.overwrite=true to add these frames anyway")


def run(settings: Settings, config: dict[str, Any] | None = None) -> RunSummary:
    """Render frames ``start..start+frames-1`` into ``settings.output.dir``.

    Every check that can fail on bad input (assets, recipe, placement, output folder)
    runs before Blender starts. Frames already complete on disk are kept, not redone.
    """
    config = config if config is not None else asdict(settings)
    recipe = load_recipe(settings.scene.recipe)
    catalog = catalog_for(settings)
    out = Path(settings.output.dir).expanduser().resolve()
    indices = list(range(settings.start, settings.start + settings.frames))
    first_scene = make_frame_scene(recipe, settings, catalog, indices[0])  # fails fast on impossible scenes
    writer = DatasetWriter(out, catalog.to_json(), previews=settings.output.previews)
    _check_existing(out, config, settings.output.overwrite)
    done = set(writer.frames_on_disk())
    todo = [i for i in indices if i not in done]
    skipped = [i for i in indices if i in done]
    if skipped:
        log.info("%d of %d frames are already complete in %s; rendering the other %d",
                 len(skipped), len(indices), out, len(todo))

    from simgen.blender import BlenderBackend  # imports bpy: only now that the input is known good
    import bpy

    info = {
        "simgen_version": simgen.__version__,
        "blender_version": bpy.app.version_string,
        "python_version": platform.python_version(),
        "seed": settings.seed,
        "categories": catalog.to_json(),
        "config": config,
    }
    backend = BlenderBackend(settings.render)
    info["device"] = backend.device
    writer.write_dataset_json({**info, "frames": sorted(done)})
    written_models: set[str] = set()
    rendered: list[int] = []
    progress = Progress(len(todo))
    try:
        for index in todo:
            scene = first_scene if index == indices[0] else make_frame_scene(recipe, settings, catalog, index)
            backend.build(scene)
            raw = backend.render(seed=render_seed(settings.seed, index))
            category_of = {o.instance_id: o.category_id for o in scene.objects}
            labels = make_labels(raw, category_of, scene.camera.world_to_camera, scene.camera.K)
            annotations = coco_annotations(labels.instance, category_of, index)
            for o in scene.objects:
                rel = model_relpath(o.asset_id, o.mesh_path)
                if rel not in written_models:
                    writer.write_model(rel, load_mesh(o.mesh_path))
                    written_models.add(rel)
            writer.write_frame(index, labels, frame_meta(scene, settings, catalog, index, annotations))
            rendered.append(index)
            progress.update()
    finally:
        backend.close()
        coco = writer.write_coco()
        on_disk = writer.frames_on_disk()
        writer.write_dataset_json({**info, "frames": on_disk})
    return RunSummary(out_dir=out, rendered=rendered, skipped=skipped, frames_on_disk=len(on_disk),
                      annotations=len(coco["annotations"]), images=len(coco["images"]))
