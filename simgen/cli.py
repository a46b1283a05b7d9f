"""The ``simgen`` command: the project's only Hydra entry point.

    simgen output.dir=/data/run1 frames=200 seed=3 render.width=640 render.height=480

It turns the composed config into typed :class:`simgen.config.Settings` and calls the
pipeline; nothing below it sees a DictConfig. Bad input ends with one line on stderr
(``simgen: error: ...``) and exit status 2 (set HYDRA_FULL_ERROR=1 for the traceback):
simgen's own checks, and Hydra's (a misspelt key, an unknown group option, an override it
cannot parse), which :func:`main` checks before Hydra composes and words the same way.
``simgen --help`` prints simgen's usage, derived from the config declarations.

With ``output.dir`` set on the command line nothing is written to the working directory:
Hydra's own run folder becomes a temporary one, and the run's log is
``<output.dir>/logs/simgen.log`` (written once the dataset exists, so a rejected run leaves
nothing behind).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import sys
import tempfile
import typing
from pathlib import Path
from typing import Any, Callable

import hydra
from omegaconf import DictConfig, OmegaConf

from simgen import Interrupted, SimgenError
from simgen.core.paths import CONFIG_DIR

log = logging.getLogger("simgen")

LOG_FILE = Path("logs") / "simgen.log"
"""The run's log, relative to the dataset folder."""
HELP_FLAGS = ("-h", "--help")
PLAIN_FLAGS = ("-m", "--multirun", "-r", "--run")
"""Hydra flags that take no value; with any other flag simgen leaves the command to Hydra."""
_full_error = False


def _fail(message: str, code: int = 2, prog: str = "simgen") -> None:
    print(f"{prog}: error: {message}", file=sys.stderr, flush=True)
    sys.exit(code)


# ------------------------------------------------------------------ the run's log


