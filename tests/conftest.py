"""Shared fixtures: tiny datasets rendered once per test session (Cycles on the CPU)."""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import pytest

from simgen.config import RenderConfig, Settings
from simgen.compose.settings import validate
from simgen.recipes import Recipe

# Python's bytecode cache is work the test processes share: without it (PYTHONDONTWRITEBYTECODE, set
# on some machines, CI's among them) every worker rewrites the test modules' asserts again and every
# simgen process a test starts compiles simgen again. Written under __pycache__/ (git ignores it)
# by the workers and processes started after this (xdist's workers come later): the fast tier of a
# fresh clone 250 s -> 239 s on 2 cores (scripts/bench_suite.py; 238-240 s in three runs with a cache).
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.dont_write_bytecode = False


SLOW_FIRST = ("test_doc_blocks.py", "test_fit.py", "test_yolo_trainer.py", "test_interruptions.py", "test_experiment.py",
              "test_ray.py", "test_api.py",
              "test_bad_inputs.py", "test_world_lighting.py", "test_cluster.py", "test_torch_dataset.py",
              "test_shards.py")
"""The longest files, longest first: with -n (pyproject's addopts, --dist loadfile) the other
workers go through the short files meanwhile instead of waiting at the end for one of these."""


@pytest.fixture(scope="session", autouse=True)
def environment_cache(tmp_path_factory):
    """Environments (scene=environment) are extracted into a cache of the test session's own, not
    the user's ~/.cache: $SIMGEN_CACHE, which the tests' child processes inherit."""
    folder = tmp_path_factory.mktemp("simgen-cache")
    old = os.environ.get("SIMGEN_CACHE")
    os.environ["SIMGEN_CACHE"] = str(folder)
    yield folder
    if old is None:
        os.environ.pop("SIMGEN_CACHE", None)
    else:
        os.environ["SIMGEN_CACHE"] = old


@pytest.fixture(autouse=True)
def _own_logging():
    """The root logger's handlers and level as they were before each test. simgen's commands run
    in-process (tests/test_bad_inputs.py's run_in_process) let Hydra or basicConfig add handlers
    bound to that test's captured stderr, which pytest closes after it; left in place, the next
    test that logs (a stale work folder removed, which depends on what killed runs left in /tmp)
    prints 'Logging error ... I/O operation on closed file' into its own one-line stderr."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def require(what: str, present: bool, setup: str) -> None:
    """Tests install nothing: a test that needs ``what`` from outside Python (a one-node Slurm,
    a PostgreSQL server, Chromium, the client environment) calls this in its fixture. Absent,
    the test is skipped with a reason naming ``setup``, the command that sets it up (docs/contributing.md,
    "Tests that need a service"); with CI=true it fails instead, so that CI never counts a missing
    prerequisite as a pass (.ci/run sets everything up before the tests)."""
    if present:
        return
    why = f"{what} is not set up: run `{setup}` first (docs/contributing.md, \"Tests that need a service\")"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{why}; CI=true, where a missing prerequisite is a failure, not a skip", pytrace=False)
    pytest.skip(why)


def require_root_mounts() -> None:
    """A test that mounts a tmpfs in a mount namespace of its own (a full disk, a small /dev/shm)
    needs root and util-linux's unshare: through :func:`require`, so that CI (root) never skips it."""
    require("root with unshare (a test mounts a tmpfs in a namespace of its own)",
            os.geteuid() == 0 and shutil.which("unshare") is not None, "sudo .venv/bin/pytest ... (CI runs as root)")


