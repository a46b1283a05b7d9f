#!/usr/bin/env python3
"""Write docs/gallery.md and its pictures (docs/img/gallery/): one small frame for every scene recipe,
every option of the config groups that have more than one (GROUPS), each camera set-up (a calibrated
lens, a stereo pair, many views, a flying sequence, a robot), backgrounds, meshes with their own look
and the label kinds a run adds on request, each with its labels drawn over it and the exact command
that rendered it.

    python scripts/make_gallery.py                              # docs/gallery.md, docs/img/gallery/*.png
    python scripts/make_gallery.py --only scene-flying          # render one entry again (the page is rewritten)
    python scripts/make_gallery.py --out /tmp/g --size 64x48 --samples 1     # a tiny gallery elsewhere

The entries come from the registry: a recipe in simgen.recipes or an option of a group in
GROUPS (``simgen.compose.store.options()``) gets an entry without a line here (EXTRA gives one
overrides of its own where it needs them). Each command runs in one served ``simgen`` process
(simgen.child_processes.ServedCommands: Blender starts once); a picture is frame 0's image, its overlay
preview and its depth preview side by side (``output.previews=true`` writes them), reduced to a
256-colour palette. tests/test_gallery.py checks that the committed page is what this script
writes and that it lists every recipe and option.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SIZE = (240, 180)
SAMPLES = 16
GROUPS = ("scene", "lighting", "materials", "objects", "effects")
"""The config groups whose every option gets an entry: every group of more than one option but
``experiment`` (presets over the groups above, shown by theirs)."""
SEEDS = {"scene": 3, "lighting": 8, "materials": 7, "objects": 3, "effects": 3, "camera": 3, "more": 3}
"""One seed a section (an entry may name its own): within a section only the option changes, and the
camera section's seed is the recipes' so that its pictures show the tabletop entry's scene."""
EXTRA = {group: {} for group in GROUPS}
"""Overrides an option's entry needs beside ``GROUP=OPTION`` (none so far), by group and option."""
PLACE = "outputs/gallery"
"""Where the page's commands write: a folder under the reader's working folder, as Hydra's own runs
(the script writes into a temporary folder instead)."""
DEFAULT_COLUMNS = (("images/000000.png", "image"), ("previews/overlay/000000.png", "labels"),
                   ("previews/depth/000000.png", "depth"))
RAMPS = ("previews/depth/", "previews/disparity/", "previews/flow_")
"""The columns that are colour ramps (dithered)."""
SECTIONS = {
    "scene": ("Scene recipes", "Each recipe (`scene=NAME`) with the other groups at their defaults."),
    "lighting": ("Lighting", "The tabletop scene of one seed under each option of the lighting group "
                             "(`lighting=random` is the group's default): the same objects, cameras and materials."),
    "materials": ("Materials", "The tabletop scene of one seed with each option of the materials group "
                               "(`materials=plain` is the group's default)."),
    "objects": ("Objects", "The tabletop scene of one seed with each option of the objects group "
                           "(`objects=bundled` is the group's default)."),
    "effects": ("Camera effects", "The tabletop scene of one seed with each option of the effects group "
                                  "(`effects=default`, no effects, is the group's default; "
                                  "[camera effects](how-to/camera-effects.md))."),
    "camera": ("Cameras", "The scene of `scene=tabletop` above through a calibrated lens, a stereo pair and "
                          "several cameras, a flying sequence and a robot whose joints move."),
    "more": ("Backgrounds, meshes and more labels", "The tabletop scene with walls or a room behind it, with "
                                                     "meshes that carry their own look, and with the label kinds a "
                                                     "run writes when `output.labels` asks for them."),
}


