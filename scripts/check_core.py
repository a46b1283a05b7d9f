"""simgen alone, as the README installs it (`pip install -e .`, no extra), does every core thing
the docs show: one tiny frame or sequence per recipe and per feature, each through the `simgen`
command of the environment that runs this script, from a folder outside the repository.

What it runs is read from simgen's own registries, so a new recipe, option, label kind or format
is checked without an edit here:

- every recipe (``scene=NAME``), and every option of the other config groups with more than one
  (lighting, materials, objects, effects), a frame each;
- a sequence with every label kind and every dataset and flow format that needs no extra (a
  format or kind that needs a stereo rig gets its own run with ``camera.rig=stereo``): point
  tracks, MOT, TAP-Vid, BOP, YOLO, nerfstudio, WebDataset, .flo and KITTI flow among them;
- a calibrated fisheye lens, a rig of calibrated cameras, many views of one scene, a user's world
  from an OBJ file of its own, one's own meshes, photos behind, the bundled robot moving beside the
  bin (its parts, flow and tracks), a catalog holding a robot (a
  URDF posed through MuJoCo);
- the commands that render nothing: validate, inspect, compare, merge and a tiny fit.

A module only an extra brings (pyarrow, matplotlib, torch, the test tools) must not be importable
here: that is what makes the check mean "simgen alone". CI runs it (scripts/check_extras.sh, in the
venv of simgen alone that the extras start from).

    usage: python scripts/check_core.py [--keep DIR]     (the python of a venv with simgen alone)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from make_gallery import calibration  # a ROS camera_info YAML of an equidistant fisheye

TINY = ["render.width=64", "render.height=48", "render.samples=1", "render.denoise=false", "render.device=cpu",
        "output.previews=false"]
NOT_CORE = ("pyarrow", "matplotlib", "torch", "pytest", "rtree", "s3fs", "psycopg2", "mkdocs", "pybullet")
"""Modules of the extras and of the test extra: none may be importable in simgen's own venv."""
GROUPS = ("lighting", "materials", "objects", "effects")
"""Config groups whose every option gets a frame (the recipes, group ``scene``, get one each)."""
SIMGEN = Path(sys.executable).with_name("simgen")
BUNDLED = Path(__file__).resolve().parent.parent / "assets"


def camchain(w: int, h: int) -> str:
    """A Kalibr camchain YAML of two pinhole cameras 0.1 m apart (docs/how-to/real-cameras.md)."""
    cam = (f"  camera_model: pinhole\n  intrinsics: [{0.8 * w}, {0.8 * w}, {(w - 1) / 2}, {(h - 1) / 2}]\n"
           f"  distortion_model: radtan\n  distortion_coeffs: [0.0, 0.0, 0.0, 0.0]\n  resolution: [{w}, {h}]\n")
    return ("cam0:\n" + cam + "cam1:\n" + cam
            + "  T_cn_cnm1:\n  - [1, 0, 0, -0.1]\n  - [0, 1, 0, 0]\n  - [0, 0, 1, 0]\n  - [0, 0, 0, 1]\n")


ARM = """<robot name="arm">
  <link name="base"><visual><geometry><box size="0.2 0.2 0.1"/></geometry></visual></link>
  <link name="upper"><visual><geometry><cylinder radius="0.05" length="0.5"/></geometry></visual></link>
  <joint name="shoulder" type="revolute"><parent link="base"/><child link="upper"/>
    <origin xyz="0 0 0.5"/><axis xyz="0 1 0"/><limit lower="-2" upper="2" effort="1" velocity="1"/></joint>
  <link name="tip"/>
  <joint name="tip" type="fixed"><parent link="upper"/><child link="tip"/><origin xyz="0 0 0.5"/></joint>
</robot>
"""
"""A two-link arm (URDF) of primitive shapes, for a catalog of one's own."""


def obj_world() -> str:
    """A user's world as an OBJ file (Y up, as OBJ files are): a 4 m floor and a 1 x 0.6 m table
    top 0.75 m above it, both facing up."""
    def quad(x0, y0, x1, y1, z, first):
        v = f"v {x0} {z} {-y0}\nv {x1} {z} {-y0}\nv {x1} {z} {-y1}\nv {x0} {z} {-y1}\n"
        return v, f"f {first} {first + 1} {first + 2} {first + 3}\n"

    fv, ff = quad(-2, -2, 2, 2, 0, 1)
    tv, tf = quad(-0.5, -0.3, 0.5, 0.3, 0.75, 5)
    return f"o floor\n{fv}{ff}o table_top\n{tv}{tf}"


