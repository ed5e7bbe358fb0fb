"""A field type is one row of `field_types` in copier.yml (plus at most one default-check macro):
a throwaway type added that way, to a copy of the template, renders code that passes ruff, mypy
and its own rendered tests, and its default check refuses a bad default."""

from pathlib import Path
from typing import Any

import pytest
import yaml
from rendering import (
    assert_all_passed,
    check_code,
    copier_copy,
    export_template,
    make_checkout,
    render,
    run_rendered_tests,
)

# A UUID field: pydantic turns the text into uuid.UUID. Everything about it is in the row and
# the one macro its row names.
UUID_ROW = {
    "annotation": "UUID",
    "import": "uuid",
    "python_types": ["str"],
    "validate_default": True,
    "default_check": "uuid_text",
    "component": "text",
    "sample": "0b5d1c3e-4f6a-4b8c-9d0e-1f2a3b4c5d6e",
    "wrong": "not a uuid",
    "placeholder": "<{name}>",
    "notes": "a UUID, written as text",
}
UUID_CHECK = """
{%- macro uuid_text(field) -%}
{%- if not field.default | regex_search('^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$') -%}
default {{ field.default | to_json }} is not a UUID
{%- endif -%}
{%- endmacro -%}
"""
ANSWERS: dict[str, Any] = {
    "destination_name": "Row Probe",
    "transport": "custom",
    "credential_fields": [{"name": "account", "type": "uuid", "required": True}],
    "init_fields": [
        {"name": "tenant", "type": "uuid", "default": "6f1c2d3e-0000-4000-8000-000000000001"},
        {"name": "parent", "type": "uuid", "description": "Optional, without a default."},
    ],
}


@pytest.fixture(scope="module")
def template_with_a_new_type(tmp_path_factory: pytest.TempPathFactory) -> Path:
    template = export_template(tmp_path_factory.mktemp("template-with-uuid"))
    copier_yml = template / "copier.yml"
    text = copier_yml.read_text()
    # Appended as the table's last row, in the flow style the other rows use.
    anchor = "\n\n# The one table of transports"
    row = "    uuid: " + yaml.safe_dump(UUID_ROW, default_flow_style=True, width=10_000).strip()
    assert anchor in text
    copier_yml.write_text(text.replace(anchor, "\n" + row + anchor, 1))
    checks = template / "includes" / "default_checks.jinja"
    checks.write_text(checks.read_text() + UUID_CHECK)
    return template


def test_a_new_row_renders_code_that_passes_its_checks_and_tests(
    template_with_a_new_type: Path, tmp_path: Path, mypy_cache: Path
) -> None:
    checkout = make_checkout(tmp_path / "checkout")
    render(template_with_a_new_type, checkout, ANSWERS)
    connector = (
        checkout / "tracardi/process_engine/destination/row_probe_connector.py"
    ).read_text()
    assert "from uuid import UUID\n" in connector
    assert "    account: UUID\n" in connector
    assert "    parent: UUID | None = Field(\n" in connector
    check_code(checkout, "row_probe", mypy_cache)
    assert_all_passed(run_rendered_tests(checkout, "test/unit"))


def test_a_new_rows_default_check_refuses_a_bad_default(
    template_with_a_new_type: Path, tmp_path: Path
) -> None:
    answers = {**ANSWERS, "init_fields": [{"name": "tenant", "type": "uuid", "default": "nope"}]}
    data_file = tmp_path / "answers.yml"
    data_file.write_text(yaml.safe_dump(answers))
    result = copier_copy(
        template_with_a_new_type, tmp_path / "out", "--quiet", "--data-file", data_file
    )
    assert result.returncode != 0
    assert 'init_fields[0] (tenant): default "nope" is not a UUID' in result.stderr
