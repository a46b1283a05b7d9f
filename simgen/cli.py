"""The ``simgen`` command: the project's only Hydra entry point.

    simgen output.dir=/data/run1 frames=200 seed=3 render.width=640 render.height=480

It turns the composed config into typed :class:`simgen.config.Settings` and calls the
pipeline; nothing below it sees a DictConfig. Bad input ends with one line on stderr
and exit status 2 (set HYDRA_FULL_ERROR=1 for the traceback).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from simgen import SimgenError

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
log = logging.getLogger("simgen")


def _fail(message: str, code: int = 2) -> None:
    print(f"simgen: error: {message}", file=sys.stderr, flush=True)
    sys.exit(code)


@hydra.main(config_path=str(CONFIG_DIR), config_name="config", version_base="1.3")
def _app(cfg: DictConfig) -> None:
    from simgen.config import to_settings
    from simgen.pipeline import run

    try:
        settings = to_settings(cfg)
        summary = run(settings, OmegaConf.to_container(cfg, resolve=True))
    except SimgenError as e:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        _fail(str(e))
    except KeyboardInterrupt:
        _fail("interrupted; the frames finished so far are complete on disk and in coco.json "
              "(run the same command again to render the rest)", 130)
    s = summary
    held = sorted(p.name + ("/" if p.is_dir() else "") for p in s.out_dir.iterdir() if not p.name.startswith("."))
    print(f"simgen: dataset in {s.out_dir}\n"
          f"  rendered {len(s.rendered)} frame(s)"
          + (f", kept {len(s.skipped)} already on disk" if s.skipped else "")
          + f"; {s.frames_on_disk} frame(s) on disk, {s.annotations} COCO annotation(s)\n"
          f"  {' '.join(held)} (layout: docs/dataset.md)", flush=True)
    total = sum(s.category_counts.values())
    if total:
        shares = ", ".join(f"{name} {n} ({100 * n / total:.0f} %)" for name, n in s.category_counts.items())
        print(f"  visible objects per category: {shares}", flush=True)


def main() -> None:
    if not (CONFIG_DIR / "config.yaml").is_file():
        _fail(f"config folder {CONFIG_DIR} not found: install simgen from its repository with "
              "`pip install -e .` so that configs/ and assets/ stay next to the package")
    _app()


if __name__ == "__main__":
    main()