@dataclass(frozen=True)
class Entry:
    name: str
    """The entry's anchor, its picture's file stem and what ``--only`` names."""
    section: str
    title: str
    text: str
    overrides: tuple[str, ...]
    frames: int = 1
    columns: tuple[tuple[str, str], ...] = DEFAULT_COLUMNS
    """(file of the dataset, what it shows), left to right."""
    calibration: bool = False
    """The command reads the ROS camera_info file :func:`calibration` writes for the size."""
    seed: int | None = None
    """Its own seed (None: its section's)."""

    def command(self, size: tuple[int, int], samples: int, out: str = PLACE) -> list[str]:
        """The entry's ``simgen`` arguments, written to ``out/NAME`` (its calibration read from ``out``)."""
        overrides = [o.replace(PLACE, out) for o in self.overrides]
        seed = SEEDS[self.section] if self.seed is None else self.seed
        return [*overrides, f"seed={seed}", f"frames={self.frames}", f"render.width={size[0]}",
                f"render.height={size[1]}", f"render.samples={samples}", "output.previews=true",
                f"output.dir={out}/{self.name}"]


def calibration(size: tuple[int, int]) -> str:
    """A ROS camera_info YAML of an equidistant (Kannala-Brandt) fisheye of focal 0.35 x width, centred."""
    w, h = size
    f = round(0.35 * w, 3)
    cx, cy = (w - 1) / 2, (h - 1) / 2
    return (f"image_width: {w}\nimage_height: {h}\ncamera_name: fisheye\n"
            f"camera_matrix: {{rows: 3, cols: 3, data: [{f}, 0, {cx}, 0, {f}, {cy}, 0, 0, 1]}}\n"
            "distortion_model: equidistant\n"
            "distortion_coefficients: {rows: 1, cols: 4, data: [0.04, -0.01, 0.002, 0.0]}\n")


def entries() -> list[Entry]:
    """Every entry of the gallery, in page order: the options of GROUPS as the registry lists them,
    then the camera set-ups."""
    from simgen.cli.usage import describe
    from simgen.config.schema import first_sentence
    from simgen.compose.store import options

    found = []
    for group, opts in options(GROUPS).items():
        for opt in opts:
            found.append(Entry(f"{group}-{opt}", group, f"`{group}={opt}`", first_sentence(describe(group, opt)),
                               (f"{group}={opt}", *EXTRA[group].get(opt, ()))))
    found += [
        Entry("lens-fisheye", "camera", "A calibrated fisheye lens",
              "The camera of a calibration file (`camera.calibration`; here a ROS camera_info of an equidistant "
              "fisheye, below), brought nearer the objects than the recipe's default: the ground's edge bends, and "
              "every label is the lens's at each pixel centre, nothing resampled "
              "([real cameras](how-to/real-cameras.md)).",
              (f"camera.calibration={PLACE}/fisheye.yaml", "scene.camera_distance=[0.3,0.4]"), calibration=True),
        Entry("stereo", "camera", "A stereo pair",
              "`camera.rig=stereo`: the left view with its labels, the right camera's image 0.25 m to its right "
              "and the left view's disparity (near is warm), with the occlusion mask in `occluded/`.",
              ("camera.rig=stereo", "camera.baseline=[0.25,0.25]"),
              columns=(("previews/overlay/000000.png", "left labels"), ("right/000000.png", "right image"),
                       ("previews/disparity/000000.png", "disparity"))),
        Entry("views", "camera", "Many views of one scene",
              "`scene.views=3`: three cameras around one drawn scene (objects, materials and lights fixed), "
              "each a frame with its own labels.",
              ("scene.views=3",), frames=3,
              columns=tuple((f"previews/overlay/{i:06d}.png", f"view {i}") for i in range(3))),
        Entry("flying-sequence", "camera", "A flying sequence",
              "`scene=flying sequence.length=3`: the first two steps of a sequence with their labels, and the "
              "forward optical flow from the first to the second (hue is the direction, saturation the speed: white is "
              "still, black no valid flow).",
              ("scene=flying", "sequence.length=3"), frames=3, seed=5,
              columns=(("previews/overlay/000000.png", "step 0"), ("previews/overlay/000001.png", "step 1"),
                       ("previews/flow_forward/000000.png", "flow 0 to 1"))),
        Entry("robot-cell", "camera", "A robot whose joints move",
              "`scene=bin_picking scene.robot=bundled objects.joint_motion=2 'output.labels=[parts]'` in a sequence: "
              "the bundled arm beside the bin, its joints moving between drawn configurations; each link is a part of "
              "its own (`parts/`), so the forward flow from the first step to the second follows every link "
              "([robots](how-to/own-meshes.md#robots-and-other-things-with-joints)).",
              ("scene=bin_picking", "scene.robot=bundled", "scene.camera_distance=[1.7,1.7]", "sequence.length=3",
               "objects.joint_motion=2", "output.labels=[parts]"), frames=3, seed=2,
              columns=(("images/000000.png", "step 0"), ("previews/parts/000000.png", "parts"),
                       ("previews/flow_forward/000000.png", "flow 0 to 1"))),
        Entry("background-walls", "more", "Walls behind the objects",
              "`scene.background=[walls]`: two or three walls around a corner where the camera looks, the camera "
              "drawn again until the back wall is in view; walls are labelled as background "
              "([backgrounds](how-to/backgrounds.md)).",
              ("scene.background=[walls]",)),
        Entry("background-room", "more", "A room around the camera",
              "`scene.background=[room]`: four walls and a ceiling, with an area light under the ceiling.",
              ("scene.background=[room]",)),
        Entry("own-look", "more", "Meshes with their own look",
              "`objects.catalog=textured`: the bundled assets that carry their own textures (OBJ with MTL, glTF), "
              "rendered with them, as your meshes of `objects.dirs` are "
              "([your meshes](how-to/own-meshes.md#your-meshes-look-like-themselves)).",
              ("objects.catalog=textured",)),
        Entry("labels-amodal", "more", "Amodal masks",
              "`output.labels=[amodal]`: each object's whole silhouette, hidden parts included, beside its visible "
              "mask ([label kinds](dataset.md#label-kinds)).",
              ("output.labels=[amodal]",),
              columns=(("images/000000.png", "image"), ("previews/overlay/000000.png", "visible masks"),
                       ("previews/amodal/000000.png", "amodal masks"))),
        Entry("labels-keypoints", "more", "6D poses, 3D boxes and keypoints",
              "`output.labels=[keypoints]`: each object's 3D box and its corners as keypoints (a filled disc "
              "visible, a ring hidden) over the image; the 6D pose and 3D box are in every annotation "
              "([pose labels](tutorials/pose.md)).",
              ("output.labels=[keypoints]",),
              columns=(("images/000000.png", "image"), ("previews/pose/000000.png", "3D boxes and keypoints"),
                       ("previews/normal/000000.png", "normals"))),
    ]
    return found


