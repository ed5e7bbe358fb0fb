"""Registering a rendered destination in Tracardi's setup_resources.py.

tasks/register_destination.py makes the two edits, once; when it cannot, it changes nothing,
says what to add, in the words of the after-copy message that plain `copier copy` prints, and
exits 1. The stand-in's setup_resources.py lists master's resource type ids, its Pro stubs in
master's shape (destination=DestinationData(package="com_tracardi...", pro=True)), so every
test here registers into a file shaped like master's.
"""

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import RenderInto
from rendering import (
    STAND_IN,
    assert_all_passed,
    copier_copy,
    load_script,
    make_checkout,
    run,
    run_rendered_tests,
)
from template_facts import hidden

SETUP = "tracardi/service/setup/setup_resources.py"
AUDIT_LOG = {"destination_name": "Audit Log", "transport": "custom"}


PULSAR_DEFAULTS: dict[str, str] = {}  # every default: Apache Pulsar, resource type apache-pulsar
LIST_IDS = (
    "from tracardi.service.setup.setup_resources import get_type_of_resources\n"
    "print(sorted(type_id for type_id, _ in sorted(list(get_type_of_resources()))))"
)


def by_hand(module_name: str, replaces: str | None = None) -> str:
    destination = load_script("tasks/register_destination.py").Destination(module_name)
    text: str = destination.by_hand(replaces)
    return text


def run_register(
    template_dir: Path, checkout: Path, module_name: str
) -> subprocess.CompletedProcess[str]:
    """Run the script from the template export, as a copier task would."""
    script = template_dir / "tasks" / "register_destination.py"
    return subprocess.run(
        [sys.executable, script, checkout, module_name],
        cwd=checkout,
        capture_output=True,
        text=True,
        check=False,
    )


def register(template_dir: Path, checkout: Path, module_name: str) -> str:
    """Run the script, which must succeed; its output."""
    result = run_register(template_dir, checkout, module_name)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def refused(template_dir: Path, checkout: Path, module_name: str) -> str:
    """Run the script, which must refuse with exit status 1; its output."""
    result = run_register(template_dir, checkout, module_name)
    assert result.returncode == 1, result.stdout + result.stderr
    return result.stdout + result.stderr


def registered_ids(checkout: Path) -> list[str]:
    """The ids Tracardi's resource-type endpoint lists, sorted as it sorts them (it fails on two
    entries with one id)."""
    ids: list[str] = ast.literal_eval(run([sys.executable, "-c", LIST_IDS], cwd=checkout))
    return ids


def registered_package(checkout: Path, type_id: str) -> str:
    code = (
        "from tracardi.service.setup.setup_resources import get_resource_types\n"
        f"print([r.destination.package for r in get_resource_types() if r.id == {type_id!r}])"
    )
    (package,) = ast.literal_eval(run([sys.executable, "-c", code], cwd=checkout))
    return str(package)


uses_the_stand_in = pytest.mark.skipif(
    "TRACARDI_SRC" in os.environ, reason="imports setup_resources, which needs the stand-in"
)


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
        assert "audit-log" in registered_ids(checkout)


def assert_left_alone(output: str, setup: Path, before: bytes | None, module_name: str) -> None:
    assert "was NOT registered" in output and by_hand(module_name) in output, output
    assert (setup.read_bytes() if setup.exists() else None) == before


def test_a_missing_setup_file_is_left_missing_with_the_manual_steps(
    template_dir: Path, render_into_checkout: RenderInto
) -> None:
    checkout = render_into_checkout(AUDIT_LOG)
    (checkout / SETUP).unlink()
    output = refused(template_dir, checkout, "audit_log")
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
    output = refused(template_dir, checkout, "audit_log")
    assert_left_alone(output, setup, before, "audit_log")


# Master's Pro stub for apache-pulsar, laid out as master lays it out (its values, not its file).
MASTER_PRO_STUB = """\
        ResourceSettings(
            id='apache-pulsar',
            config={
                'host': '<pulsar://localhost:6650>',
                'token': '<token>'
            },
            icon='pulsar',
            tags=['pulsar', 'apache', 'queue'],
            name='Apache Pulsar',
            manual='apache_pulsar_resource',
            destination=DestinationData(
                package="com_tracardi.destination.pulsar_connector.PulsarConnector",
                init={
                    "topic": "<topic>",
                    "serializer": "json"
                },
                pro=True
            )
        ),
"""


def with_master_pro_stub(setup: Path) -> None:
    """Replace the stand-in's one-line apache-pulsar stub with master's multi-line layout."""
    lines = setup.read_text().splitlines(keepends=True)
    (index,) = [i for i, line in enumerate(lines) if 'id="apache-pulsar"' in line]
    lines[index] = MASTER_PRO_STUB
    setup.write_text("".join(lines))


