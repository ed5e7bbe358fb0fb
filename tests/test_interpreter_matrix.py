"""The rendered tests of every answer set and every committed example, on each CPython that
Tracardi supports: 3.10 with the oldest dependencies a master checkout may hold, 3.11 to 3.13
with the newest we pin (scripts/rendered_venvs.py builds those venvs once).

All of them render into one checkout, and each interpreter runs every rendered test under
test/unit and test/integration in one pytest run. Only files ending in `_apache.py` or
`_rabbitmq.py` are left out: they need an external server named by environment variables and
run in their own CI steps (tests/test_apache_*.py, tests/test_rabbitmq.py). Everything else
is self-contained and must pass with no skip; an expected failure (a strict xfail marking
unfinished work) is reported as such. A new example under generated_examples/ or a new answer
set joins by being there.
"""

import os
import shutil
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from render_helpers import IGNORED, REPO_ROOT
from rendered_venvs import MATRIX, OLDEST_PYTHON, Cell, ensure_venv, find_interpreter
from rendering import TestRun, assert_all_passed, make_checkout, run_rendered_tests
from servers import server_variables
from shared_checkout import SharedCheckout

ANSWER_SETS = sorted((REPO_ROOT / "tests" / "answer_sets").glob("*.yml"))
EXAMPLES = sorted(
    path.parent for path in REPO_ROOT.glob("generated_examples/*/.copier-answers.*.yml")
)
# What the rendered tests find in the environment, as a plain checkout would.
CLEAN_ENVIRONMENT = {
    name: value
    for name, value in os.environ.items()
    if name not in ("PYTHONPATH", "VIRTUAL_ENV", "PULSAR_SERVICE_URL", "PULSAR_TOKEN")
}
# The endings of rendered test files that need a server of their own (Apache Pulsar or Kafka,
# RabbitMQ): each has its CI step, and skips here would hide nothing.
SERVER_TESTS = ("_apache.py", "_rabbitmq.py")


def is_self_contained(test_file: Path) -> bool:
    return test_file.name.startswith("test_") and not test_file.name.endswith(SERVER_TESTS)


@pytest.fixture(scope="module")
def matrix_checkout(template_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    shared = SharedCheckout(template_dir, tmp_path_factory.mktemp("matrix") / "tracardi-checkout")
    for answers_file in ANSWER_SETS:
        shared.render(yaml.safe_load(answers_file.read_text()))
    for example in EXAMPLES:
        shutil.copytree(example, shared.root, dirs_exist_ok=True, ignore=IGNORED)
    return shared.root


def self_contained_tests(checkout: Path) -> list[Path]:
    found = [
        path.relative_to(checkout)
        for folder in ("test/unit", "test/integration")
        for path in sorted((checkout / folder).rglob("test_*.py"))
    ]
    return [path for path in found if is_self_contained(path)]


def interpreter_of(cell: Cell) -> Path:
    interpreter = find_interpreter(cell.python)
    if interpreter is not None:
        return interpreter
    reason = f"no CPython {cell.python} on this machine (pyenv or python{cell.python} on PATH)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI runs every interpreter of the matrix, but found {reason}")
    pytest.skip(reason)


def test_the_matrix_starts_at_tracardis_oldest_python_with_the_oldest_dependencies() -> None:
    assert MATRIX[0] == Cell("3.10", "oldest") and OLDEST_PYTHON == "3.10"
    assert [cell.python for cell in MATRIX] == ["3.10", "3.11", "3.12", "3.13"]
    assert {cell.dependencies for cell in MATRIX[1:]} == {"newest"}


def test_every_committed_example_and_answer_set_is_in_the_matrix() -> None:
    assert REPO_ROOT / "generated_examples" / "pulsar" in EXAMPLES
    assert len(ANSWER_SETS) >= 4


# Two at a time, on the two cores: the rendered tests mostly wait (timeouts, brokers), so the
# matrix takes about half as long as one interpreter after another.
PARALLEL_RUNS = 2


@pytest.fixture(scope="module")
def matrix_runs(
    matrix_checkout: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[Cell, "Future[TestRun]"]]:
    """Every cell's run of the rendered tests, started together for the cells that have an
    interpreter here; each test waits for its own."""
    tests = self_contained_tests(matrix_checkout)
    with ThreadPoolExecutor(max_workers=PARALLEL_RUNS) as pool:
        runs = {
            cell: pool.submit(
                run_rendered_tests,
                matrix_checkout,
                *map(str, tests),
                env={**CLEAN_ENVIRONMENT, "PYTHONDONTWRITEBYTECODE": "1"},
                python=ensure_venv(cell, interpreter),
                report=tmp_path_factory.mktemp(cell.name) / "report.xml",
            )
            for cell in MATRIX
            if (interpreter := find_interpreter(cell.python)) is not None
        }
        yield runs


