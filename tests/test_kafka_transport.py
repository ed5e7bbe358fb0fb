"""The kafka transport: its committed example carries the runtime's producer and no Pulsar
machinery, and a render that drops a field the producer reads is refused.

The example's checks are tests/test_generated_examples.py's, its unit tests run on every Python
in tests/test_interpreter_matrix.py, its integration tests (Apache Kafka) in
tests/test_apache_kafka.py.
"""

from pathlib import Path

import pytest
from copier.errors import CopierError
from examples import EXAMPLES
from rendering import (
    render,
)

KAFKA_EXAMPLE = EXAMPLES / "kafka"


def test_the_kafka_example_is_committed() -> None:
    assert (KAFKA_EXAMPLE / ".copier-answers.destination-kafka.yml").is_file()
    assert (KAFKA_EXAMPLE / "tracardi/process_engine/destination/transport/kafka.py").is_file()


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
