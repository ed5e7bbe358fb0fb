"""The Kafka example's integration tests against Apache Kafka, SASL and an authorizer enforced,
on both aiokafka versions a Tracardi checkout may hold: the newest we pin (this venv), and
master's pin, aiokafka 0.8.1 with kafka-python 2.0.2, on Python 3.10 (the oldest cell of the
interpreter matrix, scripts/rendered_venvs.py).

CI runs this with a broker (.ci/run):

    REQUIRE_APACHE_KAFKA=1 scripts/apache-kafka run -- ./dev test tests/test_apache_kafka.py

Without a broker this skips, or fails when REQUIRE_APACHE_KAFKA=1, as it does without Python
3.10. Every rendered test must run: none may skip.
"""

import sys
from pathlib import Path

import pytest
from rendered_venvs import REQUIREMENTS, Cell
from rendering import assert_all_passed
from servers import (
    OLDEST,
    interpreter_versions,
    oldest_python,
    pinned,
    run_example,
    server_variables,
)

BROKER_VARIABLES = (
    "KAFKA_BOOTSTRAP_SERVERS",
    "KAFKA_SSL_BOOTSTRAP_SERVERS",
    "KAFKA_SSL_CA_FILE",
    "KAFKA_ADMIN_USERNAME",
    "KAFKA_ADMIN_PASSWORD",
    "KAFKA_PLAIN_USERNAME",
    "KAFKA_PLAIN_PASSWORD",
    "KAFKA_SCRAM_USERNAME",
    "KAFKA_SCRAM_PASSWORD",
    "KAFKA_UNPRIVILEGED_USERNAME",
    "KAFKA_UNPRIVILEGED_PASSWORD",
    "KAFKA_MESSAGE_MAX_BYTES",
    "KAFKA_RESTART_COMMAND",
)
RENDERED_TEST_MODULES = {
    "test.integration.destination.test_kafka_connector_apache",
    "test.integration.destination.transport.test_transport_kafka_apache",
}
VERSIONS_PROBE = """
import importlib.metadata as metadata
import sys

import aiokafka

try:
    kafka_python = metadata.version("kafka-python")
except metadata.PackageNotFoundError:
    kafka_python = None
print(f"{sys.version_info.major}.{sys.version_info.minor}", aiokafka.__version__, kafka_python)
"""


@pytest.fixture
def apache_kafka() -> dict[str, str]:
    """The variables naming the broker, as scripts/apache-kafka sets them."""
    command = "scripts/apache-kafka run -- ./dev test tests/test_apache_kafka.py"
    return server_variables(
        BROKER_VARIABLES, "Apache Kafka broker", "REQUIRE_APACHE_KAFKA", command
    )


def test_the_oldest_cell_holds_masters_aiokafka_and_the_kafka_python_it_needs() -> None:
    assert Cell("3.10", "oldest") == OLDEST
    pins = (REQUIREMENTS / f"{OLDEST.dependencies}.txt").read_text().split()
    assert {"aiokafka==0.8.1", "kafka-python==2.0.2"} <= set(pins)


@pytest.mark.parametrize("aiokafka", ["newest", "0.8.1"])
def test_kafka_example_passes_its_integration_tests_against_apache_kafka(
    aiokafka: str, tmp_path: Path, apache_kafka: dict[str, str]
) -> None:
    if aiokafka == "newest":
        python: Path | str = sys.executable
        assert interpreter_versions(python, VERSIONS_PROBE).split()[1] == pinned("aiokafka")
    else:
        python = oldest_python("REQUIRE_APACHE_KAFKA", "the Kafka tests on aiokafka 0.8.1")
        assert interpreter_versions(python, VERSIONS_PROBE) == "3.10 0.8.1 2.0.2"
    env = {**apache_kafka, "REQUIRE_APACHE_KAFKA": "1"}
    result = run_example("kafka", tmp_path, ["test/integration"], env, python)
    assert_all_passed(result)
    assert result.modules == RENDERED_TEST_MODULES, result.output