@pytest.mark.parametrize("cell", MATRIX, ids=lambda cell: cell.name)
def test_rendered_tests_pass_on_every_supported_python(
    cell: Cell, matrix_checkout: Path, matrix_runs: dict[Cell, "Future[TestRun]"]
) -> None:
    interpreter_of(cell)  # skips, or fails under CI, where the cell has no interpreter
    result = matrix_runs[cell].result()
    assert_all_passed(result)
    tests = self_contained_tests(matrix_checkout)
    dotted = {".".join(path.with_suffix("").parts) for path in tests}
    silent = sorted(
        module
        for module in dotted
        if not any(f"{name}.".startswith(module + ".") for name in result.modules)
    )
    assert not silent, f"on Python {cell.python} these test modules ran nothing: {silent}"


def test_the_github_workflow_runs_ci_run_on_the_matrix_pythons_and_java_17() -> None:
    workflow = yaml.safe_load((REPO_ROOT / ".github" / "workflows" / "ci.yml").read_text())
    (job,) = workflow["jobs"].values()
    steps = job["steps"]
    assert [step["run"] for step in steps if "run" in step] == [".ci/run"]
    (python,) = [step for step in steps if step.get("uses", "").startswith("actions/setup-python")]
    versions = python["with"]["python-version"].split()
    assert sorted(versions) == [cell.python for cell in MATRIX]
    assert versions[-1] == "3.11"  # python3 for the template's own tools (requires-python >= 3.11)
    (java,) = [step for step in steps if step.get("uses", "").startswith("actions/setup-java")]
    assert str(java["with"]["java-version"]) == "17"


def test_a_missing_interpreter_fails_under_ci_and_skips_elsewhere(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("test_interpreter_matrix.find_interpreter", lambda minor: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI runs every interpreter"):
        interpreter_of(MATRIX[0])
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match=r"no CPython 3\.10"):
        interpreter_of(MATRIX[0])


def test_interpreters_are_found_where_pyenv_keeps_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for release in ("3.10.2", "3.10.13", "3.10.9", "3.11.7"):
        binary = tmp_path / "versions" / release / "bin" / f"python{release.rsplit('.', 1)[0]}"
        binary.parent.mkdir(parents=True)
        binary.touch()
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path))
    assert find_interpreter("3.10") == tmp_path / "versions/3.10.13/bin/python3.10"


APACHE_PULSAR = (
    "PULSAR_SERVICE_URL",
    "PULSAR_TOKEN",
    "PULSAR_UNPRIVILEGED_TOKEN",
    "PULSAR_SSL_SERVICE_URL",
    "PULSAR_SSL_CA_FILE",
    "PULSAR_SSL_MISMATCH_SERVICE_URL",
)


@pytest.mark.parametrize("cell", [MATRIX[0], MATRIX[-1]], ids=lambda cell: cell.name)
def test_the_pulsar_examples_apache_tests_pass_with_the_oldest_and_newest_client(
    cell: Cell, tmp_path: Path
) -> None:
    """pulsar-client 3.3.0 (master's pin) on Python 3.10 and our newest on 3.13 against Apache
    Pulsar with tokens enforced, which only Apache shows. CI runs it with the broker:
        REQUIRE_APACHE_PULSAR=1 scripts/apache-pulsar run -- ./dev test -k apache ...
    """
    command = "scripts/apache-pulsar run -- ./dev test -k apache (see .ci/run)"
    broker = server_variables(
        APACHE_PULSAR, "Apache Pulsar broker", "REQUIRE_APACHE_PULSAR", command
    )
    checkout = make_checkout(tmp_path / "tracardi-checkout")
    shutil.copytree(
        REPO_ROOT / "generated_examples" / "pulsar", checkout, dirs_exist_ok=True, ignore=IGNORED
    )
    apache_tests = sorted(
        str(path.relative_to(checkout)) for path in checkout.rglob("test_*_apache.py")
    )
    assert apache_tests, "the Pulsar example has no Apache Pulsar tests"
    result = run_rendered_tests(
        checkout,
        *apache_tests,
        env={**CLEAN_ENVIRONMENT, **broker, "PYTHONDONTWRITEBYTECODE": "1"},
        python=ensure_venv(cell, interpreter_of(cell)),
        report=tmp_path / "report.xml",
    )
    assert_all_passed(result)
