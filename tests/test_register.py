"""Registering a rendered destination in Tracardi's setup_resources.py.

tasks/register_destination.py makes the two edits, once; when it cannot, it changes nothing
and says what to add, in the words of the after-copy message that plain `copier copy` prints.
"""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import RenderInto
from rendering import (
    assert_all_passed,
    copier_copy,
    load_script,
    make_checkout,
    run,
    run_rendered_tests,
)

SETUP = "tracardi/service/setup/setup_resources.py"
AUDIT_LOG = {"destination_name": "Audit Log", "transport": "custom"}


def by_hand(module_name: str) -> str:
    text: str = load_script("tasks/register_destination.py").Destination(module_name).by_hand()
    return text


def register(template_dir: Path, checkout: Path, module_name: str) -> str:
    """Run the script from the template export, as a copier task would; return its output."""
    script = template_dir / "tasks" / "register_destination.py"
    return run([sys.executable, script, checkout, module_name], cwd=checkout)


def test_registering_adds_two_lines_once_and_the_rendered_tests_still_pass(
    template_dir: Path, render_into_checkout: RenderInto
) -> None:
    checkout = render_into_checkout(AUDIT_LOG)
    setup = checkout / SETUP
    before = setup.read_bytes().decode().splitlines(keepends=True)

    assert "Registered AUDIT_LOG_RESOURCE ('audit-log')" in register(
        template_dir, checkout, "audit_log"
    )

    after = setup.read_bytes().decode().splitlines(keepends=True)
    added = [
        "from tracardi.service.setup.destinations.audit_log_resource import AUDIT_LOG_RESOURCE\n",
        "        AUDIT_LOG_RESOURCE,\n",
    ]
    assert [line for line in after if line not in added] == before
    assert sorted(set(after) - set(before)) == sorted(added)
    ast.parse("".join(after))
    registered = setup.read_bytes()
    assert "already registered" in register(template_dir, checkout, "audit_log")
    assert setup.read_bytes() == registered
    assert_all_passed(run_rendered_tests(checkout, "test/unit"))
    if "TRACARDI_SRC" not in os.environ:  # the stand-in imports with no other dependencies
        ids = run(
            [
                sys.executable,
                "-c",
                "from tracardi.service.setup.setup_resources import get_type_of_resources\n"
                "print([type_id for type_id, _ in get_type_of_resources()])",
            ],
            cwd=checkout,
        )
        assert "'audit-log'" in ids


def assert_left_alone(output: str, setup: Path, before: bytes | None, module_name: str) -> None:
    assert "was NOT registered" in output and by_hand(module_name) in output, output
    assert (setup.read_bytes() if setup.exists() else None) == before


def test_a_missing_setup_file_is_left_missing_with_the_manual_steps(
    template_dir: Path, render_into_checkout: RenderInto
) -> None:
    checkout = render_into_checkout(AUDIT_LOG)
    (checkout / SETUP).unlink()
    output = register(template_dir, checkout, "audit_log")
    assert_left_alone(output, checkout / SETUP, None, "audit_log")


@pytest.mark.parametrize(
    "shape",
    [
        "def get_resource_types():\n    return [RESOURCE_A, RESOURCE_B]\n",
        "def get_resource_types():\n    os_resource_types = [RESOURCE_A]\n",
        "os_resource_types = [\n    RESOURCE_A,\n]\n",
        "def get_resource_types(:\n",
    ],
    ids=["no-list-variable", "list-on-one-line", "list-outside-the-function", "syntax-error"],
)
def test_an_unexpected_shape_is_left_alone_with_the_manual_steps(
    shape: str, template_dir: Path, render_into_checkout: RenderInto
) -> None:
    checkout = render_into_checkout(AUDIT_LOG)
    setup = checkout / SETUP
    setup.write_text("from tracardi.domain.resource_settings import ResourceSettings\n\n" + shape)
    before = setup.read_bytes()
    output = register(template_dir, checkout, "audit_log")
    assert_left_alone(output, setup, before, "audit_log")


def test_an_id_tracardi_already_registers_is_refused_with_the_manual_steps(
    template_dir: Path, render_into_checkout: RenderInto
) -> None:
    """Tracardi master lists apache-pulsar as a Pro resource; a second entry would clash."""
    checkout = render_into_checkout({})
    setup = checkout / SETUP
    text = setup.read_text()
    pro_entry = (
        '        ResourceSettings(\n            id="apache-pulsar",\n'
        '            name="Apache Pulsar",\n            pro={"service": "com_tracardi"},\n'
        "        ),\n"
    )
    setup.write_text(
        text.replace("    os_resource_types = [\n", "    os_resource_types = [\n" + pro_entry)
    )
    before = setup.read_bytes()
    output = register(template_dir, checkout, "pulsar")
    assert_left_alone(output, setup, before, "pulsar")
    assert "already registers the resource type id 'apache-pulsar' (a Tracardi Pro entry)" in output


def test_plain_copy_needs_no_trust_and_its_message_gives_the_same_manual_steps(
    template_dir: Path, tmp_path: Path
) -> None:
    checkout = make_checkout(tmp_path / "tracardi-checkout")
    setup = (checkout / SETUP).read_bytes()
    answers = ["--data", "destination_name=Audit Log", "--data", "transport=custom"]
    copy = copier_copy(template_dir, checkout, *answers)
    assert copy.returncode == 0, copy.stderr
    assert by_hand("audit_log") in copy.stderr, copy.stderr
    assert (checkout / SETUP).read_bytes() == setup


def test_windows_line_endings_stay_windows_line_endings(
    template_dir: Path, render_into_checkout: RenderInto
) -> None:
    checkout = render_into_checkout(AUDIT_LOG)
    setup = checkout / SETUP
    setup.write_bytes(setup.read_bytes().replace(b"\n", b"\r\n"))
    register(template_dir, checkout, "audit_log")
    text = setup.read_bytes()
    assert b"AUDIT_LOG_RESOURCE,\r\n" in text
    assert text.count(b"\n") == text.count(b"\r\n")


def copy_register_template(
    template_dir: Path, checkout: Path, module_name: str, *options: str
) -> subprocess.CompletedProcess[str]:
    data = ("--data", f"module_name={module_name}")
    return copier_copy(template_dir / "register", checkout, *options, *data)


def test_the_trusted_register_task_registers_once(
    template_dir: Path, render_into_checkout: RenderInto
) -> None:
    checkout = render_into_checkout(AUDIT_LOG)
    setup = checkout / SETUP
    first = copy_register_template(template_dir, checkout, "audit_log", "--trust")
    assert first.returncode == 0, first.stderr
    registered = setup.read_text()
    assert "import AUDIT_LOG_RESOURCE\n" in registered
    assert "        AUDIT_LOG_RESOURCE,\n" in registered
    second = copy_register_template(template_dir, checkout, "audit_log", "--trust")
    assert second.returncode == 0, second.stderr
    assert setup.read_text() == registered
    assert not list(checkout.glob(".copier-answers*register*"))
    assert_all_passed(run_rendered_tests(checkout, "test/unit"))


def test_the_register_task_without_trust_is_refused_and_changes_nothing(
    template_dir: Path, render_into_checkout: RenderInto
) -> None:
    checkout = render_into_checkout(AUDIT_LOG)
    setup = (checkout / SETUP).read_bytes()
    refused = copy_register_template(template_dir, checkout, "audit_log")
    assert refused.returncode != 0
    assert "--trust" in refused.stderr
    assert (checkout / SETUP).read_bytes() == setup
