"""Render the template as users do, into a stand-in Tracardi checkout, and check the result.

Everything runs the same tools a contributor would: copier (scripts/render_helpers.py), ruff,
mypy and pytest, the last three in subprocesses with the settings of a plain Tracardi checkout.
"""

import importlib.util
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import ClassVar

# The render helpers live in scripts/ (scripts/examples.py uses them too); tests may import
# them from here as well.
from render_helpers import IGNORED, REPO_ROOT
from render_helpers import export_template as export_template
from render_helpers import render as render


def load_script(relative_path: str) -> ModuleType:
    """A script of this repository that is not on the import path (tasks/, migrations/)."""
    path = REPO_ROOT / relative_path
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


STAND_IN = REPO_ROOT / "tests" / "tracardi_host" / "tracardi"
RENDERED_CODE_CONFIG = REPO_ROOT / "tests" / "rendered_code"


def tracardi_package() -> Path:
    """The stand-in, or the `tracardi` package of the checkout named by TRACARDI_SRC."""
    source = os.environ.get("TRACARDI_SRC")
    return Path(source) / "tracardi" if source else STAND_IN


def make_checkout(root: Path) -> Path:
    """A directory laid out like a Tracardi checkout, with the Tracardi package in it."""
    shutil.copytree(tracardi_package(), root / "tracardi", ignore=IGNORED)
    return root


def copier_copy(
    template: Path, destination: Path, *options: str | Path
) -> subprocess.CompletedProcess[str]:
    """`copier copy --defaults` through its command line, exactly as a user would run it."""
    return subprocess.run(
        [sys.executable, "-m", "copier", "copy", "--defaults", *options, template, destination],
        capture_output=True,
        text=True,
        check=False,
    )


def rendered_python_files(checkout: Path, module_name: str) -> list[Path]:
    """The Python files a render of `module_name` wrote into the checkout, the shared runtime
    it brings included."""
    patterns = (
        f"tracardi/process_engine/destination/{module_name}_*.py",
        f"tracardi/service/setup/destinations/{module_name}_resource.py",
        f"test/**/test_{module_name}_*.py",
        "tracardi/process_engine/destination/transport/*.py",
        "test/**/*destination_contract.py",
        "test/**/transport/test_transport_*.py",
    )
    return sorted(path for pattern in patterns for path in checkout.glob(pattern))


def run(command: Iterable[str | Path], cwd: Path, env: Mapping[str, str] | None = None) -> str:
    """Run a command; fail with its output when it fails."""
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, command))} failed in {cwd}:\n{output}")
    return output


def code_checks(files: Sequence[Path], mypy_cache: Path) -> dict[str, list[str | Path]]:
    """The commands that check rendered code, by name: the settings of a plain checkout."""
    ruff = [sys.executable, "-m", "ruff"]
    ruff_config = RENDERED_CODE_CONFIG / "ruff.toml"
    master_config = RENDERED_CODE_CONFIG / "tracardi-master-ruff.toml"
    mypy_config = RENDERED_CODE_CONFIG / "mypy.ini"
    return {
        "ruff check": [*ruff, "check", "--no-cache", "--config", ruff_config, *files],
        "ruff check (Tracardi master)": [
            *(*ruff, "check", "--no-cache", "--config", master_config, *files),
        ],
        "ruff format (Tracardi master)": [
            *(*ruff, "format", "--check", "--no-cache", "--config", master_config, *files),
        ],
        "mypy": [
            *(sys.executable, "-m", "mypy", "--config-file", mypy_config),
            *("--cache-dir", mypy_cache, *files),
        ],
    }


def check_code(checkout: Path, module_name: str, mypy_cache: Path) -> None:
    """ruff check, ruff format --check and mypy --strict over what a render wrote."""
    files = [path.relative_to(checkout) for path in rendered_python_files(checkout, module_name)]
    assert files, f"the render of {module_name} wrote no Python files"
    for command in code_checks(files, mypy_cache).values():
        run(command, cwd=checkout)


@dataclass(frozen=True)
class TestRun:
    # Not a test class, though its name starts so and test modules import it.
    __test__: ClassVar[bool] = False

    passed: int
    failed: int
    skipped: int
    output: str
    exit_code: int = 0
    # Tests of a custom render's unwritten _send: strict xfails, expected until it is written.
    unfinished: int = 0
    # The dotted paths of the test modules that reported at least one test.
    modules: frozenset[str] = frozenset()


# The reason a custom render's test of its unwritten _send gives (includes/transports/custom.jinja).
UNFINISHED_SEND = "_send is not written yet"


def unfinished(case: ElementTree.Element) -> bool:
    """Whether a junit test case is the strict xfail of an unwritten _send; any other xfail or
    skip counts as a skip."""
    skipped = case.find("skipped")
    return (
        skipped is not None
        and skipped.get("type") == "pytest.xfail"
        and UNFINISHED_SEND in skipped.get("message", "")
    )


def rendered_pytest(
    report: Path, paths: Iterable[str | Path], python: str | Path = sys.executable
) -> list[str]:
    """pytest as a plain Tracardi checkout runs it (no config of ours), reporting to `report`."""
    return [
        *(str(python), "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rs"),
        f"--junitxml={report}",
        *map(str, paths),
    ]


def read_report(report: Path, output: str, exit_code: int) -> TestRun:
    counts = {"passed": 0, "failed": 0, "skipped": 0, "unfinished": 0}
    modules = set()
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        modules.add(case.get("classname", ""))
        problems = {child.tag: child for child in case}
        if "failure" in problems or "error" in problems:
            counts["failed"] += 1
        elif "skipped" in problems:
            counts["unfinished" if unfinished(case) else "skipped"] += 1
        else:
            counts["passed"] += 1
    return TestRun(**counts, output=output, exit_code=exit_code, modules=frozenset(modules))


def run_rendered_tests(
    checkout: Path,
    *paths: str,
    env: Mapping[str, str] | None = None,
    python: str | Path = sys.executable,
    report: Path | None = None,
) -> TestRun:
    """Run rendered tests as a plain Tracardi checkout would: no pytest config of ours."""
    report = report or checkout / "pytest-report.xml"
    result = subprocess.run(
        rendered_pytest(report, paths, python),
        cwd=checkout,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    output = result.stdout + result.stderr
    if not report.exists():
        raise AssertionError(f"pytest wrote no report:\n{output}")
    return read_report(report, output, result.returncode)


def assert_all_passed(run_result: TestRun) -> None:
    assert run_result.failed == 0, run_result.output
    assert run_result.skipped == 0, "rendered tests skipped:\n" + run_result.output
    assert run_result.passed > 0, "rendered tests ran nothing:\n" + run_result.output
    # A crash after the report was written (at interpreter exit, say) still fails.
    assert run_result.exit_code == 0, run_result.output