class DatasetLog(logging.Handler):
    """Keeps the run's log records in memory until ``<out>/dataset.json`` exists, then writes
    them, and every later one, to ``<out>/logs/simgen.log``: a run rejected before it wrote a
    dataset leaves no log file behind (its error went to stderr)."""

    def __init__(self, out: Path, formatter: logging.Formatter | None = None) -> None:
        super().__init__(logging.NOTSET)
        self.out = out
        self.buffer: list[logging.LogRecord] = []
        self.stream: Any = None
        self.broken = False  # writing the file failed (full disk): the file is given up
        self.setFormatter(formatter or logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"))

    def _open(self) -> bool:
        if self.stream is None and (self.out / "dataset.json").is_file():
            path = self.out / LOG_FILE
            path.parent.mkdir(exist_ok=True)
            self.stream = open(path, "a", encoding="utf-8")
            for record in self.buffer:
                self.stream.write(self.format(record) + "\n")
            self.buffer.clear()
        return self.stream is not None

    def emit(self, record: logging.LogRecord) -> None:
        if self.broken:
            return
        try:
            if self._open():
                self.stream.write(self.format(record) + "\n")
                self.stream.flush()
            else:
                self.buffer.append(record)
        except OSError:  # a full disk: the console still has the record; the run reports the disk
            self.broken = True
        except Exception:  # logging must never end a run
            self.handleError(record)

    def close(self) -> None:
        try:
            if not self.broken and self._open():
                self.stream.close()
            elif self.stream is not None:
                self.stream.close()
        except OSError:
            pass
        self.stream, self.buffer = None, []
        super().close()


# ------------------------------------------------------------------ the Hydra app


@hydra.main(config_path=str(CONFIG_DIR), config_name="config", version_base="1.3")
def _app(cfg: DictConfig) -> None:
    from simgen.pipeline import run
    from simgen.settings import to_settings

    handler = None
    root = logging.getLogger()
    try:
        settings = to_settings(cfg)
        console = next((h.formatter for h in root.handlers if h.formatter is not None), None)
        handler = DatasetLog(Path(settings.output.dir).expanduser().resolve(), console)
        root.addHandler(handler)
        summary = run(settings, OmegaConf.to_container(cfg, resolve=True))
    except SimgenError as e:
        if _full_error:
            raise
        _fail(str(e))
    except Interrupted as e:
        s = e.summary
        print(f"simgen: stopped by {e.signal_name}: rendered {len(s.rendered)} frame(s); {s.frames_on_disk} "
              f"frame(s) complete in {s.out_dir}, all in coco.json and dataset.json (run the same command "
              "again to render the rest)", file=sys.stderr, flush=True)
        sys.exit(128 + e.signum)
    except KeyboardInterrupt:
        _fail("interrupted; the frames finished so far are complete on disk and in coco.json "
              "(run the same command again to render the rest)", 130)
    finally:
        if handler is not None:
            root.removeHandler(handler)
            handler.close()
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


# ------------------------------------------------------------------ checking overrides before Hydra


def _schema(recipes: list[str | None]) -> dict[str, Any]:
    """Top-level key -> its type (a dataclass for groups); ``scene`` -> the union of the
    recipes' Config fields (Any, unchecked, when an option's recipe is not known here)."""
    from simgen.config import Settings

    hints = typing.get_type_hints(Settings)
    out: dict[str, Any] = {f.name: hints[f.name] for f in dataclasses.fields(Settings)}
    scene: dict[str, Any] = {}
    for name in recipes:
        if name is None:
            out["scene"] = Any  # a scene option of the user's own (hydra.searchpath): Hydra checks its keys
            return out
        try:
            from simgen.recipes import load_recipe

            config = load_recipe(name).Config
        except SimgenError:
            continue  # an unknown recipe is reported with its choices later
        scene.update(typing.get_type_hints(config))
    out["scene"] = scene
    return out


def _parse_fix(text: str) -> str:
    """How to fix an override Hydra cannot parse: quote a plain value, else check the syntax."""
    key, _, value = text.partition("=")
    if value and not any(c in value for c in "'\"[]{}(),"):
        return "quote the value for Hydra, e.g. simgen \"" + f"{key}='{value}'" + '"'
    return ("check its brackets and quotes (Hydra's override syntax: key=value, key=[a,b], "
            "key={name: value}, key='quoted text')")


def check_overrides(overrides: list[str]) -> list[Any]:
    """Parse the command-line overrides as Hydra will and check every key and group option
    (every value of a sweep, before its first job runs); a one-line SimgenError with a "did you
    mean" for the first bad one. Returns the parsed overrides. The values are checked when the
    config is composed and converted (simgen.settings.to_settings)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    from simgen.configstore import options as group_options
    from simgen.configstore import registered
    from simgen.schema import check_key, did_you_mean

    parser = OverridesParser.create()
    parsed = []
    for text in overrides:
        try:
            parsed.append(parser.parse_override(text))
        except HydraException as e:
            reason = " ".join(str(e).split())
            raise SimgenError(f"cannot parse the override {text!r} ({reason}); {_parse_fix(text)}") from None
    options = group_options(overrides=overrides)
    recipes: list[str | None] = []
    for o in parsed:
        if o.key_or_group == "scene" and o.package is None and not o.is_delete():
            values = list(o.sweep_string_iterator()) if o.is_sweep_override() else [o.value()]
            for v in map(str, (v for v in values if v is not None)):
                if registered("scene", v):
                    recipes.append(v)
                elif v in options["scene"]:
                    recipes.append(None)  # a scene option file of the user's own: its recipe is known after composing
        if o.key_or_group == "scene.recipe" and not o.is_sweep_override():
            recipes.append(str(o.value()))
    if not any(o.key_or_group == "scene" for o in parsed):
        from simgen.config import DEFAULT_RECIPE

        recipes.append(DEFAULT_RECIPE)
    schema = _schema(recipes)
    for o in parsed:
        key = o.key_or_group
        if key.startswith("hydra") or o.is_add() or o.is_force_add() or o.package is not None:
            continue  # Hydra's own settings; '+' keys are checked against the schema after composing
        if key in options:
            if o.is_delete():
                continue
            values = list(o.sweep_string_iterator()) if o.is_sweep_override() else [o.value()]
            for v in values:
                if v is not None and str(v) not in options[key]:
                    guess = did_you_mean(str(v), options[key], prefix=f"{key}=")
                    raise SimgenError(f"unknown option {key}={v}; {guess + ' ' if guess else ''}"
                                      f"the options of {key} are {', '.join(options[key])}")
            continue
        if "/" in key:
            continue  # a group path Hydra resolves (e.g. a nested group); it reports unknown ones itself
        check_key(key, schema)
    return parsed


def _quote(path: str) -> str:
    return "'" + path.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _run_dir_overrides(parsed: list[Any], multirun: bool) -> tuple[list[str], str | None]:
    """With output.dir on the command line: no .hydra folder, and nothing in the working
    directory. Hydra's run folder goes to a temporary folder (removed afterwards); so does
    its sweep folder, except in a multirun into one output.dir (shards), where it is
    ``<output.dir>/logs/multirun``: launchers keep their jobs' files and logs there
    (submitit's must be on a file system the compute nodes share, as the dataset is)."""
    keys = {o.key_or_group for o in parsed}
    if "output.dir" not in keys or keys & {"hydra.run.dir", "hydra.sweep.dir"}:
        return [], None
    tmp = tempfile.mkdtemp(prefix="simgen-hydra-")
    sweep = tmp
    out = next(o for o in parsed if o.key_or_group == "output.dir")
    if multirun and not out.is_sweep_override():
        sweep = str(Path(str(out.value())).expanduser().absolute() / "logs" / "multirun")
    extra = [f"hydra.run.dir={_quote(tmp)}", f"hydra.sweep.dir={_quote(sweep)}"]
    if "hydra.output_subdir" not in keys:
        extra.append("hydra.output_subdir=null")
    return extra, tmp


# ------------------------------------------------------------------ --help


def _comment(path: Path) -> str:
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
    from simgen.configstore import registered

    cls = registered(group, option)
    if cls is not None:
        return " ".join((cls.__doc__ or "").split())
    path = CONFIG_DIR / group / f"{option}.yaml"
    return _comment(path) if path.is_file() else ""


def usage() -> str:
    """simgen's own --help text: groups and options, the common keys, examples, the docs."""
    from simgen.config import DEFAULT_RECIPE, Settings
    from simgen.configstore import options as group_options
    from simgen.schema import allowed, default_of, field_docs, first_sentence, override_text, rule_of

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
                lines.append(f"  {prefix}{f.name}={override_text(default_of(f))}  "
                             f"{first_sentence(docs.get(f.name, ''))} [{allowed(f, hints[f.name])}]")
            t = hints.get(f.name)
            if isinstance(t, type) and dataclasses.is_dataclass(t):
                walk(t, f"{prefix}{f.name}.")

    walk(Settings, "")
    lines += ["", "Examples:",
              "  simgen output.dir=/data/run1 frames=200 seed=3 render.width=640 render.height=480",
              "  simgen output.dir=/data/flow scene=flying sequence.length=10 frames=100",
              "  simgen output.dir=/data/dr lighting=wide materials=procedural placement=physics",
              "  simgen output.dir=/data/run1 start=1000 frames=1000       # frames 1000..1999",
              "  simgen -m hydra/launcher=local 'shard.index=range(4)' shard.count=4 output.dir=/data/run1",
              "                                       # 4 shards at once (launchers: local, slurm, ray_local)",
              "  simgen -m experiment=dr_ablation                           # one dataset per job",
              "  simgen merge /data/all /data/part1 /data/part2             # datasets into one (hard links)",
              "  simgen inspect /data/run1 [--out report.html]              # HTML report: contact sheet, plots, warnings",
              "  simgen validate /data/run1 [--full]                        # consistency checks; exit 0 clean, 1 problems",
              "  simgen compare /data/run1 real/coco.json --images-b real/images  # how two datasets differ (HTML + JSON)",
              "  simgen fetch polyhaven hdris --library /data/lib --count 20  # assets into a library (also textures,",
              "                                       # models; ambientcg materials; gso models); README: 'Asset libraries'",
              "  simgen catalog /data/lib --out gso.yaml --categories map.yaml  # scanned objects -> objects.catalog",
              "  simgen --cfg job                                           # print the composed config",
              "",
              f"The default scene is scene={DEFAULT_RECIPE}. Reference of every key: docs/config.md; the dataset",
              "layout: docs/dataset.md. Hydra's own options: simgen --hydra-help. Bad input ends with one",
              "line 'simgen: error: ...' and exit status 2 (HYDRA_FULL_ERROR=1 shows the traceback)."]
    return "\n".join(lines)


# ------------------------------------------------------------------ main


def merge_main(argv: list[str]) -> None:
    """``simgen merge OUT IN...``"""
    import argparse

    from simgen.io.merge import merge

    ap = argparse.ArgumentParser(
        prog="simgen merge", description="Merge simgen datasets into a new folder, files hard-linked (docs: README, "
        "'Rendering on a cluster'). Parts of one run (the same config and seed, e.g. shards in folders of their own) "
        "keep their frame indices and give what one run would have written; datasets of different configs (e.g. a "
        "sweep) become one training set: frames numbered again, one category list, unique ids, each frame's source "
        "in its meta.")
    ap.add_argument("out", help="the merged dataset's folder (new or empty)")
    ap.add_argument("inputs", nargs="+", metavar="in", help="dataset folders to merge, in this order")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        info = merge(args.out, args.inputs)
    except SimgenError as e:
        _fail(str(e))
    how = "different runs: frames numbered again" if "merged_from" in info else "parts of one run"
    print(f"simgen: merged {len(args.inputs)} dataset(s) into {Path(args.out).resolve()} ({how}): "
          f"{len(info['frames'])} frame(s), {len(info['categories'])} categories", flush=True)


def inspect_main(argv: list[str]) -> None:
    """``simgen inspect DIR [--out FILE.html] [--frames N] [--jobs J]``"""
    import argparse

    from simgen.report.inspect import inspect

    ap = argparse.ArgumentParser(
        prog="simgen inspect", description="Write a self-contained HTML report of a dataset (README: 'Look before you "
        "train'): a contact sheet of frames with box and mask overlays, depth, normals and flow; plots of category "
        "counts, objects per frame, box sizes and aspect ratios, visibility, brightness and clipping; warnings.")
    ap.add_argument("dir", help="the dataset's folder (output.dir of a run)")
    ap.add_argument("--out", default=None, help="the HTML file to write (default: DIR/inspect.html)")
    ap.add_argument("--frames", type=int, default=12, help="frames on the contact sheet, sampled evenly (default 12)")
    ap.add_argument("--jobs", type=int, default=0, help="worker processes for the pass over every frame "
                    "(default: one per CPU)")
    args = ap.parse_args(argv)
    try:
        path, stats = inspect(args.dir, args.out, frames=args.frames, jobs=args.jobs)
    except SimgenError as e:
        _fail(str(e))
    warnings = sum(n for n, _ in stats.warnings.values())
    print(f"simgen: report of {stats.frames} frame(s), {stats.annotations} annotation(s) in {path.resolve()}"
          + (f" ({warnings} frame warning(s))" if warnings else ""), flush=True)


def validate_main(argv: list[str]) -> None:
    """``simgen validate DIR [--full] [--jobs J]``: exit 0 when clean, 1 with a report, 2 on bad usage."""
    import argparse

    from simgen.report.validate import validate

    ap = argparse.ArgumentParser(
        prog="simgen validate", description="Check a dataset's consistency (README: 'Look before you train'): every "
        "frame's files present and readable, COCO against the label maps, ids and categories, finite depth, flow "
        "shapes and validity, meta against dataset.json. Exit status 0 when clean, 1 with a short report of the "
        "problems, 2 on bad usage.")
    ap.add_argument("dir", help="the dataset's folder (output.dir of a run)")
    ap.add_argument("--full", action="store_true", help="also the per-pixel checks: decode every PNG, semantic vs "
                    "instance vs COCO, depth inf exactly where nothing is hit, unit normals, flow finite where valid")
    ap.add_argument("--jobs", type=int, default=0, help="worker processes (default: one per CPU)")
    args = ap.parse_args(argv)
    try:
        report = validate(args.dir, full=args.full, jobs=args.jobs)
    except SimgenError as e:
        _fail(str(e))
    print(report.text(Path(args.dir), args.full), flush=True)
    sys.exit(0 if report.ok else 1)


def compare_main(argv: list[str]) -> None:
    """``simgen compare A B [--images-a DIR] [--images-b DIR] [--out FILE.html] [--frames N]``"""
    import argparse

    from simgen.report.compare import compare, table

    ap = argparse.ArgumentParser(
        prog="simgen compare", description="How two datasets differ (README: 'Compare two datasets'), without "
        "pretrained networks: colour, brightness, power spectrum and edge density of the images; categories, box "
        "size, centre and aspect, objects per image and visibility of the labels. Each as a Jensen-Shannon distance "
        "(0 identical .. 1 disjoint) and a plot, in one self-contained HTML file and a JSON beside it; the table, "
        "largest distance first, is printed.")
    ap.add_argument("a", help="a simgen dataset folder, or a COCO json file (images: --images-a)")
    ap.add_argument("b", help="a simgen dataset folder, or a COCO json file (images: --images-b)")
    ap.add_argument("--images-a", default=None, help="the folder A's COCO file_name entries are relative to "
                    "(default: the json file's folder)")
    ap.add_argument("--images-b", default=None, help="the same for B")
    ap.add_argument("--out", default=None, help="the HTML file to write (default: ./compare.html); the distances "
                    "go to the same name with .json")
    ap.add_argument("--frames", type=int, default=50, help="images per side for the image statistics, sampled "
                    "evenly (default 50); label statistics use every annotation")
    args = ap.parse_args(argv)
    try:
        path, jpath, rows = compare(args.a, args.b, args.out, frames=args.frames, images_a=args.images_a,
                                    images_b=args.images_b)
    except SimgenError as e:
        _fail(str(e))
    print(table(rows), flush=True)
    print(f"simgen: comparison in {path.resolve()} (distances: {jpath.resolve()})", flush=True)


def fetch_main(argv: list[str]) -> None:
    """``simgen fetch SOURCE KIND --library DIR [--count N | --ids a,b] ...``: exit 0 when every
    asset asked for is in the library, 1 when some failed (one line each), 2 on bad usage."""
    import argparse

    from simgen.assets.fetch import SOURCES, Request, fetch

    kinds = "; ".join(f"{name}: {', '.join(cls.kinds)}" for name, cls in SOURCES.items())
    ap = argparse.ArgumentParser(
        prog="simgen fetch", description="Download assets once into a local library folder (README: 'Asset "
        "libraries'): Poly Haven HDRIs, textures and models, ambientCG materials, Google Scanned Objects. Resumable "
        "(run the same command again), parallel, sizes and checksums checked, only CC0 and CC-BY (attribution "
        "recorded); writes LIB/manifest.json and an entry.json per asset. Rendering never downloads: copy the "
        f"folder to machines without internet. Sources and kinds: {kinds}.")
    ap.add_argument("source", help=f"where from: {', '.join(SOURCES)}")
    ap.add_argument("kind", help="what: hdris, textures, materials or models (as the source offers)")
    ap.add_argument("--library", required=True, metavar="DIR", help="the library folder (created if new)")
    ap.add_argument("--count", type=int, default=None, help="fetch the first N assets the source lists (after "
                    "--category and --tag); those already in the library count and are skipped")
    ap.add_argument("--ids", default=None, help="comma-separated asset ids, as on the source's website")
    ap.add_argument("--category", default=None, help="only assets in this category (the source's own names)")
    ap.add_argument("--tag", default=None, help="only assets with this tag (comma-separated: all of them)")
    ap.add_argument("--resolution", default=None, help="1k (default), 2k, 4k, 8k ...; Poly Haven and ambientCG")
    ap.add_argument("--format", default=None, help="hdr (default) or exr for HDRIs; jpg (default) or png for "
                    "textures and materials")
    ap.add_argument("--jobs", type=int, default=4, help="parallel downloads (default 4)")
    ap.add_argument("--api-url", default=None, metavar="URL", help="the source's API at another address (a "
                    "mirror or a test server); default: the source's public API")
    args = ap.parse_args(argv)
    ids = [i.strip() for i in args.ids.split(",") if i.strip()] if args.ids is not None else None
    if args.ids is not None and not ids:
        _fail("--ids names no id; give comma-separated asset ids", prog="simgen fetch")
    req = Request(args.kind, args.count, ids, args.category, args.tag, args.resolution, args.format)
    try:
        summary = fetch(args.source, args.kind, args.library, req, jobs=args.jobs, api_url=args.api_url)
    except SimgenError as e:
        _fail(str(e), prog="simgen fetch")
    except KeyboardInterrupt:
        _fail("interrupted; run the same command again to go on (complete files are kept, partial ones resumed)",
              130, prog="simgen fetch")
    print(summary.text(), flush=True)
    sys.exit(1 if summary.failed else 0)


def catalog_main(argv: list[str]) -> None:
    """``simgen catalog SRC --out catalog.yaml [--categories map.yaml] [--default-category NAME] [--scale S]``"""
    import argparse

    from simgen.assets.scanned import write_catalog

    ap = argparse.ArgumentParser(
        prog="simgen catalog", description="Turn scanned objects into a catalog for objects.catalog=PATH (README: "
        "'Asset libraries'): a library made by simgen fetch (its models), a Google Scanned Objects folder "
        "(<id>/meshes/model.obj, metadata.pbtxt) or a YCB folder (<id>/google_16k/textured.obj). Category per object "
        "from --categories, else the source's own metadata, else --default-category; objects with none are left out "
        "and named in one warning.")
    ap.add_argument("src", help="a library folder, or a folder of GSO or YCB object folders")
    ap.add_argument("--out", required=True, help="the catalog YAML to write; mesh paths in it are relative to its folder")
    ap.add_argument("--categories", default=None, metavar="MAP.yaml", help="{category: [ids or glob patterns]}; "
                    "the first category whose pattern matches an object's id is its category")
    ap.add_argument("--default-category", default=None, metavar="NAME", help="the category of objects that have "
                    "none (default: leave them out)")
    ap.add_argument("--scale", type=float, default=1.0, help="metres per mesh unit (default 1.0: GSO and YCB are "
                    "in metres)")
    args = ap.parse_args(argv)
    try:
        path, n, left_out = write_catalog(args.src, args.out, args.categories, args.default_category, args.scale)
    except SimgenError as e:
        _fail(str(e), prog="simgen catalog")
    if left_out:
        print(f"simgen catalog: warning: {len(left_out)} object(s) have no category and are left out (give "
              f"--categories or --default-category): {', '.join(left_out[:20])}"
              + (" ..." if len(left_out) > 20 else ""), file=sys.stderr, flush=True)
    print(f"simgen catalog: {n} object(s) in {path} (use it with objects.catalog={path})", flush=True)


# ------------------------------------------------------------------ experiments (studies)


def study_file(args: list[str]) -> Path | None:
    """The study named by an ``experiment=NAME`` (configs/experiment/NAME.yaml) or
    ``experiment=FILE.yaml`` argument, if that file describes a study (a ``study:`` node)."""
    from simgen.experiment.config import is_study_file

    for a in args:
        key, eq, value = a.partition("=")
        if key == "experiment" and eq and value and "," not in value:
            path = Path(value).expanduser() if value.endswith((".yaml", ".yml")) else \
                CONFIG_DIR / "experiment" / f"{value}.yaml"
            if is_study_file(path):
                return path
    return None


def check_dataset(overrides: list[str]) -> None:
    """Check a simgen command line as a run would (keys, options, every value) without rendering."""
    from simgen.configstore import compose
    from simgen.settings import to_settings

    check_overrides(overrides)
    to_settings(compose(overrides))


def study_main(path: Path, args: list[str]) -> None:
    """``simgen experiment=NAME [study.KEY=VALUE ...] [simgen overrides ...]``: run a study
    (simgen.experiment); the simgen overrides apply to every dataset it renders."""
    from simgen.experiment.config import load_study
    from simgen.experiment.runner import run_study

    flags = [a for a in args if a.startswith("-")]
    if flags:
        _fail(f"{path.stem} is a study, run as one command: drop {flags[0]} (study.launch=[-m,...] gives "
              "flags such as a launcher to the renders)")
    rest = [a for a in args if a.partition("=")[0] != "experiment"]
    try:
        study = load_study(path, [a for a in rest if a.startswith("study.")])
        run_study(study, [a for a in rest if not a.startswith("study.")], name=path.stem, validate=check_dataset)
    except SimgenError as e:
        _fail(str(e))
    except KeyboardInterrupt:
        _fail("interrupted; run the same command again to go on (finished datasets and training runs are kept)",
              130)


SUBCOMMANDS: dict[str, Callable[[list[str]], None]] = {
    "merge": merge_main, "inspect": inspect_main, "validate": validate_main, "compare": compare_main,
    "fetch": fetch_main, "catalog": catalog_main}
"""``simgen NAME ...``: commands on datasets beside the Hydra app (a first argument of that name)."""


def main() -> None:
    global _full_error
    if not (CONFIG_DIR / "config.yaml").is_file():
        _fail(f"config folder {CONFIG_DIR} not found: this simgen install is incomplete; reinstall it "
              "(`pip install simgen-*.whl`, or `pip install -e .` in a checkout)")
    from simgen.configstore import register

    register()  # the config groups' defaults are the declared dataclasses: stored before Hydra composes
    args = sys.argv[1:]
    if args and args[0] in SUBCOMMANDS:
        SUBCOMMANDS[args[0]](args[1:])
        return
    if any(a in HELP_FLAGS for a in args):
        print(usage(), flush=True)
        return
    study = study_file(args)
    if study is not None:
        study_main(study, args)
        return
    _full_error = os.environ.get("HYDRA_FULL_ERROR") == "1"
    flags = [a for a in args if a.startswith("-")]
    if any(f not in PLAIN_FLAGS for f in flags):
        try:
            _app()  # Hydra's own flags (--cfg, --info, ...): Hydra's own behaviour
        except ValueError as e:  # e.g. "Only one of --run, --multirun, --cfg ... can be specified"
            if _full_error:
                raise
            _fail(str(e))
        return
    overrides = [a for a in args if not a.startswith("-")]
    tmp = None
    try:
        try:
            parsed = check_overrides(overrides)
        except SimgenError as e:
            if _full_error:  # Hydra's own report of the same problem, with its traceback
                _app()
                return
            _fail(str(e))
        extra, tmp = _run_dir_overrides(parsed, multirun=bool({"-m", "--multirun"} & set(flags)))
        sys.argv = [sys.argv[0], *flags, *overrides, *extra]
        if _full_error:
            _app()
            return
        os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra raises instead of printing; we word it
        try:
            _app()
        except Exception as e:
            from hydra.errors import HydraException
            from omegaconf.errors import OmegaConfBaseException

            if not isinstance(e, (HydraException, OmegaConfBaseException)):
                raise
            from simgen.configstore import setting_error

            error = setting_error(e)  # e.g. a value of the wrong type: worded as simgen's own checks word it
            if error is not None:
                _fail(str(error))
            first = " ".join(str(e).strip().splitlines()[0].split()) if str(e).strip() else type(e).__name__
            _fail(f"{first} (HYDRA_FULL_ERROR=1 shows the details)")
        finally:
            os.environ.pop("HYDRA_FULL_ERROR", None)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
