"""What the fetch scripts share: a PyPI wheel pinned by its sha256, downloaded once with pip and
then deleted, and the run around it (nothing to do when the folder is there; a failure is one line).

scripts/fetch_environment.py (ManiSkill's kitchen counter) and scripts/fetch_robots.py
(dm_control's models) each say which wheel, how to tell that ``--out`` already holds what they
take from it, and how to take it; this module downloads, checks and reports.
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


@dataclass(frozen=True)
class PinnedWheel:
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
        got = sha256_of(wheel)
        if got != self.sha256:
            raise Failure(f"{self.wheel} has sha256 {got}, not the pinned {self.sha256}: refusing a wheel that is not "
                          "the one checked (a different build on the index, or a corrupt download)")
        return wheel

    def fetch(self, prog: str, out: Path, present: Callable[[Path], bool], extract: Callable[[Path, Path], None],
              there: str, size: str, done: str) -> int:
        """The run of a fetch script named ``prog``: nothing when ``present(out)`` (printing ``there``),
        else the wheel (about ``size``) downloaded into a temporary folder, ``extract(wheel, out)``, the
        wheel deleted and ``done`` printed. 0, or 1 after one line on stderr."""
        try:
            if present(out):
                print(there)
                return 0
            if out.exists() and not out.is_dir():
                raise Failure(f"--out {out} is a file; give a folder")
            print(f"downloading {self.package}=={self.version} (about {size}) with pip ...", flush=True)
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
