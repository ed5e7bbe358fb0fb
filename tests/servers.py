"""What the tests of an example against a real server share: the variables that name the
server (a skip without them, a failure where the server is required), the Python 3.10 venv that
holds the oldest client, and a checkout holding the example."""

import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest
from examples import EXAMPLES
from render_helpers import REPO_ROOT
from rendered_venvs import MATRIX, ensure_venv, find_interpreter
from rendering import IGNORED, TestRun, make_checkout, run_rendered_tests

OLDEST = MATRIX[0]


def required(requirement: str) -> bool:
    return os.environ.get(requirement) == "1"


def server_variables(
    names: Iterable[str], server: str, requirement: str, command: str
) -> dict[str, str]:
    """The variables naming `server`, as its script exports them; skip without them, or fail
    when the environment variable `requirement` is 1 (as in CI)."""
    missing = [name for name in names if not os.environ.get(name)]
    if missing:
        reason = f"no {server} ({', '.join(missing)} unset): run {command}"
        if required(requirement):
            pytest.fail(f"{requirement}=1 but {reason}")
        pytest.skip(reason)
    return {name: os.environ[name] for name in names}


def oldest_python(requirement: str, needs: str) -> Path:
    """The oldest cell's venv (Python 3.10 with the oldest dependencies), which `./dev venvs`
    builds; without Python 3.10 a skip, or a failure where required or under CI."""
    interpreter = find_interpreter(OLDEST.python)
    if interpreter is None:
        reason = f"no CPython {OLDEST.python} on this machine (pyenv or python{OLDEST.python})"
        if required(requirement) or os.environ.get("CI") == "true":
            pytest.fail(f"{needs} need {reason}")
        pytest.skip(reason)
    return ensure_venv(OLDEST, interpreter)


def pinned(package: str) -> str:
    """The version requirements-dev.txt pins `package` at: what this venv holds."""
    found = re.search(
        rf"^{re.escape(package)}==(\S+)", (REPO_ROOT / "requirements-dev.txt").read_text(), re.M
    )
    assert found, f"requirements-dev.txt pins no {package}"
    return found.group(1)


def interpreter_versions(python: Path | str, probe: str) -> str:
    """What `probe`, a small program, prints of the versions `python` runs with."""
    return subprocess.run(
        [python, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()


def run_example(
    example: str, tmp_path: Path, tests: Iterable[str], env: Mapping[str, str], python: Path | str
) -> TestRun:
    """The example's `tests`, run in a checkout holding it as a plain checkout runs them."""
    checkout = make_checkout(tmp_path / "tracardi-checkout")
    shutil.copytree(EXAMPLES / example, checkout, dirs_exist_ok=True, ignore=IGNORED)
    return run_rendered_tests(
        checkout, *tests, env=env, python=python, report=tmp_path / "report.xml"
    )
