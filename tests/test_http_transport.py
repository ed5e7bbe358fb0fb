"""The http transport: its example carries the runtime's files, a render under other names
passes its checks and its own tests against a real HTTP server, and a render without the fields
the transport reads is refused. The example's checks are tests/test_generated_examples.py's, its
tests (the runtime's included) run on every Python in tests/test_interpreter_matrix.py."""

from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import RenderInto
from examples import EXAMPLES
from rendering import (
    REPO_ROOT,
    assert_all_passed,
    check_code,
    run_rendered_tests,
)

WEBHOOK = EXAMPLES / "webhook"


# The shared runtime's http module, its tests and the checks every http destination's own test
# makes: the same bytes in every http render.
RUNTIME_FILES = [
    "tracardi/process_engine/destination/transport/http.py",
    "test/unit/destination/transport/test_transport_http.py",
    "test/integration/destination/transport/test_transport_http_server.py",
    "test/integration/destination/http_destination_contract.py",
]


def http_files(module: str) -> list[str]:
    """The files only the http transport renders: the runtime's and the destination's own."""
    return [*RUNTIME_FILES, f"test/integration/destination/test_{module}_connector_server.py"]


def test_the_webhook_example_is_committed_with_the_http_files() -> None:
    for path in http_files("webhook"):
        assert (WEBHOOK / path).is_file(), path
    assert not list(WEBHOOK.rglob("*_producer.py")), "an http render carries no Pulsar machinery"
    assert not list(WEBHOOK.rglob("webhook_http.py")), "the delivery is the runtime's, not its own"


def fixed_fields(question: str) -> list[dict[str, Any]]:
    """The http transport's own field specs for `question`, from its table entry."""
    config = yaml.safe_load((REPO_ROOT / "copier.yml").read_text())
    fields: list[dict[str, Any]] = config["transports"]["default"]["http"][question]
    return fields


OTHER_NAMES: dict[str, Any] = {
    "destination_name": "Acme's Order Hooks for Zürich",
    "module_name": "acme_order_hooks",
    "class_prefix": "AcmeCorporationOutboundOrderHooksZurich",
    "resource_type": "acme-order-hooks",
    "transport": "http",
}


def test_a_render_with_other_names_passes_its_checks_and_its_tests(
    render_into_checkout: RenderInto, mypy_cache: Path
) -> None:
    checkout = render_into_checkout(OTHER_NAMES)
    for path in http_files("acme_order_hooks"):
        assert (checkout / path).is_file(), path
    # Nothing of one destination in the runtime: another's render writes the same files.
    for path in RUNTIME_FILES:
        assert (checkout / path).read_bytes() == (WEBHOOK / path).read_bytes(), path
    check_code(checkout, "acme_order_hooks", mypy_cache)
    # Its own tests: the runtime's are the example's, the same bytes.
    own_tests = [
        "test/unit/destination/test_acme_order_hooks_connector.py",
        "test/integration/destination/test_acme_order_hooks_connector_server.py",
    ]
    assert_all_passed(run_rendered_tests(checkout, *own_tests))


@pytest.mark.parametrize(
    ("question", "drop"),
    [("credential_fields", "signing_secret"), ("init_fields", "max_attempts")],
)
def test_an_http_render_must_keep_the_fields_the_transport_reads(
    render_into_checkout: RenderInto, question: str, drop: str
) -> None:
    fields = [field for field in fixed_fields(question) if field["name"] != drop]
    with pytest.raises(ValueError, match=f'needs the field "{drop}"'):
        render_into_checkout({"destination_name": "Hooks", "transport": "http", question: fields})
