"""The stand-in is true to Tracardi master where a destination can tell, and TRACARDI_SRC swaps
it for a real checkout.

What the stand-in claims in tests/tracardi_host/README.md is checked here: its models' fields
and defaults against a snapshot read from master (tests/tracardi_host/master_models.json,
written by scripts/master_models.py), get_logger's handlers and propagation, how credentials are
chosen, that it is typed, and that the tests run against another checkout when told so.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import RenderInto
from master_models import SNAPSHOT
from render_helpers import IGNORED, REPO_ROOT, render
from rendering import (
    STAND_IN,
    assert_all_passed,
    code_checks,
    make_checkout,
    rendered_python_files,
    run,
    run_rendered_tests,
)

STAND_IN_ROOT = STAND_IN.parent
README = STAND_IN_ROOT / "README.md"


def type_check(checkout: Path, module_name: str, mypy_cache: Path) -> None:
    """mypy --strict with the rendered-code settings (ruff's checks are the templates' own
    business, tested in test_render_matrix.py)."""
    files = [path.relative_to(checkout) for path in rendered_python_files(checkout, module_name)]
    run(code_checks(files, mypy_cache)["mypy"], cwd=checkout)


def run_python(code: str, tracardi_root: Path) -> str:
    """Run `code` with the `tracardi` package under `tracardi_root` importable; its stdout."""
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tracardi_root,
        env={**os.environ, "PYTHONPATH": str(tracardi_root)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def models_of(tracardi_root: Path) -> object:
    script = REPO_ROOT / "scripts" / "master_models.py"
    return json.loads(
        run_python(
            f"import runpy; runpy.run_path({str(script)!r}, run_name='__main__')", tracardi_root
        )
    )


def test_every_model_has_masters_fields_in_masters_order_with_masters_defaults() -> None:
    assert models_of(STAND_IN_ROOT) == json.loads(SNAPSHOT.read_text())


@pytest.mark.skipif(
    "TRACARDI_SRC" not in os.environ, reason="compares with a real checkout: set TRACARDI_SRC"
)
def test_the_snapshot_is_the_checkout_named_by_tracardi_src() -> None:
    assert models_of(Path(os.environ["TRACARDI_SRC"])) == json.loads(SNAPSHOT.read_text())


LOGGER_FACTS = """
import logging
from tracardi.exceptions.log_handler import get_logger, log_handler
logger = get_logger("tracardi.process_engine.destination.some_producer")
logger.error("it failed")
record = log_handler.collection[-1]
print(repr((
    logger.propagate,
    logging.getLevelName(logger.level),
    sorted(type(handler).__name__ for handler in logger.handlers),
    record.getMessage(),
    record.stack_info is not None,
)))
"""


def test_get_logger_does_not_propagate_and_keeps_each_record() -> None:
    facts = run_python(LOGGER_FACTS, STAND_IN_ROOT).strip()
    assert facts == repr(
        (False, "WARNING", ["ElasticLogHandler", "StreamHandler"], "it failed", True)
    )


CREDENTIALS = """
from tracardi.domain.destination import Destination, DestinationConfig
from tracardi.domain.entity import Entity
from tracardi.domain.named_entity import NamedEntity
from tracardi.domain.resource import Resource, ResourceCredentials
from tracardi.process_engine.destination.destination_interface import DestinationInterface
credentials = ResourceCredentials(production={"k": "prod"}, test={"k": "test"})
resource = Resource(id="r", name="r", type="t", credentials=credentials)
destination = Destination(
    id="d",
    name="d",
    destination=DestinationConfig(package="p"),
    resource=Entity(id="r"),
    source=NamedEntity(id="s", name="s"),
)
interfaces = [DestinationInterface(debug, resource, destination) for debug in (False, True)]
print([interface._get_credentials()["k"] for interface in interfaces])
"""


def test_a_destination_gets_test_credentials_only_in_debug_mode() -> None:
    """Master's DestinationInterface._get_credentials(), which rendered connectors call,
    looks at `debug` alone; the request context matters only to get_credentials()."""
    assert run_python(CREDENTIALS, STAND_IN_ROOT).strip() == "['prod', 'test']"


def test_the_readme_names_every_divergence_it_keeps() -> None:
    text = " ".join(README.read_text().split())
    for divergence in (
        "`ResourceCredentials.get_credentials()`",
        "Elasticsearch",
        "commercial_resource_types",
        "without its colours",
        "**Methods.**",
        "`Destination.condition` is not parsed",
    ):
        assert divergence in text, divergence
    assert "same field names, defaults" not in text


def test_the_stand_in_is_typed_for_python_3_10(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            *(sys.executable, "-m", "mypy", "--strict", "--python-version", "3.10"),
            *("--cache-dir", tmp_path / "mypy", "-p", "tracardi"),
        ],
        cwd=STAND_IN_ROOT,
        env={**os.environ, "MYPYPATH": str(STAND_IN_ROOT)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_tracardi_src_points_the_tests_at_another_checkout(
    tmp_path: Path, template_dir: Path, mypy_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stand-in, laid out as a separate Tracardi checkout, is what the tests then use."""
    elsewhere = tmp_path / "tracardi-elsewhere"
    shutil.copytree(STAND_IN, elsewhere / "tracardi", ignore=IGNORED)
    (elsewhere / "tracardi" / "from_elsewhere.py").write_text("")
    monkeypatch.setenv("TRACARDI_SRC", str(elsewhere))
    checkout = make_checkout(tmp_path / "tracardi-checkout")
    assert (checkout / "tracardi" / "from_elsewhere.py").is_file()
    answers = yaml.safe_load((REPO_ROOT / "tests/answer_sets/custom_no_fields.yml").read_text())
    render(template_dir, checkout, answers)
    type_check(checkout, "audit_log", mypy_cache)
    assert_all_passed(run_rendered_tests(checkout, "test/unit"))


def test_rendered_code_may_call_untyped_tracardi_functions(
    render_into_checkout: RenderInto, mypy_cache: Path
) -> None:
    """Master's get_logger has no annotations; mypy --strict must accept the call in rendered
    code, as it does for a real checkout (tests/rendered_code/mypy.ini)."""
    checkout = render_into_checkout({})
    log_handler = checkout / "tracardi" / "exceptions" / "log_handler.py"
    untyped = log_handler.read_text().replace(
        "def get_logger(name: str, level: int | None = None) -> logging.Logger:",
        "def get_logger(name, level=None):  # type: ignore[no-untyped-def]",
    )
    assert untyped != log_handler.read_text()
    log_handler.write_text(untyped)
    type_check(checkout, "pulsar", mypy_cache)
