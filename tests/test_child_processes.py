"""Child processes do not import from the working directory (README, "Trust model"): a module
planted in the folder simgen is run from (a dataset, a download folder) is data, never code,
in the batches' processes and in a study's rendering and training children."""

import subprocess

import pytest

from conftest import SIMGEN

pytestmark = pytest.mark.render

TINY = ["render.width=48", "render.height=32", "render.samples=1", "render.device=cpu", "objects.count=[1,2]"]


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
    from simgen.experiment.runner import Dataset, render

    cwd, marker = tmp_path / "cwd", tmp_path / "imported"
    plant(cwd, marker, "simgen", "hydra", "omegaconf")
    monkeypatch.chdir(cwd)
    out = tmp_path / "data"
    ds = Dataset(name="arm", folder=out, frames=1, overrides=[*TINY, "frames=1", f"output.dir={out}"])
    result = render(ds, [], lambda line: None)
    assert not marker.exists(), marker.read_text()
    assert result["frames"] == 1 and (out / "meta" / "000000.json").is_file()