def shell_word(arg: str) -> str:
    """An override as the page writes it for any shell: quoted where a shell would read its brackets
    (zsh's globbing fails on a bare ``output.labels=[amodal]``)."""
    return f"'{arg}'" if any(c in arg for c in "[]{}()*?") else arg


def marker(entry: Entry) -> str:
    if entry.calibration:
        return ("<!-- docs-test: by tests/test_gallery.py::test_the_script_renders_every_entry_at_a_tiny_size: "
                "the script writes the calibration for the size it renders -->\n")
    return ""


def page(size: tuple[int, int] = SIZE, samples: int = SAMPLES) -> str:
    """docs/gallery.md (at the size and samples given)."""
    w, h = size
    lines = [
        "# Gallery", "",
        "<!-- generated by scripts/make_gallery.py: edit the script, not this page -->", "",
        f"*This page is generated: `python scripts/make_gallery.py` renders every picture and writes it (about a "
        f"minute on 2 cores; `--only NAME` renders one entry again). `tests/test_gallery.py` checks that it has an "
        f"entry for every registered scene recipe and every option of the {' and '.join(GROUPS[1:])} groups.*", "",
        f"What each scene recipe, each lighting and materials option and each camera set-up renders, with the labels "
        f"that come with it. Each picture is frame 0 of the dataset its command writes, at {w}x{h} with {samples} "
        f"samples: unless its caption says otherwise, the image, its labels drawn over it and its depth. These are the "
        f"pictures `output.previews=true` writes into the dataset's `previews/` (`overlay/`: each instance's mask, box "
        f"and category name; `depth/`: inverse depth, near warm and far cold, nothing black); the labels themselves "
        f"are lossless files beside them ([the dataset format](dataset.md)). Run a command and look into its folder, "
        f"or open it with [`simgen inspect`](how-to/inspect.md).", "",
    ]
    every = entries()
    for section, (heading, intro) in SECTIONS.items():
        lines += [f"## {heading}", "", intro, ""]
        for e in (e for e in every if e.section == section):
            captions = " | ".join(c for _, c in e.columns)
            lines += [f"### {e.title} {{#{e.name}}}", "",
                      f"![{e.title.strip('`')}: {captions}](img/gallery/{e.name}.png)", "",
                      f"*{captions}.* {e.text}", ""]
            if e.calibration:
                lines += [f"The calibration, `{PLACE}/fisheye.yaml`:", "",
                          "<!-- docs-test: text: the calibration file the command below reads "
                          "(a ROS camera_info) -->",
                          "```yaml", calibration(size).rstrip(), "```", ""]
            lines += [marker(e) + "```bash", "simgen " + " ".join(map(shell_word, e.command(size, samples))), "```", ""]
    return "\n".join(lines)