def runs(work: Path) -> list[tuple[str, list[str], list[str]]]:
    """(name, simgen's arguments, files the run must leave under its output.dir) of every check."""
    from simgen.compose.store import options
    from simgen.io.formats.exporters import EXPORTERS
    from simgen.config.sensor import ACTIVE_STEREO, sensor_labels
    from simgen.labels.kinds import LABEL_KINDS

    groups = options(("scene", *GROUPS))
    out: list[tuple[str, list[str], list[str]]] = []
    for recipe in groups["scene"]:
        out.append((f"scene={recipe}", [f"scene={recipe}", "frames=1"], ["coco.json", "meta/000000.json"]))
    for group in GROUPS:
        for opt in groups[group] if len(groups[group]) > 1 else ():
            out.append((f"{group}={opt}", [f"{group}={opt}", "frames=1"], ["coco.json", "meta/000000.json"]))

    stereo = {k for e in EXPORTERS.values() if "right" in e.labels for k in e.labels}
    formats = [e for e in EXPORTERS.values() if not (e.shards and e.shards.requires)]
    flow = [e.name for e in formats if e.write_flow is not None]
    plain = [e.name for e in formats if e.finish is not None and not set(e.labels) & stereo]
    sensed = set(sensor_labels({"depth": ACTIVE_STEREO[0], "events": True}))  # made by the sensors below
    kinds = [k.name for k in LABEL_KINDS.values() if not k.from_render and k.name not in stereo | sensed]
    made = [f"{f}/" for f in plain if f not in ("coco", "tracks")] + ["coco.json", "tracks/000000.npz"]
    out.append(("every label kind and format (a sequence)",
                ["sequence.length=2", "frames=2", f"output.labels=[{','.join(kinds)}]",
                 f"output.formats=[{','.join(plain)}]", f"sequence.formats=[{','.join(flow)}]"],
                [*made, "flow_forward/000000.npy"]))
    rig = sorted({e.name for e in formats if set(e.labels) & stereo})
    out.append(("a stereo rig", ["camera.rig=stereo", "frames=1", f"output.labels=[{','.join(sorted(stereo))}]",
                                 f"output.formats=[coco,{','.join(rig)}]"], [f"{f}/" for f in rig]))
    (work / "fisheye.yaml").write_text(calibration((64, 48)))  # the gallery's fisheye, at this size
    (work / "camchain.yaml").write_text(camchain(64, 48))
    out.append(("a calibrated fisheye lens", [f"camera.calibration={work / 'fisheye.yaml'}", "frames=1"],
                ["meta/000000.json"]))
    out.append(("a rig of calibrated cameras", ["camera.rig=calibration", f"camera.calibration={work / 'camchain.yaml'}",
                                                 "frames=2"], ["meta/000001.json"]))
    out.append(("many views of one scene", ["scene.views=3", "frames=3", "output.formats=[coco,nerfstudio]"],
                ["nerfstudio/"]))
    world = work / "world"
    world.mkdir()
    (world / "room.obj").write_text(obj_world())
    out.append(("a user's world from an OBJ file", ["scene=environment", f"scene.file={world / 'room.obj'}",
                                                   "scene.supports=[table_top]", "frames=1"], ["meta/000000.json"]))
    out.append(("objects dropped by physics onto a world's table", [
        "scene=environment", f"scene.file={world / 'room.obj'}", "scene.supports=[table_top]", "scene.placement=physics",
        "frames=1"], ["meta/000000.json"]))
    meshes = work / "my_meshes" / "duck"
    shutil.copytree(BUNDLED / "meshes" / "cone", meshes)
    out.append(("one's own meshes with their look varied", [
        "objects.catalog=null", f"objects.dirs={{duck: {meshes}}}", "materials.own_replace=0.3",
        "materials.own_hue=[-0.03,0.03]", "frames=1"], ["meta/000000.json"]))
    photos = work / "photos"
    photos.mkdir()
    cv2.imwrite(str(photos / "photo.png"), np.random.default_rng(0).integers(0, 256, (24, 32, 3), np.uint8))
    robots = work / "robots"
    robots.mkdir()
    (robots / "arm.urdf").write_text(ARM)
    (robots / "catalog.yaml").write_text("categories: [robot]\nassets:\n  - {mesh: arm.urdf, category: robot, scale: 0.2}\n")
    out.append(("a robot from a URDF, its joints drawn", [f"objects.catalog={robots / 'catalog.yaml'}", "frames=1"],
                ["meta/000000.json", "models/robot/"]))
    out.append(("the bundled robot beside the bin, its joints moving, its links as parts", [
        "scene=bin_picking", "scene.robot=bundled", "sequence.length=2", "objects.joint_motion=1",
        "output.labels=[parts,tracks]", "frames=2"], ["parts/000001.png", "flow_forward/000000.npy", "tracks/000000.npz"]))
    out.append(("a time-of-flight camera and a LiDAR beside the exact depth", [
        "sensor.depth=azure_kinect_nfov", "sensor.lidar=velodyne_vlp16", "frames=1"],
        ["sensor_depth/000000.npy", "lidar/000000.bin", "lidar/000000.ply"]))
    out.append(("an active stereo camera", ["sensor.depth=realsense_d435", "camera.focal_length=[18.97,18.97]", "frames=1"],
                ["ir_left/000000.png", "ir_right/000000.png", "sensor_depth/000000.npy"]))
    out.append(("an event camera", ["sensor.events=true", "sensor.events_substeps=2", "sequence.length=2", "frames=2"],
                ["events/000000.npy", "events/000001.npy"]))
    out.append(("a rolling shutter", ["sensor.rolling_shutter_ms=20", "sensor.rolling_shutter_bands=4",
                                      "sequence.length=2", "frames=2"], ["meta/000001.json"]))
    out.append(("walls, a room and one's photos behind the objects", [
        "scene.background=[walls,room,ground]", f"scene.background_dir={photos}", "frames=1"], ["meta/000000.json"]))
    return out


