"""The committed examples equal a fresh render, and pass their own checks and tests."""

import shutil
from pathlib import Path

import pytest
from examples import EXAMPLES, differences, render_example
from rendering import IGNORED, assert_all_passed, check_code, make_checkout, run_rendered_tests

EXAMPLE_DIRS = sorted(path.parent for path in EXAMPLES.glob("*/.copier-answers.*.yml"))


def test_the_pulsar_example_is_committed() -> None:
    assert EXAMPLES / "pulsar" in EXAMPLE_DIRS


@pytest.mark.parametrize("example", EXAMPLE_DIRS, ids=lambda path: path.name)
def test_example_equals_a_fresh_render(example: Path, tmp_path: Path) -> None:
    rendered = render_example(example, tmp_path)
    found = differences(example, rendered)
    assert not found, "run python scripts/examples.py to regenerate:\n" + "\n".join(found)


def test_pulsar_example_passes_its_checks_and_its_tests_against_a_broker(
    tmp_path: Path, mypy_cache: Path
) -> None:
    checkout = make_checkout(tmp_path / "tracardi-checkout")
    shutil.copytree(EXAMPLES / "pulsar", checkout, dirs_exist_ok=True, ignore=IGNORED)
    check_code(checkout, "pulsar", mypy_cache)
    # The Apache Pulsar tests skip without that broker; test_apache_pulsar.py runs them.
    broker_tests = [
        "test/integration/destination/test_pulsar_connector_broker.py",
        "test/integration/destination/transport/test_transport_pulsar_broker.py",
    ]
    assert_all_passed(run_rendered_tests(checkout, "test/unit", *broker_tests))