def _postgres_reachable(url: str) -> bool:
    """A login to ``url`` (SQLAlchemy form) with its role and password succeeds within 3 s."""
    import psycopg2
    from sqlalchemy.engine import make_url

    u = make_url(url)
    try:
        psycopg2.connect(host=u.host, port=u.port, user=u.username, password=u.password, dbname=u.database,
                         connect_timeout=3).close()
    except psycopg2.OperationalError:
        return False
    return True


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The SQLAlchemy URL (postgresql+psycopg2://simgen:simgen@127.0.0.1:PORT/simgen_test) of the
    server that scripts/postgres_local.sh sets up, as its ``url`` prints it (SIMGEN_PG_PORT
    honoured); the server must be up already (marker ``postgres``)."""
    script = Path(__file__).resolve().parents[1] / "scripts" / "postgres_local.sh"
    url = subprocess.run(["bash", str(script), "url"], capture_output=True, text=True, check=True,
                         timeout=30).stdout.strip()
    require(f"a PostgreSQL server at {url}", _postgres_reachable(url), "sudo bash scripts/postgres_local.sh up")
    return url


@pytest.fixture(scope="session")
def people_library() -> Path:
    """A people library prepared for Anny (simgen.people.model): ``$SIMGEN_PEOPLE_LIBRARY``, else the
    repository's ``.people`` that .ci/run prepares (``simgen people prepare --library .people``)."""
    from simgen.people.model import LIBRARY_ENV, prepared

    env = os.environ.get(LIBRARY_ENV)
    path = Path(env) if env else Path(__file__).resolve().parents[1] / ".people"
    require("the [people] extra (Anny, torch)", importlib.util.find_spec("anny") is not None
            and importlib.util.find_spec("torch") is not None, "pip install -e '.[people]'")
    require("Anny's prepared model data", prepared(path) is not None, "simgen people prepare --library .people")
    return path


@pytest.fixture(scope="module")
def warp_cache(tmp_path_factory):
    """``$SIMGEN_WARP_CACHE`` in pytest's temporary folder for a test module: the compiled kernel of
    people's self-intersection check (people.self_intersection, on by default), never written into
    the (shared, maybe read-only) people library."""
    mp = pytest.MonkeyPatch()
    path = tmp_path_factory.mktemp("warp")
    mp.setenv("SIMGEN_WARP_CACHE", str(path))
    yield path
    mp.undo()


@pytest.fixture
def library(people_library, monkeypatch) -> Path:
    """The prepared people library (:func:`people_library`), also as ``$SIMGEN_PEOPLE_LIBRARY`` for the
    test's runs."""
    from simgen.people.model import LIBRARY_ENV

    monkeypatch.setenv(LIBRARY_ENV, str(people_library))
    return people_library


OWN_NAMES = re.compile(r"^\.?simgen[-_]")
"""simgen's names in /dev/shm and the temp folder: the scratch folders of the runs
(``simgen-PID-*``, simgen.io.scratch), and the temporary files and folders of the commands, the
scripts and the tests (``simgen-*``, ``simgen_*``). Other tools' (pytest's own ``pytest-of-USER``
among them, pytest's to manage) are not the suite's to judge."""
LEFT = pytest.StashKey[dict]()


def temp_places() -> list[Path]:
    """Where simgen and its tests make temporary things: the RAM disk and the temp folder."""
    return list(dict.fromkeys(p for p in (Path("/dev/shm"), Path(tempfile.gettempdir())) if p.is_dir()))


def own_entries(places: list[Path]) -> set[Path]:
    """The entries of ``places`` under simgen's names (:data:`OWN_NAMES`)."""
    found = set()
    for place in places:
        try:
            found |= {place / name for name in os.listdir(place) if OWN_NAMES.match(name)}
        except OSError:
            pass
    return found


def left_behind(before: set[Path], places: list[Path], settle_s: float = 5.0) -> tuple[list[Path], list[Path]]:
    """(left, stale): what was made in ``places`` under simgen's names since ``before`` (a
    snapshot) and is still there, waiting up to ``settle_s`` for what is on its way out (a
    process ending). A scratch work folder whose owner lock a live process holds is a run still
    going (another one on this machine): not counted. One whose lock is free was left by a killed
    run, and the next run removes it (simgen.io.scratch.remove_stale): removed here as that run
    would, and returned as ``stale``. Anything else is ``left``: made and not removed."""
    from simgen.io.locks import is_held
    from simgen.io.scratch import LOCK_NAME

    deadline, stale = time.monotonic() + settle_s, []
    while True:
        left = []
        for entry in sorted(own_entries(places) - before):
            lock = entry / LOCK_NAME
            if entry.is_dir() and not entry.is_symlink() and lock.is_file():
                if not is_held(lock):
                    shutil.rmtree(entry, ignore_errors=True)
                    stale.append(entry)
                continue
            if entry.exists() or entry.is_symlink():
                left.append(entry)
        if not left or time.monotonic() >= deadline:
            return left, stale
        time.sleep(0.25)


def pytest_sessionstart(session):
    """The snapshot :func:`pytest_sessionfinish` compares with, taken by the controller (under
    xdist, before the workers start)."""
    if not hasattr(session.config, "workerinput"):
        session.config.stash[LEFT] = {"before": own_entries(temp_places())}


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    """The suite leaves nothing in /dev/shm or the temp folder: after every test, fixture and
    worker has ended (trylast: after xdist has shut its workers down), each entry under simgen's
    names that the session made and left is an error, and the exit status not 0."""
    state = session.config.stash.get(LEFT, None)
    if state is None:  # an xdist worker: the controller checks, once all of them are done
        return
    state["left"], state["stale"] = left_behind(state["before"], temp_places())
    if state["left"] and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    state = config.stash.get(LEFT, None)
    if not state or not (state.get("left") or state.get("stale")):
        return
    if state["stale"]:
        terminalreporter.write_line(f"removed {len(state['stale'])} work folder(s) of killed runs, as the next run "
                                    f"would: {', '.join(map(str, state['stale']))}")
    if state["left"]:
        terminalreporter.write_sep("=", f"the tests left {len(state['left'])} thing(s) in /dev/shm or the temp folder",
                                   red=True, bold=True)
        for entry in state["left"]:
            terminalreporter.write_line(f"  {entry}")
        terminalreporter.write_line("made during this session under simgen's names and not removed: the code that "
                                    "makes each must remove it (tests/conftest.py, left_behind)")


def pytest_collection_modifyitems(items):
    rank = {name: k for k, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: file order kept


def recipe_module(name: str, make_sequence) -> types.ModuleType:
    """A recipe module for tests, named by its dotted path ``name`` (as a user's own recipe is,
    scene.recipe=NAME): tabletop's config (recipe = name) and ``make_sequence``; put it in
    sys.modules under that name to make it loadable."""
    from simgen.scenes.tabletop import Config as TabletopConfig

    config = dataclasses.make_dataclass("Config", [("recipe", str, dataclasses.field(default=name))],
                                        bases=(TabletopConfig,))
    module = types.ModuleType(name)
    module.RECIPE = Recipe(name=name, Config=config, make_sequence=make_sequence)
    return module


def tiny_settings(out: Path, *, frames: int = 4, start: int = 0, seed: int = 7, width: int = 128,
                  height: int = 96, samples: int = 4) -> Settings:
    """Settings of a small, quick render: the denoiser's fast prefilter, as a fit's renders (at these
    sizes the accurate one's two extra denoiser passes are most of a frame's render time)."""
    s = Settings(seed=seed, start=start, frames=frames)
    s.render = RenderConfig(width=width, height=height, samples=samples, device="cpu", denoise_prefilter="fast")
    s.output.dir = str(out)
    return validate(s)


def set_settings(s: Settings, **kw) -> Settings:
    """``group__name=value`` sets ``s.group.name`` (``name=value``: a top-level key); a name the
    settings do not declare fails here (setattr alone would add it and nothing would read it)."""
    for key, value in kw.items():
        group, _, name = key.rpartition("__")
        owner = getattr(s, group) if group else s
        assert name in {f.name for f in dataclasses.fields(owner)}, f"no setting {key.replace('__', '.')}"
        setattr(owner, name, value)
    return s


@pytest.fixture(scope="session")
def rendered(tmp_path_factory) -> Path:
    """Frames 0..3 of the default tabletop recipe, seed 7, 128x96, 4 samples."""
    from simgen.pipeline import run

    root = tmp_path_factory.mktemp("rendered")
    run(tiny_settings(root))
    return root


def dataset_files(root: Path) -> dict[str, bytes]:
    """Every file of a dataset but its logs (timings, per-run) and the writers' temporary files
    (``.NAME.HOST-PID-RANDOM.tmp``: what a killed run may leave, checked apart); dataset.json with
    its own folder (output.dir) written as <dir>."""
    files = {p.relative_to(root).as_posix(): p.read_bytes()
             for p in sorted(root.rglob("*")) if p.is_file() and "logs" not in p.relative_to(root).parts
             and not (p.name.startswith(".") and p.name.endswith(".tmp"))}
    files["dataset.json"] = files["dataset.json"].replace(str(root).encode(), b"<dir>")
    return files


def assert_same_dataset(a: Path, b: Path) -> None:
    ta, tb = dataset_files(a), dataset_files(b)
    assert ta.keys() == tb.keys()
    assert [k for k in ta if ta[k] != tb[k]] == []


SIMGEN = str(Path(sys.executable).with_name("simgen"))
"""The console script of the environment running the tests."""


class _Served:
    """This worker's child for :func:`simgen_cli` (simgen.child_processes.ServedCommands), started again when
    the environment it was started with has changed (a test's monkeypatch.setenv); ``end``: the
    second in which its last command ended."""

    child = None
    env: dict[str, str] = {}
    end = 0


def simgen_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``simgen ARGS`` in ``cwd`` to its end: in this worker's served child (``python -m
    simgen.cli.serve``, as a fit's and a study's renders run), its stdout and stderr apart, without
    starting Python, Hydra and Blender again (about 2 s a command on 2 cores). A served command
    writes what the command writes in a process of its own
    (test_child_processes.py::test_commands_served_in_one_process_write_what_each_command_writes);
    tests of the process itself (signals, its environment, the console script) start their own."""
    from simgen.child_processes import ServedCommands

    if _Served.child is None or _Served.env != dict(os.environ):
        if _Served.child is not None:
            _Served.child.close()
        _Served.child, _Served.env = ServedCommands(), dict(os.environ)
    if not any(a.startswith(("output.dir=", "hydra.run.dir=")) for a in args):
        while int(time.time()) <= _Served.end:  # Hydra names its run folder (outputs/DATE/TIME) by the second:
            time.sleep(0.05)                     # such a command starts after the second the last one ended in
    with tempfile.TemporaryDirectory(prefix="simgen-served-") as d:
        out, err = Path(d) / "stdout", Path(d) / "stderr"
        code = _Served.child.run(list(args), out, cwd=cwd, errfile=err, timeout=900)
        _Served.end = int(time.time())
        text = [f.read_text(errors="replace") if f.is_file() else "" for f in (out, err)]
    return subprocess.CompletedProcess(["simgen", *args], code, *text)


def people_cli(library: Path, *args: str, cwd: Path, warp: Path | None = None) -> subprocess.CompletedProcess:
    """:func:`simgen_cli` with people: ``$SIMGEN_PEOPLE_LIBRARY`` the prepared ``library`` and
    ``$SIMGEN_WARP_CACHE`` ``warp`` (default ``cwd/warp``: the self-intersection check's kernel, never
    written into the library) for this run only; the test fails unless the run succeeds."""
    from simgen.people.model import LIBRARY_ENV

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(LIBRARY_ENV, str(library))
        mp.setenv("SIMGEN_WARP_CACHE", str(warp if warp is not None else cwd / "warp"))
        r = simgen_cli(*args, cwd=cwd)
    assert r.returncode == 0, r.stderr[-3000:]
    return r


def blender_wrote(script: str, folder: Path, names: tuple[str, ...]) -> Path:
    """``folder`` once the bpy script ``script``, run by a child Python with ``folder`` as its
    argument, has written each file of ``names`` there (its stderr's end when it fails)."""
    r = subprocess.run([sys.executable, "-c", script, str(folder)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    for name in names:
        assert (folder / name).is_file(), name
    return folder


def wait_for_frames(out: Path, n: int, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    """Wait until the dataset at ``out`` holds ``n`` complete frames, while ``proc`` (which
    writes it) still runs; fail with its output if it ends first, or after ``timeout`` s."""
    t0 = time.monotonic()
    while len(list((out / "meta").glob("*.json"))) < n if (out / "meta").is_dir() else True:
        if proc.poll() is not None:
            stream = proc.stderr if proc.stderr is not None else proc.stdout
            raise AssertionError(f"the run ended before {n} frames: {stream.read() if stream else ''}")
        assert time.monotonic() - t0 < timeout, f"fewer than {n} frames after {timeout} s"
        time.sleep(0.02)


@pytest.fixture
def no_matplotlib(monkeypatch):
    """matplotlib made unimportable (as in an install without the `report` extra), and the
    charts' once-a-process warning armed again."""
    from simgen.report import mpl

    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")] + ["matplotlib"]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setattr(mpl, "_warned", False)
