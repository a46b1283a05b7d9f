"""Child processes do not import from the working directory (docs/explanation/trust-model.md): a module
planted in the folder simgen is run from (a dataset, a download folder) is data, never code,
in the batches' processes and in a study's rendering and training children; and none renders on
after the process that started it is killed."""

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import SIMGEN, assert_same_dataset, wait_for_frames

pytestmark = pytest.mark.render

TINY = ["render.width=48", "render.height=32", "render.samples=1", "render.device=cpu", "objects.count=[1,2]"]


def alive(pid: int) -> bool:
    try:
        return open(f"/proc/{pid}/stat").read().split(")")[-1].split()[0] not in "ZX"
    except FileNotFoundError:
        return False


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().split(")")[-1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (FileNotFoundError, ProcessLookupError, ValueError):
            pass
    return found


def plant(cwd, marker, *modules):
    """Modules in ``cwd`` that would leave ``marker`` behind if imported."""
    for module in modules:
        (cwd / module).mkdir(parents=True)
        (cwd / module / "__init__.py").write_text(f"open({str(marker)!r}, 'a').write({module!r} + ' ')\n"
                                                  "raise ImportError('planted module imported')\n")


def test_batch_processes_do_not_import_from_the_working_directory(tmp_path):
    cwd, marker = tmp_path / "cwd", tmp_path / "imported"
    plant(cwd, marker, "multiprocessing", "simgen", "hydra")
    r = subprocess.run([SIMGEN, f"output.dir={tmp_path / 'out'}", *TINY, "frames=2", "render.recycle_every=1"],
                       cwd=cwd, capture_output=True, text=True, timeout=600)
    assert not marker.exists(), marker.read_text()
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "out" / "meta").iterdir()) == ["000000.json", "000001.json"]


def test_a_studys_render_child_does_not_import_from_the_working_directory(tmp_path, monkeypatch):
    from simgen.experiment.runner import Dataset, render_dataset

    cwd, marker = tmp_path / "cwd", tmp_path / "imported"
    plant(cwd, marker, "simgen", "hydra", "omegaconf")
    monkeypatch.chdir(cwd)
    out = tmp_path / "data"
    ds = Dataset(name="arm", folder=out, frames=1, overrides=[*TINY, "frames=1", f"output.dir={out}"])
    result = render_dataset(ds, [], lambda line: None)
    assert not marker.exists(), marker.read_text()
    assert result["frames"] == 1 and (out / "meta" / "000000.json").is_file()


@pytest.mark.parametrize("tied, served", [(True, False), (False, False), (True, True)])
def test_a_render_child_stops_when_the_process_that_started_it_is_killed(tmp_path, tied, served):
    """A fit or a study renders through `simgen` children; kill -9 of the fit must not leave one
    rendering on into the folder that the same command, run again, renders into too. Untied (any
    other child), it goes on: the test can tell. served: the command runs in a fit's render child
    (simgen.cli.serve), sent on its input."""
    import json
    import sys

    out = tmp_path / "out"
    args = [f"output.dir={out}", "frames=100000", *TINY]
    request = json.dumps({"args": args, "log": str(tmp_path / "render.log")})
    # served: started as a fit starts it, from a thread that ends before the render (a fit's render thread)
    start = ("import threading\nstarted = []\nt = threading.Thread(target=lambda: started.append(subprocess.Popen("
             "[sys.executable, '-m', 'simgen.cli.serve'], stdin=subprocess.PIPE, env=child_env(), "
             "stdout=subprocess.DEVNULL, text=True)))\nt.start()\nt.join()\np = started[0]\n"
             f"p.stdin.write({request!r} + '\\n')\np.stdin.flush()\n" if served else
             f"p = subprocess.Popen([sys.executable, '-m', 'simgen.cli', *{args!r}], env=child_env(tied={tied}), "
             "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n")
    script = ("import subprocess, sys, time\n"
              "from simgen.child_processes import child_env\n" + start +
              "print(p.pid, flush=True)\ntime.sleep(600)\n")
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())

    try:
        wait_for_frames(out, 1, parent)
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + (60 if tied else 3)
        while alive(child) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert alive(child) != tied
    finally:
        if alive(child):
            os.kill(child, signal.SIGKILL)
    if tied:  # it stopped as after any SIGTERM: every frame on disk is listed, the same command resumes
        frames = json.loads((out / "dataset.json").read_text())["frames"]
        assert frames and len(frames) == len(list((out / "meta").glob("*.json")))


