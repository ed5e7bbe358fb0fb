"""The committed examples equal a fresh render and pass their own checks. Their rendered tests
run once for each supported Python in tests/test_interpreter_matrix.py, the Apache ones in
tests/test_apache_*.py."""

import shutil
from pathlib import Path

import pytest
from examples import EXAMPLES, differences, render_example
from rendering import IGNORED, check_code, make_checkout

EXAMPLE_DIRS = sorted(path.parent for path in EXAMPLES.glob("*/.copier-answers.*.yml"))


def test_the_pulsar_example_is_committed() -> None:
    assert EXAMPLES / "pulsar" in EXAMPLE_DIRS


@pytest.mark.parametrize("example", EXAMPLE_DIRS, ids=lambda path: path.name)
def test_example_equals_a_fresh_render(example: Path, tmp_path: Path) -> None:
    rendered = render_example(example, tmp_path)
    found = differences(example, rendered)
    assert not found, "run python scripts/examples.py to regenerate:\n" + "\n".join(found)


@pytest.mark.parametrize("example", EXAMPLE_DIRS, ids=lambda path: path.name)
def test_example_passes_its_checks(example: Path, tmp_path: Path, mypy_cache: Path) -> None:
    checkout = make_checkout(tmp_path / "tracardi-checkout")
    shutil.copytree(example, checkout, dirs_exist_ok=True, ignore=IGNORED)
    (answers,) = example.glob(".copier-answers.destination-*.yml")
    check_code(
        checkout,
        answers.name.removeprefix(".copier-answers.destination-").removesuffix(".yml"),
        mypy_cache,
    )
