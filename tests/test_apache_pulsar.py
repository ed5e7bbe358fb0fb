"""The Pulsar example's integration tests against Apache Pulsar, token authentication enforced.

pulsar-lite checks no tokens, so only a real broker shows that a refused token fails at once
and clearly. CI runs this with one (.ci/run):

    REQUIRE_APACHE_PULSAR=1 scripts/apache-pulsar run -- ./dev test tests/test_apache_pulsar.py

Without a broker this skips, or fails when REQUIRE_APACHE_PULSAR=1.
"""

import shutil
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
from examples import EXAMPLES
from rendering import IGNORED, assert_all_passed, make_checkout, run_rendered_tests
from servers import server_variables

BROKER_VARIABLES = (
    "PULSAR_SERVICE_URL",
    "PULSAR_TOKEN",
    "PULSAR_UNPRIVILEGED_TOKEN",
    # Its TLS port, with the CA that signed its certificate and an address the certificate lacks.
    "PULSAR_SSL_SERVICE_URL",
    "PULSAR_SSL_CA_FILE",
    "PULSAR_SSL_MISMATCH_SERVICE_URL",
    # The broker's own, smaller message size limit, which the too-large test then checks.
    "PULSAR_MAX_MESSAGE_SIZE",
)
RENDERED_TEST_MODULES = {
    "test.integration.destination.test_pulsar_connector_broker",
    "test.integration.destination.transport.test_transport_pulsar_broker",
    "test.integration.destination.transport.test_transport_pulsar_apache",
}


@pytest.fixture
def apache_pulsar() -> dict[str, str]:
    """The variables naming the broker, as scripts/apache-pulsar sets them."""
    command = "scripts/apache-pulsar run -- ./dev test tests/test_apache_pulsar.py"
    return server_variables(
        BROKER_VARIABLES, "Apache Pulsar broker", "REQUIRE_APACHE_PULSAR", command
    )


def test_pulsar_example_passes_its_integration_tests_against_apache_pulsar(
    tmp_path: Path, apache_pulsar: dict[str, str]
) -> None:
    checkout = make_checkout(tmp_path / "tracardi-checkout")
    shutil.copytree(EXAMPLES / "pulsar", checkout, dirs_exist_ok=True, ignore=IGNORED)
    result = run_rendered_tests(checkout, "test/integration", env=apache_pulsar)
    assert_all_passed(result)
    report = ElementTree.parse(checkout / "pytest-report.xml")
    modules = {case.get("classname") for case in report.iter("testcase")}
    assert modules == RENDERED_TEST_MODULES, result.output