def test_a_batch_stops_when_its_run_is_killed(tmp_path):
    """render.recycle_every renders in a process per batch: kill -9 of the run must not leave the
    batch rendering on (before, one did, at a full core, until it had rendered every frame)."""
    out = tmp_path / "out"
    run = subprocess.Popen([SIMGEN, f"output.dir={out}", *TINY, "frames=100000", "render.recycle_every=50000"],
                           cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    batch = None
    try:
        wait_for_frames(out, 1, run)
        (batch,) = [c for c in children(run.pid) if "spawn_main" in Path(f"/proc/{c}/cmdline").read_text()]
        run.kill()
        run.wait()
        deadline = time.monotonic() + 60
        while alive(batch) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not alive(batch), "the batch renders on without its run"
    finally:
        run.kill()
        if batch is not None and alive(batch):
            os.kill(batch, signal.SIGKILL)


@pytest.mark.slow  # 7 small renders: about 20 s
def test_commands_served_in_one_process_write_what_each_command_writes(tmp_path):
    """A fit's and a study's render child (simgen.cli.serve) runs its commands one after another
    in one process: each dataset is the one `simgen ARGS` writes in a process of its own (nothing
    of one command leaks into the next), a bad command fails as the command does, with its one line
    in its log; a command with a folder of its own runs there (a relative output.dir lands in it),
    and one without a log writes to the child's stderr, the replies staying one JSON line each."""
    import json
    import sys

    commands = {"a": [*TINY, "frames=2", "seed=1"], "bad": ["render.widht=64"],
                "b": [*TINY, "frames=2", "seed=2", "scene=flying"], "c": [*TINY, "frames=2", "seed=3"]}
    served, alone, elsewhere = tmp_path / "served", tmp_path / "alone", tmp_path / "elsewhere"
    dataset = {"a": served / "a", "bad": served / "bad", "b": served / "b", "c": elsewhere / "c"}
    requests = [{"args": [*args, f"output.dir={served / name}"], "log": str(served / f"{name}.log")}
                for name, args in commands.items() if name != "c"]
    requests.append({"args": [*commands["c"], "output.dir=c"], "log": None, "cwd": str(elsewhere)})
    for folder in (served, alone, elsewhere):
        folder.mkdir()
    r = subprocess.run([sys.executable, "-m", "simgen.cli.serve"], input="".join(json.dumps(q) + "\n" for q in requests),
                       capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert [json.loads(line)["code"] for line in r.stdout.splitlines()] == [0, 2, 0, 0]
    assert (served / "bad.log").read_text().strip() == \
        "simgen: error: unknown key 'render.widht'; did you mean 'render.width'? (simgen --help lists the keys)"
    assert f"dataset in {elsewhere / 'c'}" in r.stderr and not (tmp_path / "c").exists()
    for name in ("a", "b", "c"):
        if name != "c":
            assert "dataset in" in (served / f"{name}.log").read_text()
        out = "c" if name == "c" else alone / name  # c as it was served: a relative output.dir in its folder
        one = subprocess.run([SIMGEN, *commands[name], f"output.dir={out}"], capture_output=True, text=True,
                             timeout=600, cwd=alone)
        assert one.returncode == 0, one.stderr
        assert_same_dataset(alone / name, dataset[name])


def test_a_fits_render_child_is_started_again_after_a_crash_and_after_its_share_of_renders(tmp_path):
    """simgen.child_processes.ServedCommands (a fit's renders): a child that dies in a render (here kill -9) fails that render
    with its status, and the next render gets a new child; so does every RESTART-th render; a
    command past its timeout is killed."""
    import threading

    from simgen.child_processes import ServedCommands

    child = ServedCommands()
    try:
        assert child.run(["render.widht=1"], tmp_path / "bad.log") == 2  # a command's own status comes back
        first = child.proc.pid
        out, result = tmp_path / "out", []
        render = threading.Thread(target=lambda: result.append(
            child.run([f"output.dir={out}", "frames=100000", *TINY], tmp_path / "long.log")))
        render.start()
        wait_for_frames(out, 1, child.proc)
        os.kill(first, signal.SIGKILL)
        render.join(60)
        assert result == [-signal.SIGKILL]
        assert child.run(["render.widht=1"], tmp_path / "bad2.log") == 2 and child.proc.pid != first
        child.RESTART, second = 1, child.proc.pid
        assert child.run(["render.widht=1"], tmp_path / "bad3.log") == 2 and child.proc.pid != second
        child.RESTART = 16  # a command past its timeout: the child is killed, the status says so
        t0 = time.monotonic()
        endless = [f"output.dir={tmp_path / 'endless'}", "frames=100000", *TINY]
        assert child.run(endless, tmp_path / "endless.log", timeout=3) == -signal.SIGKILL
        assert time.monotonic() - t0 < 60 and child.proc is None
    finally:
        child.close()
    assert child.proc is None
