"""The RabbitMQ example's server tests against a real RabbitMQ (its own users, vhost, TLS
listener and max_message_size), on both aio-pika versions a Tracardi checkout may hold: the
newest we pin (this venv), and the oldest the amqp transport supports, aio-pika 8.2.0, on
Python 3.10 (the oldest cell of the interpreter matrix, scripts/rendered_venvs.py).

CI runs this with a broker (.ci/run):

    REQUIRE_RABBITMQ=1 scripts/rabbitmq run -- ./dev test tests/test_rabbitmq.py

Without a broker this skips, or fails when REQUIRE_RABBITMQ=1, as it does without Python 3.10.
Every rendered test must run: none may skip.
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
OLDEST = MATRIX[0]
VERSIONS_PROBE = """
import importlib.metadata as metadata
import sys

print(f"{sys.version_info.major}.{sys.version_info.minor}", metadata.version("aio-pika"))
"""


def required() -> bool:
    return os.environ.get("REQUIRE_RABBITMQ") == "1"


@pytest.fixture
def rabbitmq() -> dict[str, str]:
    """The variables naming the broker, as scripts/rabbitmq sets them."""
    missing = [name for name in BROKER_VARIABLES if not os.environ.get(name)]
    if missing:
        reason = (
            f"no RabbitMQ ({', '.join(missing)} unset): run "
            "scripts/rabbitmq run -- ./dev test tests/test_rabbitmq.py"
        )
        if required():
            pytest.fail(f"REQUIRE_RABBITMQ=1 but {reason}")
        pytest.skip(reason)
    return {name: os.environ[name] for name in BROKER_VARIABLES}


def oldest_python() -> Path:
    """Python 3.10 with aio-pika 8.2.0: the venv `./dev venvs` builds."""
    interpreter = find_interpreter(OLDEST.python)
    if interpreter is None:
        reason = f"no CPython {OLDEST.python} on this machine (pyenv or python{OLDEST.python})"
        if required() or os.environ.get("CI") == "true":
            pytest.fail(f"the RabbitMQ tests on aio-pika 8.2.0 need {reason}")
        pytest.skip(reason)
    return ensure_venv(OLDEST, interpreter)


def versions(python: Path | str) -> str:
    """The interpreter's minor version and the aio-pika it imports."""
    return subprocess.run(
        [python, "-c", VERSIONS_PROBE], capture_output=True, text=True, check=True
    ).stdout.strip()


def pinned_aio_pika() -> str:
    found = re.search(r"^aio-pika==(\S+)", (REPO_ROOT / "requirements-dev.txt").read_text(), re.M)
    assert found, "requirements-dev.txt pins no aio-pika"
    return found.group(1)


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
        assert versions(python).split()[1] == pinned_aio_pika()
    else:
        python = oldest_python()
        assert versions(python) == "3.10 8.2.0"
    checkout = make_checkout(tmp_path / "tracardi-checkout")
    shutil.copytree(EXAMPLES / "rabbitmq", checkout, dirs_exist_ok=True, ignore=IGNORED)
    result = run_rendered_tests(
        checkout, *SERVER_TESTS, env={**rabbitmq, "REQUIRE_RABBITMQ": "1"}, python=python
    )
    assert_all_passed(result)
    assert result.modules == RENDERED_TEST_MODULES, result.output
