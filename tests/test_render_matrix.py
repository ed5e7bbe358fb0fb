"""Every answer set in the matrix renders code that passes ruff, mypy and its own tests."""

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import RenderInto
from rendering import assert_all_passed, check_code, rendered_python_files, run_rendered_tests

ANSWER_SETS = Path(__file__).parent / "answer_sets"


def answer_set(name: str) -> dict[str, Any]:
    answers: dict[str, Any] = yaml.safe_load((ANSWER_SETS / f"{name}.yml").read_text())
    return answers


def module_of(checkout: Path) -> str:
    (answers_file,) = checkout.glob(".copier-answers.destination-*.yml")
    module: str = yaml.safe_load(answers_file.read_text())["module_name"]
    return module


@pytest.mark.parametrize(
    "name",
    [
        "amqp_awkward_text",
        "custom_every_type",
        "custom_long_text",
        "custom_no_credentials",
        "custom_no_fields",
        "http_awkward_text",
        "kafka_awkward_text",
        "pulsar_awkward_text",
    ],
)
def test_answer_set_renders_code_that_passes_its_checks_and_tests(
    name: str, render_into_checkout: RenderInto, mypy_cache: Path
) -> None:
    checkout = render_into_checkout(answer_set(name))
    module = module_of(checkout)
    check_code(checkout, module, mypy_cache)
    assert_all_passed(run_rendered_tests(checkout, "test/unit"))


def test_pulsar_under_another_name_passes_its_broker_tests(
    render_into_checkout: RenderInto,
) -> None:
    checkout = render_into_checkout(answer_set("pulsar_awkward_text"))
    # Not the Apache Pulsar tests beside them, which skip without that broker.
    broker_tests = f"test/integration/destination/test_{module_of(checkout)}_connector_broker.py"
    assert_all_passed(run_rendered_tests(checkout, broker_tests))


@pytest.mark.parametrize(
    ("destination_name", "resource_type", "module_name", "class_prefix"),
    [
        ("Apache Pulsar", "apache-pulsar", "pulsar", "Pulsar"),
        ("Amazon SQS", "amazon-sqs", "sqs", "Sqs"),
        ("Google  Pub/Sub", "google-pub-sub", "pub_sub", "PubSub"),
        ("my-CRM_export v2", "my-crm-export-v2", "my_crm_export_v2", "MyCrmExportV2"),
        ("360dialog", "destination-360dialog", "destination_360dialog", "Destination360dialog"),
        (
            "Zażółć Édition Ørsted",
            "zazolc-edition-orsted",
            "zazolc_edition_orsted",
            "ZazolcEditionOrsted",
        ),
        ("Apache", "apache", "apache", "Apache"),
    ],
)
def test_names_are_derived_from_the_destination_name(
    destination_name: str,
    resource_type: str,
    module_name: str,
    class_prefix: str,
    render_into_checkout: RenderInto,
) -> None:
    checkout = render_into_checkout({"destination_name": destination_name, "transport": "custom"})
    answers = yaml.safe_load(
        (checkout / f".copier-answers.destination-{module_name}.yml").read_text()
    )
    assert (answers["resource_type"], answers["module_name"], answers["class_prefix"]) == (
        resource_type,
        module_name,
        class_prefix,
    )
    connector = checkout / f"tracardi/process_engine/destination/{module_name}_connector.py"
    assert re.search(
        rf"^class {class_prefix}Connector\(\s*RecordConnector\[", connector.read_text(), re.M
    )


def test_secrets_are_never_written_with_a_value(render_into_checkout: RenderInto) -> None:
    checkout = render_into_checkout(answer_set("custom_every_type"))
    module = module_of(checkout)
    resource = checkout / f"tracardi/service/setup/destinations/{module}_resource.py"
    text = resource.read_text()
    assert '"api_key": "<api_key>"' in text
    assert '"signing_secret": "<signing_secret>"' in text
    assert '"token": None' in text  # an init secret starts empty on the form


def test_rendered_files_carry_no_template_leftovers(render_into_checkout: RenderInto) -> None:
    checkout = render_into_checkout(answer_set("custom_every_type"))
    for path in rendered_python_files(checkout, module_of(checkout)):
        text = path.read_text()
        assert "\n\n\n\n" not in text, f"{path}: more than two blank lines in a row"
        assert not any(line != line.rstrip() for line in text.splitlines()), path
        assert text.endswith("\n") and not text.endswith("\n\n"), path
        assert "{%" not in text.replace("{% raw %}", ""), path