def simgen(args: list[str], cwd: Path) -> str:
    r = subprocess.run([str(SIMGEN), *args], cwd=cwd, capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        raise SystemExit(f"check_core: `simgen {' '.join(args)}` failed (exit {r.returncode}):\n"
                         f"{(r.stdout + r.stderr)[-4000:]}")
    return r.stdout + r.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", type=Path, help="render into this folder and keep it (default: a temporary one)")
    args = parser.parse_args()
    present = [m for m in NOT_CORE if importlib.util.find_spec(m) is not None]
    if present:
        raise SystemExit(f"check_core: {sys.prefix} is not simgen alone: {', '.join(present)} can be imported")
    if not SIMGEN.is_file():
        raise SystemExit(f"check_core: no simgen command beside {sys.executable}")
    work = Path(tempfile.mkdtemp(prefix="simgen-core-")) if args.keep is None else args.keep
    work.mkdir(parents=True, exist_ok=True)
    start = time.time()
    try:
        done = []
        for i, (name, argv, files) in enumerate(runs(work)):
            t = time.time()
            out = work / f"run{i:02d}"
            simgen([*argv, *TINY, f"output.dir={out}"], cwd=work)
            missing = [f for f in files if not (out / f).exists() or (f.endswith("/") and not any((out / f).iterdir()))]
            if missing:
                raise SystemExit(f"check_core: {name}: the run left no {', '.join(missing)} in {out}")
            done.append(out)
            print(f"check_core: {name}: ok ({time.time() - t:.0f} s)", flush=True)
        seq = next(d for d in done if (d / "tracks").is_dir())  # the sequence with every label kind
        t = time.time()
        simgen(["validate", str(seq)], cwd=work)
        said = simgen(["inspect", str(seq), "--frames", "2", "--jobs", "1"], cwd=work)
        if not (seq / "inspect.html").is_file():
            raise SystemExit(f"check_core: simgen inspect wrote no inspect.html:\n{said[-2000:]}")
        simgen(["compare", str(done[0]), str(seq), "--out", str(work / "compare.html")], cwd=work)
        simgen(["merge", str(work / "merged"), str(done[0]), str(done[1])], cwd=work)
        if len(json.loads((work / "merged" / "coco.json").read_text())["images"]) != 2:
            raise SystemExit("check_core: simgen merge of two one-frame datasets does not hold two frames")
        print(f"check_core: validate, inspect, compare, merge: ok ({time.time() - t:.0f} s)", flush=True)
        t = time.time()
        target = done[0]
        simgen(["fit", f"target={target / 'images'}", f"target_coco={target / 'coco.json'}", f"fit.out={work / 'fit'}",
                "fit.frames=2", "fit.trials=1", "fit.startup_trials=1", "fit.prefit_trials=2", "fit.develop_trials=4",
                "fit.polish_trials=4", "fit.final_frames=2", "fit.max_images=2", "render.samples=1",
                "fit.space={scene: {camera_distance: {low: 0.5, high: 4, log: true}}}"], cwd=work)
        if not (work / "fit" / "best.yaml").is_file():
            raise SystemExit("check_core: simgen fit wrote no best.yaml")
        print(f"check_core: fit: ok ({time.time() - t:.0f} s)", flush=True)

    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    print(f"check_core: simgen alone ran every recipe and feature in {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
