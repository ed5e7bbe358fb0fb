"""Render the template as users do, into a stand-in Tracardi checkout, and check the result.

Renders come from an export of the working tree (no git), so they reflect uncommitted edits and
record no `_commit`. Everything runs the same tools a contributor would: copier, ruff, mypy and
pytest, the last three in subprocesses with the settings of a plain Tracardi checkout.
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
from typing import Any

from copier import run_copy

REPO_ROOT = Path(__file__).resolve().parents[1]


def load_script(relative_path: str) -> ModuleType:
    """A script of this repository that is not on the import path (tasks/, migrations/)."""
    path = REPO_ROOT / relative_path
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TEMPLATE_PARTS = ("copier.yml", "template", "includes", "migrations", "tasks", "register")
STAND_IN = REPO_ROOT / "tests" / "tracardi_host" / "tracardi"
RENDERED_CODE_CONFIG = REPO_ROOT / "tests" / "rendered_code"
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".mypy_cache", ".pytest_cache")


def export_template(target: Path) -> Path:
    """Copy the template's own files, as they are in the working tree, to `target`."""
    target.mkdir(parents=True, exist_ok=True)
    for part in TEMPLATE_PARTS:
        source = REPO_ROOT / part
        if source.is_dir():
            shutil.copytree(source, target / part, ignore=IGNORED)
        elif source.exists():
            shutil.copy2(source, target / part)
    return target


def tracardi_package() -> Path:
    """The stand-in, or the `tracardi` package of the checkout named by TRACARDI_SRC."""
    source = os.environ.get("TRACARDI_SRC")
    return Path(source) / "tracardi" if source else STAND_IN


def make_checkout(root: Path) -> Path:
    """A directory laid out like a Tracardi checkout, with the Tracardi package in it."""
    shutil.copytree(tracardi_package(), root / "tracardi", ignore=IGNORED)
    return root


def render(template: Path, destination: Path, answers: Mapping[str, Any]) -> None:
    run_copy(
        str(template),
        str(destination),
        data=dict(answers),
        defaults=True,
        overwrite=True,
        quiet=True,
        unsafe=False,
    )


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
    """The Python files a render of `module_name` wrote into the checkout."""
    patterns = (
        f"tracardi/process_engine/destination/{module_name}_*.py",
        f"tracardi/service/setup/destinations/{module_name}_resource.py",
        f"test/**/test_{module_name}_*.py",
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
    passed: int
    failed: int
    skipped: int
    output: str
    exit_code: int = 0
    # Tests of a custom render's unwritten _send: strict xfails, expected until it is written.
    unfinished: int = 0


# The reason a custom render's test of its unwritten _send gives (includes/transports/custom.jinja).
UNFINISHED_SEND = "_send is not written yet"


def unfinished(case: ElementTree.Element) -> bool:
    """Whether a junit test case is the strict xfail of an unwritten _send."""
    skipped = case.find("skipped")
    return (
        skipped is not None
        and skipped.get("type") == "pytest.xfail"
        and UNFINISHED_SEND in skipped.get("message", "")
    )


def rendered_pytest(report: Path, paths: Iterable[str | Path]) -> list[str]:
    """pytest as a plain Tracardi checkout runs it (no config of ours), reporting to `report`."""
    return [
        *(sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rs"),
        f"--junitxml={report}",
        *map(str, paths),
    ]


def run_rendered_tests(
    checkout: Path, *paths: str, env: Mapping[str, str] | None = None
) -> TestRun:
    """Run rendered tests as a plain Tracardi checkout would: no pytest config of ours."""
    report = checkout / "pytest-report.xml"
    result = subprocess.run(
        rendered_pytest(report, paths),
        cwd=checkout,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    output = result.stdout + result.stderr
    suite = ElementTree.parse(report).getroot()
    suite = suite if suite.tag == "testsuite" else suite[0]
    total = int(suite.get("tests", 0))
    failed = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
    unfinished_count = sum(1 for case in suite.iter("testcase") if unfinished(case))
    skipped = int(suite.get("skipped", 0)) - unfinished_count
    return TestRun(
        total - failed - skipped - unfinished_count,
        failed,
        skipped,
        output,
        result.returncode,
        unfinished_count,
    )


def assert_all_passed(run_result: TestRun) -> None:
    assert run_result.failed == 0, run_result.output
    assert run_result.skipped == 0, "rendered tests skipped:\n" + run_result.output
    assert run_result.passed > 0, "rendered tests ran nothing:\n" + run_result.output
    # A crash after the report was written (at interpreter exit, say) still fails.
    assert run_result.exit_code == 0, run_result.output