def picture(dataset: Path, entry: Entry, out: Path) -> None:
    """The entry's columns side by side, 2 white pixels apart, in one 256-colour palette: the colour
    ramps (depth, disparity, flow) dithered so that they show no bands, the images and overlays not
    (dithering speckles their flat colours and edges)."""
    from PIL import Image

    pics = [Image.open(dataset / f).convert("RGB") for f, _ in entry.columns]
    gap = 2
    sheet = Image.new("RGB", (sum(p.width for p in pics) + gap * (len(pics) - 1), max(p.height for p in pics)),
                      "white")
    x = 0
    for p in pics:
        sheet.paste(p, (x, 0))
        x += p.width + gap
    palette = sheet.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    reduced = sheet.quantize(palette=palette, dither=Image.Dither.NONE)
    x = 0
    for p, (f, _) in zip(pics, entry.columns):
        if any(ramp in f for ramp in RAMPS):
            reduced.paste(p.quantize(palette=palette, dither=Image.Dither.FLOYDSTEINBERG), (x, 0))
        x += p.width + gap
    out.parent.mkdir(parents=True, exist_ok=True)
    reduced.save(out, optimize=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs",
                    help="the page goes to OUT/gallery.md, the pictures to OUT/img/gallery/ (default: docs)")
    ap.add_argument("--size", default=f"{SIZE[0]}x{SIZE[1]}", help="WxH of every frame (default %(default)s)")
    ap.add_argument("--samples", type=int, default=SAMPLES, help="render.samples (default %(default)s)")
    ap.add_argument("--only", action="append", metavar="NAME",
                    help="render only this entry (repeatable; the page is written whole)")
    args = ap.parse_args()
    size = tuple(int(v) for v in args.size.lower().split("x"))
    if len(size) != 2:
        ap.error(f"--size WxH, not {args.size!r}")
    from simgen.child_processes import ServedCommands

    todo = entries()
    names = {e.name for e in todo}
    unknown = sorted(set(args.only or ()) - names)
    if unknown:
        ap.error(f"no entry {', '.join(unknown)}; the entries: {', '.join(sorted(names))}")
    todo = [e for e in todo if not args.only or e.name in args.only]
    served = ServedCommands()
    work = Path(tempfile.mkdtemp(prefix="gallery_"))
    t0 = time.monotonic()
    try:
        (work / "fisheye.yaml").write_text(calibration(size))
        for e in todo:
            t = time.monotonic()
            log = work / f"{e.name}.log"
            code = served.run(e.command(size, args.samples, str(work)), log, cwd=work)
            if code:
                sys.stderr.write(log.read_text(errors="replace")[-3000:])
                print(f"{e.name}: simgen exited {code}: simgen {' '.join(e.command(size, args.samples))}",
                      file=sys.stderr)
                return 1
            target = args.out / "img" / "gallery" / f"{e.name}.png"
            picture(work / e.name, e, target)
            print(f"{target}: {target.stat().st_size / 1024:.0f} KB, {time.monotonic() - t:.1f} s", flush=True)
    finally:
        served.close()
        shutil.rmtree(work, ignore_errors=True)
    (args.out / "gallery.md").write_text(page(size, args.samples))
    print(f"{args.out / 'gallery.md'}: {len(todo)} picture(s) in {time.monotonic() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
