"""``simgen NAME ...``: the commands beside the Hydra app (merge, inspect, validate, compare, fetch,
catalog, people; fit and study, in modules of their own), each with its own usage and exit status."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Callable

from simgen.errors import SimgenError
from simgen.cli.errors import fail
from simgen.cli.fit import fit_main
from simgen.cli.study import study_main


def merge_main(argv: list[str]) -> None:
    """``simgen merge OUT IN...``"""
    import argparse

    from simgen.io.dataset.merge import merge

    ap = argparse.ArgumentParser(
        prog="simgen merge", description="Merge simgen datasets into a new folder, files hard-linked ("
        "docs/how-to/cluster.md). Parts of one run (the same config and seed, e.g. shards in folders of their own) "
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
        fail(str(e))
    how = "different runs: frames numbered again" if "merged_from" in info else "parts of one run"
    print(f"simgen: merged {len(args.inputs)} dataset(s) into {Path(args.out).resolve()} ({how}): "
          f"{len(info['frames'])} frame(s), {len(info['categories'])} categories", flush=True)


def inspect_main(argv: list[str]) -> None:
    """``simgen inspect DIR [--out FILE.html] [--frames N] [--jobs J]``"""
    import argparse

    from simgen.report.inspect import inspect

    ap = argparse.ArgumentParser(
        prog="simgen inspect", description="Write a self-contained HTML report of a dataset ("
        "docs/how-to/inspect.md): a contact sheet of frames with box and mask overlays, depth, normals and flow; "
        "plots of category counts, objects per frame, box sizes and aspect ratios, visibility, brightness and "
        "clipping; warnings.")
    ap.add_argument("dir", help="the dataset's folder (output.dir of a run)")
    ap.add_argument("--out", default=None, help="the HTML file to write (default: DIR/inspect.html)")
    ap.add_argument("--frames", type=int, default=12, help="frames on the contact sheet, sampled evenly (default 12)")
    ap.add_argument("--jobs", type=int, default=0, help="worker processes for the pass over every frame "
                    "(default: one per CPU)")
    args = ap.parse_args(argv)
    try:
        path, stats = inspect(args.dir, args.out, frames=args.frames, jobs=args.jobs)
    except SimgenError as e:
        fail(str(e))
    warnings = sum(n for n, _ in stats.warnings.values())
    print(f"simgen: report of {stats.frames} frame(s), {stats.annotations} annotation(s) in {path.resolve()}"
          + (f" ({warnings} frame warning(s))" if warnings else ""), flush=True)


def validate_main(argv: list[str]) -> None:
    """``simgen validate DIR [--full] [--jobs J]``: exit 0 when clean, 1 with a report, 2 on bad usage.
    ``simgen validate KEY=VALUE ...``: the config of those overrides checked as ``simgen`` would
    run it, nothing rendered: exit 0 with a summary, 2 with the one line that a run would end with."""
    import argparse

    from simgen.report.validate import validate

    words = [a for a in argv if not a.startswith("-")]
    if any("=" in a for a in words) and not any(Path(a).is_dir() for a in words):  # overrides, not a dataset
        validate_config(argv)
        return
    ap = argparse.ArgumentParser(
        prog="simgen validate", description="Check a dataset's consistency (docs/how-to/inspect.md): every "
        "frame's files present and readable, COCO against the label maps, ids and categories, finite depth, flow "
        "shapes and validity, meta against dataset.json. Exit status 0 when clean, 1 with a short report of the "
        "problems, 2 on bad usage. With KEY=VALUE arguments instead of DIR: check that config as simgen would "
        "run it (every setting, the files it names, formats and the labels they need, lenses, uploads, optional "
        "modules), rendering nothing.")
    ap.add_argument("dir", help="the dataset's folder (output.dir of a run)")
    ap.add_argument("--full", action="store_true", help="also the per-pixel checks: decode every PNG, semantic vs "
                    "instance vs COCO, depth inf exactly where nothing is hit, unit normals, flow finite where valid")
    ap.add_argument("--jobs", type=int, default=0, help="worker processes (default: one per CPU)")
    args = ap.parse_args(argv)
    try:
        report = validate(args.dir, full=args.full, jobs=args.jobs)
    except SimgenError as e:
        fail(str(e))
    print(report.text(Path(args.dir), args.full), flush=True)
    sys.exit(0 if report.ok else 1)


def validate_config(overrides: list[str]) -> None:
    """``simgen validate KEY=VALUE ...``: :func:`simgen.cli.study.check_dataset` of the overrides
    (the check every entry point shares), and a line saying what the config would render."""
    from simgen.cli.study import check_dataset
    from simgen.compose.settings import outputs

    flags = [a for a in overrides if a.startswith("-")]
    if flags:
        fail(f"simgen validate KEY=VALUE ... takes overrides only, not {flags[0]} (simgen validate --help)")
    if not any(a.partition("=")[0].lstrip("+~") == "output.dir" for a in overrides):
        overrides = [*overrides, "output.dir=outputs/validate"]  # the run folder's default needs Hydra's run; unused
    try:
        s = check_dataset(overrides)
        asked = outputs(s)
    except SimgenError as e:
        fail(str(e))
    print(f"simgen: the config is valid (nothing rendered): scene={s.scene.recipe}, {s.frames} frame(s) of "
          f"{s.render.width}x{s.render.height}, labels {[k.name for k in asked.kinds]}, formats "
          f"{[e.name for e in asked.formats]}", flush=True)


def compare_main(argv: list[str]) -> None:
    """``simgen compare A B [--images-a DIR] [--images-b DIR] [--out FILE.html] [--frames N]``"""
    import argparse

    from simgen.report.compare import compare, table

    ap = argparse.ArgumentParser(
        prog="simgen compare", description="How two datasets differ (docs/how-to/compare.md), without "
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
        fail(str(e))
    print(table(rows), flush=True)
    print(f"simgen: comparison in {path.resolve()} (distances: {jpath.resolve()})", flush=True)


def fetch_main(argv: list[str]) -> None:
    """``simgen fetch SOURCE KIND --library DIR [--count N | --ids a,b] ...``: exit 0 when every
    asset asked for is in the library, 1 when some failed (one line each), 2 on bad usage."""
    import argparse

    from simgen.assets.fetch import SOURCES, Request, fetch

    kinds = "; ".join(f"{name}: {', '.join(cls.kinds)}" for name, cls in SOURCES.items())
    ap = argparse.ArgumentParser(
        prog="simgen fetch", description="Download assets once into a local library folder ("
        "docs/how-to/asset-libraries.md): Poly Haven HDRIs, textures and models, ambientCG materials, Google "
        "Scanned Objects. Resumable (run the same command again), parallel, sizes and checksums checked, only CC0 "
        "and CC-BY (attribution recorded); writes LIB/manifest.json and an entry.json per asset. Rendering never "
        f"downloads: copy the folder to machines without internet. Sources and kinds: {kinds}.")
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
        fail("--ids names no id; give comma-separated asset ids", prog="simgen fetch")
    req = Request(args.kind, args.count, ids, args.category, args.tag, args.resolution, args.format)
    try:
        summary = fetch(args.source, args.kind, args.library, req, jobs=args.jobs, api_url=args.api_url)
    except SimgenError as e:
        fail(str(e), prog="simgen fetch")
    except KeyboardInterrupt:
        fail("interrupted; run the same command again to go on (complete files are kept, partial ones resumed)",
             130, prog="simgen fetch")
    print(summary.text(), flush=True)
    sys.exit(1 if summary.failed else 0)


def catalog_main(argv: list[str]) -> None:
    """``simgen catalog SRC --out catalog.yaml [--categories map.yaml] [--default-category NAME] [--scale S]``"""
    import argparse

    from simgen.assets.scanned import write_catalog

    ap = argparse.ArgumentParser(
        prog="simgen catalog", description="Turn scanned objects into a catalog for objects.catalog=PATH ("
        "docs/how-to/asset-libraries.md): a library made by simgen fetch (its models), a Google Scanned "
        "Objects folder (<id>/meshes/model.obj, metadata.pbtxt) or a YCB folder (<id>/google_16k/textured.obj). "
        "Category per object from --categories, else the source's own metadata, else --default-category; objects "
        "with none are left out and named in one warning.")
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
        fail(str(e), prog="simgen catalog")
    if left_out:
        print(f"simgen catalog: warning: {len(left_out)} object(s) have no category and are left out (give "
              f"--categories or --default-category): {', '.join(left_out[:20])}"
              + (" ..." if len(left_out) > 20 else ""), file=sys.stderr, flush=True)
    print(f"simgen catalog: {n} object(s) in {path} (use it with objects.catalog={path})", flush=True)


def people_main(argv: list[str]) -> None:
    """``simgen people prepare [--library DIR]``: exit 0 when the library is prepared (now or before),
    2 on bad usage or when it cannot be (one line)."""
    import argparse

    from simgen.people.model import LIBRARY_ENV, DEFAULT_LIBRARY, prepare

    ap = argparse.ArgumentParser(
        prog="simgen people", description="People (docs/how-to/people.md): the body model Anny (the [people] "
        "extra). prepare: build Anny's model data once into a local library folder (about 5 minutes and 1.8 GB of "
        "memory; nothing is downloaded), keeping the one 51 MB file renders load; running it again does nothing.")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND", required=True)
    prep = sub.add_parser("prepare", help="build Anny's model data into the library (once)")
    prep.add_argument("--library", default=None, metavar="DIR", help=f"the library folder (default: "
                      f"${LIBRARY_ENV}, else {DEFAULT_LIBRARY}); a render reads the library ${LIBRARY_ENV} names")
    args = ap.parse_args(argv)
    try:
        prepare(args.library, log=lambda line: print(line, flush=True))
    except SimgenError as e:
        fail(str(e), prog="simgen people")
    except KeyboardInterrupt:
        fail("interrupted; run the same command again (it starts over: nothing half-built is kept)", 130,
             prog="simgen people")


SUBCOMMANDS: dict[str, Callable[[list[str]], None]] = {
    "merge": merge_main, "inspect": inspect_main, "validate": validate_main, "compare": compare_main,
    "fetch": fetch_main, "catalog": catalog_main, "fit": fit_main, "study": study_main, "people": people_main}
"""``simgen NAME ...``: commands beside the Hydra app (a first argument of that name)."""
