"""``simgen --help``: simgen's own usage text, derived from the config declarations (groups and
their options, the common keys), with examples and where the docs are."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

from simgen.paths import CONFIG_DIR

HELP_FLAGS = ("-h", "--help")


def top_comment(path: Path) -> str:
    """The comment block at the top of a YAML file, as one line."""
    words = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        if not line.startswith("# @package"):
            words.append(line.lstrip("#").strip())
    return " ".join(words)


def describe(group: str, option: str) -> str:
    """What option ``group=option`` is for: the docstring of the dataclass it is, or the comment
    at the top of its file."""
    from simgen.compose.store import registered

    cls = registered(group, option)
    if cls is not None:
        return " ".join((cls.__doc__ or "").split())
    path = CONFIG_DIR / group / f"{option}.yaml"
    return top_comment(path) if path.is_file() else ""


COMMAND_LINE_DEFAULTS = {"output.dir": "outputs/DATE/TIME"}
"""Keys whose default on the command line is not the dataclass's: output.dir is Hydra's run folder
(simgen.config.RUN_FOLDER), outputs/DATE/TIME."""


def usage() -> str:
    """simgen's own --help text: groups and options, the common keys, examples, the docs."""
    from simgen.config import DEFAULT_RECIPE, Settings
    from simgen.compose.store import options as group_options
    from simgen.config.schema import allowed, default_of, field_docs, first_sentence, override_text, rule_of

    lines = ["usage: simgen [-m] [KEY=VALUE ...] [GROUP=OPTION ...]", "",
             "Render a labelled computer-vision dataset with Blender/Cycles: RGB images, instance and",
             "semantic masks, depth, normals, COCO annotations (and optical flow for sequences).", "",
             "Config groups (GROUP=OPTION: the group's default is its dataclass, other options configs/GROUP/OPTION.yaml):"]
    options = group_options()
    width = max(len(f"{g}={o}") for g, opts in options.items() for o in opts) + 2
    for group, opts in options.items():
        for opt in opts:
            lines.append(f"  {f'{group}={opt}':<{width}}{first_sentence(describe(group, opt))}")
    lines += ["", "Common keys (KEY=DEFAULT, what it is [what is allowed]; every key: docs/config.md):"]

    def walk(cls: type, prefix: str) -> None:
        docs, hints = field_docs(cls), typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if rule_of(f).common:
                shown = COMMAND_LINE_DEFAULTS.get(f"{prefix}{f.name}") or override_text(default_of(f))
                lines.append(f"  {prefix}{f.name}={shown}  "
                             f"{first_sentence(docs.get(f.name, ''))} [{allowed(f, hints[f.name])}]")
            t = hints.get(f.name)
            if cls is Settings and f.name == "scene":  # typed by the recipe: the default one's keys
                from simgen.recipes import load_recipe

                t = load_recipe(DEFAULT_RECIPE).Config
            if isinstance(t, type) and dataclasses.is_dataclass(t):
                walk(t, f"{prefix}{f.name}.")

    walk(Settings, "")
    lines += ["", "Examples:",
              "  simgen output.dir=/data/run1 frames=200 seed=3 render.width=640 render.height=480",
              "  simgen output.dir=/data/flow scene=flying sequence.length=10 frames=100",
              "  simgen output.dir=/data/dr lighting=wide materials=procedural scene.placement=physics",
              "  simgen output.dir=/data/run1 start=1000 frames=1000       # frames 1000..1999",
              "  simgen -m hydra/launcher=local 'shard.index=range(4)' shard.count=4 output.dir=/data/run1",
              "                                       # 4 shards at once (launchers: local, slurm, ray_local)",
              "  simgen -m experiment=dr_ablation                           # an overlay with a sweep: one dataset per job",
              "  simgen merge /data/all /data/part1 /data/part2             # datasets into one (hard links)",
              "  simgen inspect /data/run1 [--out report.html]              # HTML report: contact sheet, plots, warnings",
              "  simgen validate /data/run1 [--full]                        # consistency checks; exit 0 clean, 1 problems",
              "  simgen validate scene=flying 'output.formats=[yolo]'       # check a config as a run would; render nothing",
              "  simgen compare /data/run1 real/coco.json --images-b real/images  # how two datasets differ (HTML + JSON)",
              "  simgen fetch polyhaven hdris --library /data/lib --count 20  # assets into a library (also textures,",
              "                                       # models; ambientcg materials; gso models); docs/how-to/asset-libraries.md",
              "  simgen catalog /data/lib --out gso.yaml --categories map.yaml  # scanned objects -> objects.catalog",
              "  simgen people prepare --library /data/people               # the body model's data, once (people)",
              "  simgen fit target=/data/real/images name=shop              # fit the randomization to your images",
              "  simgen --config-dir fits/shop --config-name best frames=100 # render with the fitted settings",
              "  simgen study dr_gap [study.KEY=VALUE ...] [overrides ...]  # a study: arms rendered, detectors trained",
              "                                       # and scored (simgen study --help lists the studies)",
              "  simgen --cfg job                                           # print the composed config",
              "",
              f"The default scene is scene={DEFAULT_RECIPE}. Reference of every key: docs/config.md; the dataset",
              "layout: docs/dataset.md. Hydra's own options: simgen --hydra-help. Bad input ends with one",
              "line 'simgen: error: ...' and exit status 2 (HYDRA_FULL_ERROR=1 shows the traceback)."]
    return "\n".join(lines)
