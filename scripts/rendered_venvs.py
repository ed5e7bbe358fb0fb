"""Virtual environments that run rendered tests on every CPython Tracardi supports.

    python scripts/rendered_venvs.py          # build what is missing or stale; list them all
    python scripts/rendered_venvs.py --list   # build nothing; list what is found

Tracardi master declares python_requires>=3.10 and runs 3.10 in its images, so rendered code
must run on 3.10 with the oldest dependencies a master checkout may hold, and on the newer
interpreters with the newest we pin. Each (interpreter, dependency set) of MATRIX gets one venv
under .venvs/, built once and rebuilt only when the interpreter or a requirements file changes.
A lock per venv lets several processes ask for the same one at once.

Interpreters come from pyenv (`$(pyenv root)/versions`, the newest patch release of each
minor version) or else from `pythonX.Y` on PATH, as GitHub's setup-python leaves them.
"""

import argparse
import concurrent.futures
import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from render_helpers import REPO_ROOT

REQUIREMENTS = REPO_ROOT / "tests" / "rendered_requirements"
VENVS = REPO_ROOT / ".venvs"


@dataclass(frozen=True)
class Cell:
    """One interpreter and the dependency set its rendered tests run with."""

    python: str  # minor version, "3.10"
    dependencies: str  # a file stem under tests/rendered_requirements/

    @property
    def name(self) -> str:
        return f"py{self.python}-{self.dependencies}"


# The oldest set on the oldest interpreter, the newest set on every newer one.
MATRIX = (
    Cell("3.10", "oldest"),
    Cell("3.11", "newest"),
    Cell("3.12", "newest"),
    Cell("3.13", "newest"),
)
OLDEST_PYTHON = MATRIX[0].python


def pyenv_versions() -> Path | None:
    root = os.environ.get("PYENV_ROOT")
    if not root and shutil.which("pyenv"):
        found = subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=False)
        root = found.stdout.strip() if found.returncode == 0 else None
    return Path(root) / "versions" if root else None


def find_interpreter(minor: str) -> Path | None:
    """The newest CPython `minor` (e.g. "3.10") this machine has, or None."""
    versions = pyenv_versions()
    if versions and versions.is_dir():
        releases = [
            path
            for path in versions.iterdir()
            if re.fullmatch(rf"{re.escape(minor)}\.\d+", path.name)
            and (path / "bin" / f"python{minor}").is_file()
        ]
        if releases:
            newest = max(releases, key=lambda path: int(path.name.rsplit(".", 1)[1]))
            return newest / "bin" / f"python{minor}"
    on_path = shutil.which(f"python{minor}")
    return Path(on_path) if on_path else None


def requirement_lines(path: Path) -> Iterator[str]:
    """The lines of a requirements file with its -r and -c files, for the cache key."""
    for line in path.read_text().splitlines():
        yield line
        included = re.match(r"-[rc]\s+(\S+)", line.strip())
        if included:
            yield from requirement_lines((path.parent / included.group(1)).resolve())


def interpreter_version(interpreter: Path) -> str:
    return subprocess.run(
        [interpreter, "-c", "import sys; print(sys.version)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def cache_key(interpreter: Path, requirements: Path) -> str:
    text = "\n".join(
        [str(interpreter), interpreter_version(interpreter), *requirement_lines(requirements)]
    )
    return hashlib.sha256(text.encode()).hexdigest()


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def venv_python(cell: Cell) -> Path:
    return VENVS / cell.name / "bin" / "python"


def ensure_venv(cell: Cell, interpreter: Path) -> Path:
    """The venv of `cell`, built first if it is missing or stale; its python."""
    requirements = REQUIREMENTS / f"{cell.dependencies}.txt"
    target = VENVS / cell.name
    marker = target / ".built"
    key = cache_key(interpreter, requirements)
    with locked(VENVS / f"{cell.name}.lock"):
        if marker.is_file() and marker.read_text() == key:
            return venv_python(cell)
        shutil.rmtree(target, ignore_errors=True)
        # No pip of its own: this process's pip installs into it (`pip --python`), which
        # spares bootstrapping pip four times.
        subprocess.run([interpreter, "-m", "venv", "--without-pip", target], check=True)
        pip: list[str | Path] = [sys.executable, "-m", "pip", "--python", venv_python(cell)]
        install = [*pip, "--disable-pip-version-check", "install", "--quiet"]
        result = subprocess.run(
            [*install, "-r", requirements], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            shutil.rmtree(target, ignore_errors=True)
            raise RuntimeError(
                f"installing {requirements} for Python {cell.python} failed:\n{result.stderr}"
            )
        marker.write_text(key)
    return venv_python(cell)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="build nothing")
    arguments = parser.parse_args()
    found = {cell: find_interpreter(cell.python) for cell in MATRIX}
    missing = [cell.python for cell, interpreter in found.items() if interpreter is None]
    # Installing is mostly waiting for downloads and disk: two at a time.
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        built = {
            cell: pool.submit(ensure_venv, cell, interpreter)
            for cell, interpreter in found.items()
            if interpreter is not None and not arguments.list
        }
    for cell, interpreter in found.items():
        if interpreter is None:
            print(f"{cell.name}: no Python {cell.python} found")
        else:
            python = built[cell].result() if cell in built else venv_python(cell)
            print(f"{cell.name}: {interpreter} -> {python}")
    if missing and os.environ.get("CI") == "true":
        print(
            f"CI needs every Python of the matrix; missing: {', '.join(missing)}", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
