"""The kafka transport: its committed example passes its checks and unit tests, and a render
that drops a field the producer reads is refused.

Its integration tests need Apache Kafka: tests/test_apache_kafka.py runs them.
"""

import shutil
from pathlib import Path

import pytest
from copier.errors import CopierError
from examples import EXAMPLES
from rendering import (
    IGNORED,
    assert_all_passed,
    check_code,
    make_checkout,
    render,
    run_rendered_tests,
)

KAFKA_EXAMPLE = EXAMPLES / "kafka"


def test_the_kafka_example_is_committed() -> None:
    assert (KAFKA_EXAMPLE / ".copier-answers.destination-kafka.yml").is_file()
    assert (KAFKA_EXAMPLE / "tracardi/process_engine/destination/transport/kafka.py").is_file()


def example_checkout(tmp_path: Path) -> Path:
    checkout = make_checkout(tmp_path / "tracardi-checkout")
    shutil.copytree(KAFKA_EXAMPLE, checkout, dirs_exist_ok=True, ignore=IGNORED)
    return checkout


def test_kafka_example_passes_its_unit_tests(tmp_path: Path) -> None:
    assert_all_passed(run_rendered_tests(example_checkout(tmp_path), "test/unit"))


def test_kafka_example_passes_its_checks(tmp_path: Path, mypy_cache: Path) -> None:
    check_code(example_checkout(tmp_path), "kafka", mypy_cache)


def test_a_kafka_render_carries_no_pulsar_machinery() -> None:
    rendered = "\n".join(path.read_text() for path in KAFKA_EXAMPLE.rglob("*.py"))
    assert "pulsar" not in rendered.lower()


@pytest.mark.parametrize(
    ("question", "fields"),
    [
        ("credential_fields", [{"name": "bootstrap_servers", "type": "str", "required": True}]),
        ("init_fields", [{"name": "topic", "type": "str", "required": True}]),
    ],
)
def test_a_kafka_render_without_the_fields_the_producer_reads_is_refused(
    template_dir: Path, tmp_path: Path, question: str, fields: list[dict[str, object]]
) -> None:
    answers = {"destination_name": "Apache Kafka", "transport": "kafka", question: fields}
    with pytest.raises((CopierError, ValueError), match="transport needs the field"):
        render(template_dir, tmp_path / "out", answers)
