"""The Kafka example's integration tests against Apache Kafka, SASL and an authorizer enforced.

CI runs this with a broker (.ci/run):

    REQUIRE_APACHE_KAFKA=1 scripts/apache-kafka run -- ./dev test tests/test_apache_kafka.py

Without a broker this skips, or fails when REQUIRE_APACHE_KAFKA=1. Every rendered test must
run: none may skip.
"""

import os
import shutil
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
from examples import EXAMPLES
from rendering import IGNORED, assert_all_passed, make_checkout, run_rendered_tests

BROKER_VARIABLES = (
    "KAFKA_BOOTSTRAP_SERVERS",
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
RENDERED_TEST_MODULES = {"test.integration.destination.test_kafka_connector_apache"}


@pytest.fixture
def apache_kafka() -> dict[str, str]:
    """The variables naming the broker, as scripts/apache-kafka sets them."""
    missing = [name for name in BROKER_VARIABLES if not os.environ.get(name)]
    if missing:
        reason = (
            f"no Apache Kafka broker ({', '.join(missing)} unset): run "
            "scripts/apache-kafka run -- ./dev test tests/test_apache_kafka.py"
        )
        if os.environ.get("REQUIRE_APACHE_KAFKA") == "1":
            pytest.fail(f"REQUIRE_APACHE_KAFKA=1 but {reason}")
        pytest.skip(reason)
    return {name: os.environ[name] for name in BROKER_VARIABLES}


def test_kafka_example_passes_its_integration_tests_against_apache_kafka(
    tmp_path: Path, apache_kafka: dict[str, str]
) -> None:
    checkout = make_checkout(tmp_path / "tracardi-checkout")
    shutil.copytree(EXAMPLES / "kafka", checkout, dirs_exist_ok=True, ignore=IGNORED)
    result = run_rendered_tests(
        checkout, "test/integration", env={**apache_kafka, "REQUIRE_APACHE_KAFKA": "1"}
    )
    assert_all_passed(result)
    report = ElementTree.parse(checkout / "pytest-report.xml")
    modules = {case.get("classname") for case in report.iter("testcase")}
    assert modules == RENDERED_TEST_MODULES, result.output
