"""The camera-effects picture of docs/how-to/camera-effects.md, and what the effects cost.

Renders one short sequence twice with the same seed, without effects and with
``effects=camera`` (the same command a user types, through the same config), and writes the
middle frame side by side (without | with), and below it the same crop of both enlarged 4x
where the flow is largest, to docs/img/camera_effects.png; prints the
frame's recorded draws (meta "effects") and the seconds apply_effects takes per frame at
the render size, per effect (median of --repeat runs).

    PYTHONPATH=. python scripts/effects_picture.py            # docs/img/camera_effects.png
    PYTHONPATH=. python scripts/effects_picture.py --width 320 --height 240 --out /tmp/x.png
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def render(out_dir: Path, args: argparse.Namespace, extra: list[str]) -> None:
    from simgen.compose.store import compose
    from simgen.pipeline import run
    from simgen.compose.settings import to_settings

    overrides = [f"seed={args.seed}", "frames=3", "sequence.length=3", f"scene={args.scene}",
                 f"render.width={args.width}", f"render.height={args.height}", f"render.samples={args.samples}",
                 "render.device=cpu", f"output.dir={out_dir}", *extra]
    cfg = compose(overrides)
    run(to_settings(cfg))


def side_by_side(a: np.ndarray, b: np.ndarray, gap: int = 2) -> np.ndarray:
    return np.concatenate([a, np.full((a.shape[0], gap, 3), 255, np.uint8), b], axis=1)


def crop_corner(flow: np.ndarray, h: int, w: int) -> tuple[int, int]:
    """Top-left corner of the h x w window with the largest summed flow length."""
    import cv2

    speed = cv2.boxFilter(np.linalg.norm(flow, axis=-1).astype(np.float32), -1, (w, h), normalize=False,
                          borderType=cv2.BORDER_CONSTANT)
    speed[:h // 2, :], speed[-(h - h // 2) + 1:, :], speed[:, :w // 2], speed[:, -(w - w // 2) + 1:] = 0, 0, 0, 0
    cy, cx = np.unravel_index(int(np.argmax(speed)), speed.shape)
    return int(cy - h // 2), int(cx - w // 2)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scene", default="flying")
    p.add_argument("--seed", type=int, default=4)
    p.add_argument("--width", type=int, default=224)
    p.add_argument("--height", type=int, default=168)
    p.add_argument("--samples", type=int, default=64)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--out", default=str(REPO / "docs" / "img" / "camera_effects.png"))
    args = p.parse_args()

    from simgen.config import EffectsConfig
    from simgen.imaging.effects import apply_effects, effects_rngs
    from simgen.io.files import read_png
    from simgen.color.tone import WHITE, display

    with tempfile.TemporaryDirectory() as tmp:
        plain, camera = Path(tmp) / "plain", Path(tmp) / "camera"
        render(plain, args, ["render.denoise=true"])
        render(camera, args, ["render.denoise=true", "effects=camera"])
        name = "000001"
        a, b = read_png(plain / "images" / f"{name}.png"), read_png(camera / "images" / f"{name}.png")
        meta = json.loads((camera / "meta" / f"{name}.json").read_text())
        flows = {d: np.load(camera / meta["flow"][d]["flow"]) for d in ("forward", "backward")}
        depth = np.load(camera / "depth" / f"{name}.npy")
        picture = side_by_side(a, b)
        # below: the same 4x-enlarged crop of both, where the flow is largest (blur, noise, JPEG)
        y, x = crop_corner(flows["forward"], a.shape[0] // 4, a.shape[1] // 4)
        crop = [np.repeat(np.repeat(im[y:y + a.shape[0] // 4, x:x + a.shape[1] // 4], 4, 0), 4, 1) for im in (a, b)]
        crops = side_by_side(*crop)
        white = np.full((2, picture.shape[1], 3), 255, np.uint8)
        picture = np.concatenate([picture, white, crops[:, :picture.shape[1]]], axis=0)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        from PIL import Image

        Image.fromarray(picture).save(args.out, "PNG", optimize=True)  # smallest lossless file for the docs
        print(f"wrote {args.out} ({Path(args.out).stat().st_size / 1024:.0f} KiB): frame 1 of a "
              f"{args.scene} sequence, without | with effects=camera")
        print("draws (meta['effects']):", json.dumps(meta["effects"]))

        print(f"apply_effects seconds per {args.width}x{args.height} frame (median of {args.repeat}; the linear "
              "image is the plain frame's sRGB decoded, the curve the standard one: the costs are the effects'):")
        K = np.array(meta["K"])
        linear = ((a / 255.0 + 0.055) / 1.055) ** 2.4
        linear = np.where(a / 255.0 <= 0.04045, a / 255.0 / 12.92, linear).astype(np.float32)
        for effect in ("motion_blur", "vignetting", "noise", "white_balance", "jpeg"):
            cfg = dataclasses.replace(EffectsConfig(), **{f"{effect}_probability": 1.0})
            times = []
            for r in range(args.repeat):
                t0 = time.perf_counter()
                apply_effects(linear, a, cfg, effects_rngs(0, r, r), K, flows, 1, depth,
                              to_display=lambda x: display(x, "standard"), white=WHITE["standard"])
                times.append(time.perf_counter() - t0)
            print(f"  {effect:14s} {float(np.median(times)):.4f}")


if __name__ == "__main__":
    sys.exit(main())