@uses_the_stand_in
@pytest.mark.parametrize("layout", ["stand-in", "master"])
def test_the_pulsar_default_replaces_masters_pro_stub_and_leaves_one_entry_per_id(
    layout: str, template_dir: Path, render_into_checkout: RenderInto
) -> None:
    """Master's apache-pulsar is a Pro stub open-source Tracardi cannot load; registering the
    default Pulsar render (id apache-pulsar) takes its place, on purpose."""
    checkout = render_into_checkout(PULSAR_DEFAULTS)
    setup = checkout / SETUP
    if layout == "master":
        with_master_pro_stub(setup)
    ids_before = registered_ids(checkout)
    output = register(template_dir, checkout, "pulsar")
    assert "replaces the Tracardi Pro stub with id 'apache-pulsar'" in output
    ids_after = registered_ids(checkout)  # sorts: one entry per id
    assert ids_after == ids_before
    assert registered_package(checkout, "apache-pulsar") == (
        "tracardi.process_engine.destination.pulsar_connector.PulsarConnector"
    )
    assert "com_tracardi.destination.pulsar_connector" not in setup.read_text()
    edited = setup.read_bytes()
    assert "already registered" in register(template_dir, checkout, "pulsar")
    assert setup.read_bytes() == edited


@uses_the_stand_in
def test_following_the_after_copy_steps_by_hand_leaves_one_entry_per_id(
    template_dir: Path, tmp_path: Path
) -> None:
    checkout = make_checkout(tmp_path / "tracardi-checkout")
    with_master_pro_stub(checkout / SETUP)
    copy = copier_copy(template_dir, checkout)
    assert copy.returncode == 0, copy.stderr
    message = copy.stderr
    assert by_hand("pulsar", replaces="apache-pulsar") in message
    # Each step as a contributor would do it, in a text editor.
    setup = checkout / SETUP
    lines = setup.read_text().splitlines(keepends=True)
    (import_line,) = re.findall(
        r"^    (from tracardi\.service\.setup\.destinations\..*)$", message, re.M
    )
    last_import = max(i for i, line in enumerate(lines) if line.startswith("from "))
    lines.insert(last_import + 1, import_line + "\n")
    opening = next(i for i, line in enumerate(lines) if "os_resource_types = [" in line)
    lines.insert(opening + 1, "        PULSAR_RESOURCE,\n")
    setup.write_text("".join(lines))
    with pytest.raises(AssertionError, match="TypeError"):  # what skipping the last step costs
        registered_ids(checkout)
    (stub_id,) = re.findall(r'Remove the entry with id="([^"]+)"', message)
    stub = MASTER_PRO_STUB.replace("'apache-pulsar'", f"'{stub_id}'")
    setup.write_text(setup.read_text().replace(stub, ""))
    assert registered_ids(checkout).count("apache-pulsar") == 1
    assert registered_package(checkout, "apache-pulsar").startswith("tracardi.process_engine.")


def test_an_open_source_id_of_tracardi_is_refused_with_the_manual_steps(
    template_dir: Path, render_into_checkout: RenderInto
) -> None:
    """A destination must not take an id one of Tracardi's own entries uses (the template's
    validator refuses it; here the rendered file was edited afterwards)."""
    checkout = render_into_checkout(AUDIT_LOG)
    resource = checkout / "tracardi/service/setup/destinations/audit_log_resource.py"
    resource.write_text(resource.read_text().replace('id="audit-log"', 'id="telegram"'))
    setup = checkout / SETUP
    before = setup.read_bytes()
    output = refused(template_dir, checkout, "audit_log")
    assert_left_alone(output, setup, before, "audit_log")
    assert "already registers the resource type id 'telegram' with one of Tracardi's own" in output


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


def test_the_templates_table_of_tracardis_ids_is_the_stand_ins() -> None:
    """copier.yml's tracardi_resource_types and the stand-in's registry both say which ids master
    uses; they must agree (both were read from master's setup_resources.py)."""
    table = hidden("tracardi_resource_types")
    tree = ast.parse((STAND_IN / "service/setup/setup_resources.py").read_text())
    ids: dict[str, bool] = {}  # id -> whether it is a Pro stub
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "ResourceSettings":
            (type_id,) = [k.value for k in node.keywords if k.arg == "id"]
            assert isinstance(type_id, ast.Constant)
            ids[type_id.value] = "pro=True" in ast.unparse(node)
    assert sorted(table["open_source"]) == sorted(i for i, pro in ids.items() if not pro)
    assert sorted(table["pro"]) == sorted(i for i, pro in ids.items() if pro)


@pytest.mark.parametrize(
    ("resource_type", "refused"),
    [("telegram", True), ("elastic-search", True), ("rabbitmq", False)],
)
def test_the_template_refuses_an_id_of_an_open_source_entry_only(
    resource_type: str, refused: bool, template_dir: Path, tmp_path: Path
) -> None:
    answers = ["--data", "destination_name=Queue Out", "--data", "transport=custom"]
    copy = copier_copy(template_dir, tmp_path, *answers, "--data", f"resource_type={resource_type}")
    assert (copy.returncode != 0) == refused, copy.stderr
    if refused:
        assert f'"{resource_type}" is already used by one of Tracardi\'s own' in copy.stderr
    else:
        message = " ".join(copy.stderr.split())
        assert f'Remove the entry with id="{resource_type}" from that list' in message


def test_the_trusted_register_task_fails_when_it_refuses(
    template_dir: Path, render_into_checkout: RenderInto
) -> None:
    checkout = render_into_checkout(AUDIT_LOG)
    resource = checkout / "tracardi/service/setup/destinations/audit_log_resource.py"
    resource.write_text(resource.read_text().replace('id="audit-log"', 'id="telegram"'))
    before = (checkout / SETUP).read_bytes()
    result = copy_register_template(template_dir, checkout, "audit_log", "--trust")
    assert result.returncode != 0
    assert "was NOT registered" in result.stderr
    assert (checkout / SETUP).read_bytes() == before
