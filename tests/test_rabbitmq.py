"""The RabbitMQ example's server tests against a real RabbitMQ (its own users, vhost, TLS
listener and max_message_size), on both aio-pika versions a Tracardi checkout may hold: the
newest we pin (this venv), and the oldest the amqp transport supports, aio-pika 8.2.0, on
Python 3.10 (the oldest cell of the interpreter matrix, scripts/rendered_venvs.py).

CI runs this with a broker (.ci/run):

    REQUIRE_RABBITMQ=1 scripts/rabbitmq run -- ./dev test tests/test_rabbitmq.py

Without a broker this skips, or fails when REQUIRE_RABBITMQ=1, as it does without Python 3.10.
Every rendered test must run: none may skip.
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
    "RABBITMQ_URL",
    "RABBITMQ_SSL_URL",
    "RABBITMQ_SSL_CA_FILE",
    "RABBITMQ_USERNAME",
    "RABBITMQ_PASSWORD",
    "RABBITMQ_UNPRIVILEGED_USERNAME",
    "RABBITMQ_UNPRIVILEGED_PASSWORD",
    "RABBITMQ_VHOST",
    "RABBITMQ_MAX_MESSAGE_SIZE",
    "RABBITMQ_CTL",
    "RABBITMQ_RESTART_COMMAND",
)
RENDERED_TEST_MODULES = {
    "test.integration.destination.test_rabbitmq_connector_rabbitmq",
    "test.integration.destination.transport.test_transport_amqp_rabbitmq",
}
SERVER_TESTS = [
    "test/integration/destination/test_rabbitmq_connector_rabbitmq.py",
    "test/integration/destination/transport/test_transport_amqp_rabbitmq.py",
]
VERSIONS_PROBE = """
import importlib.metadata as metadata
import sys

print(f"{sys.version_info.major}.{sys.version_info.minor}", metadata.version("aio-pika"))
"""


@pytest.fixture
def rabbitmq() -> dict[str, str]:
    """The variables naming the broker, as scripts/rabbitmq sets them."""
    command = "scripts/rabbitmq run -- ./dev test tests/test_rabbitmq.py"
    return server_variables(BROKER_VARIABLES, "RabbitMQ", "REQUIRE_RABBITMQ", command)


def test_the_oldest_cell_holds_the_oldest_aio_pika_the_transport_supports() -> None:
    assert Cell("3.10", "oldest") == OLDEST
    pins = (REQUIREMENTS / f"{OLDEST.dependencies}.txt").read_text().split()
    assert "aio-pika==8.2.0" in pins


@pytest.mark.parametrize("aio_pika", ["newest", "8.2.0"])
def test_rabbitmq_example_passes_its_server_tests_against_rabbitmq(
    aio_pika: str, tmp_path: Path, rabbitmq: dict[str, str]
) -> None:
    if aio_pika == "newest":
        python: Path | str = sys.executable
        assert interpreter_versions(python, VERSIONS_PROBE).split()[1] == pinned("aio-pika")
    else:
        python = oldest_python("REQUIRE_RABBITMQ", "the RabbitMQ tests on aio-pika 8.2.0")
        assert interpreter_versions(python, VERSIONS_PROBE) == "3.10 8.2.0"
    env = {**rabbitmq, "REQUIRE_RABBITMQ": "1"}
    result = run_example("rabbitmq", tmp_path, SERVER_TESTS, env, python)
    assert_all_passed(result)
    assert result.modules == RENDERED_TEST_MODULES, result.output
