"""The Kafka example's integration tests against Apache Kafka, SASL and an authorizer enforced,
on both aiokafka versions a Tracardi checkout may hold: the newest we pin (this venv), and
master's pin, aiokafka 0.8.1 with kafka-python 2.0.2, on Python 3.10 (the oldest cell of the
interpreter matrix, scripts/rendered_venvs.py).

CI runs this with a broker (.ci/run):

    REQUIRE_APACHE_KAFKA=1 scripts/apache-kafka run -- ./dev test tests/test_apache_kafka.py

Without a broker this skips, or fails when REQUIRE_APACHE_KAFKA=1, as it does without Python
3.10. Every rendered test must run: none may skip.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from examples import EXAMPLES
from render_helpers import REPO_ROOT
from rendered_venvs import MATRIX, REQUIREMENTS, Cell, ensure_venv, find_interpreter
from rendering import IGNORED, assert_all_passed, make_checkout, run_rendered_tests

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
OLDEST = MATRIX[0]
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


def required() -> bool:
    return os.environ.get("REQUIRE_APACHE_KAFKA") == "1"


@pytest.fixture
def apache_kafka() -> dict[str, str]:
    """The variables naming the broker, as scripts/apache-kafka sets them."""
    missing = [name for name in BROKER_VARIABLES if not os.environ.get(name)]
    if missing:
        reason = (
            f"no Apache Kafka broker ({', '.join(missing)} unset): run "
            "scripts/apache-kafka run -- ./dev test tests/test_apache_kafka.py"
        )
        if required():
            pytest.fail(f"REQUIRE_APACHE_KAFKA=1 but {reason}")
        pytest.skip(reason)
    return {name: os.environ[name] for name in BROKER_VARIABLES}


def oldest_python() -> Path:
    """Python 3.10 with aiokafka 0.8.1 and kafka-python 2.0.2: the venv `./dev venvs` builds."""
    interpreter = find_interpreter(OLDEST.python)
    if interpreter is None:
        reason = f"no CPython {OLDEST.python} on this machine (pyenv or python{OLDEST.python})"
        if required() or os.environ.get("CI") == "true":
            pytest.fail(f"the Kafka tests on aiokafka 0.8.1 need {reason}")
        pytest.skip(reason)
    return ensure_venv(OLDEST, interpreter)


def versions(python: Path | str) -> str:
    """The interpreter's minor version and the aiokafka and kafka-python it imports."""
    return subprocess.run(
        [python, "-c", VERSIONS_PROBE], capture_output=True, text=True, check=True
    ).stdout.strip()


def pinned_aiokafka() -> str:
    found = re.search(r"^aiokafka==(\S+)", (REPO_ROOT / "requirements-dev.txt").read_text(), re.M)
    assert found, "requirements-dev.txt pins no aiokafka"
    return found.group(1)


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
        assert versions(python).split()[1] == pinned_aiokafka()
    else:
        python = oldest_python()
        assert versions(python) == "3.10 0.8.1 2.0.2"
    checkout = make_checkout(tmp_path / "tracardi-checkout")
    shutil.copytree(EXAMPLES / "kafka", checkout, dirs_exist_ok=True, ignore=IGNORED)
    result = run_rendered_tests(
        checkout,
        "test/integration",
        env={**apache_kafka, "REQUIRE_APACHE_KAFKA": "1"},
        python=python,
    )
    assert_all_passed(result)
    assert result.modules == RENDERED_TEST_MODULES, result.output
