"""Living with a generated destination: `copier update` keeps the author's edits, migrations
carry renamed answers across, and the committed example's answers file never churns.

Each update test builds real template versions: a git repository with one tagged commit per
version, each the working tree's template with an edit applied. A stand-in Tracardi checkout,
itself a git repository, gets the older version with `copier copy`, then the author's edits as
a commit, then `copier update` to the newer version, all through Copier's command line.
"""

import ast
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from examples import EXAMPLES
from rendering import (
    export_template,
    load_script,
    make_checkout,
    run,
    run_rendered_tests,
)

COPIER = [sys.executable, "-m", "copier"]
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Template Tests",
    "GIT_AUTHOR_EMAIL": "tests@example.invalid",
    "GIT_COMMITTER_NAME": "Template Tests",
    "GIT_COMMITTER_EMAIL": "tests@example.invalid",
}
ANSWERS = ".copier-answers.destination-pulsar.yml"
DOCS = "docs/resources/pulsar_resource.md"
CONNECTOR = "tracardi/process_engine/destination/pulsar_connector.py"
RESOURCE = "tracardi/service/setup/destinations/pulsar_resource.py"
UNIT_TEST = "test/unit/destination/test_pulsar_connector.py"
CONNECTOR_TEMPLATE = (
    "template/tracardi/process_engine/destination/{{ module_name }}_connector.py.jinja"
)
DOCS_TEMPLATE = "template/docs/resources/{{ module_name }}_resource.md.jinja"
V1_FOOTER = "# Rendered by template version 1.0.0."

AUTHORS_METHOD = '''\
    def owner(self) -> str:
        """Who answers for this destination: written by its author, not by the template."""
        return "data platform team"

'''
AUTHORS_TEST = """

def test_send_timeout_default_is_ours() -> None:
    from tracardi.process_engine.destination.pulsar_connector import PulsarConfiguration

    assert PulsarConfiguration(topic="orders").send_timeout_seconds == 30
"""


def git(repo: Path, *arguments: str) -> str:
    return run(["git", *arguments], cwd=repo, env=GIT_ENV)


def commit_all(repo: Path, message: str) -> None:
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "--no-verify", "--message", message)


def replace_once(path: Path, old: str, new: str, *, regex: bool = False) -> None:
    text = path.read_text()
    result, count = re.subn(old if regex else re.escape(old), new, text, flags=re.MULTILINE)
    assert count == 1, f"expected {old!r} once in {path}, found it {count} times"
    path.write_text(result)


def template_repository(root: Path, versions: Sequence[tuple[str, Callable[[Path], None]]]) -> Path:
    """A git repository with one commit per (tag, edit): the exported template, edited."""
    repository = root / "template-repository"
    repository.mkdir()
    git(repository, "init", "--quiet")
    for tag, edit in versions:
        for child in repository.iterdir():
            if child.is_dir() and child.name != ".git":
                shutil.rmtree(child)
            elif child.is_file():
                child.unlink()
        edit(export_template(repository))
        commit_all(repository, f"template {tag}")
        git(repository, "tag", tag)
    return repository


def unchanged(template: Path) -> None:
    """The template as the working tree has it."""


def version_1(template: Path) -> None:
    """An older template: another docs heading, and a footer comment in the connector."""
    # The manual's title line, whatever expression renders the name in it.
    replace_once(template / DOCS_TEMPLATE, r"^(# \{\{.*\}\})$", r"\1 destination", regex=True)
    with (template / CONNECTOR_TEMPLATE).open("a") as connector:
        connector.write(V1_FOOTER + "\n")


@pytest.fixture(scope="module")
def versions_1_and_2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return template_repository(
        tmp_path_factory.mktemp("v1-v2"), [("1.0.0", version_1), ("2.0.0", unchanged)]
    )


def rendered_checkout(root: Path, template: Path, version: str, *copier_options: str) -> Path:
    """A stand-in Tracardi checkout under git, with `version` of the template rendered in."""
    checkout = make_checkout(root / "tracardi-checkout")
    (checkout / ".gitignore").write_text("__pycache__/\n*.pyc\npytest-report.xml\n")
    run(
        [*COPIER, "copy", "--defaults", "--vcs-ref", version, *copier_options, template, "."],
        cwd=checkout,
    )
    git(checkout, "init", "--quiet")
    commit_all(checkout, f"Apache Pulsar destination from template {version}")
    return checkout


def update(checkout: Path, version: str, *copier_options: str) -> str:
    arguments = ["--defaults", "--vcs-ref", version, "--answers-file", ANSWERS, *copier_options]
    return run([*COPIER, "update", *arguments], cwd=checkout)


def answers(checkout: Path) -> dict[str, Any]:
    recorded: dict[str, Any] = yaml.safe_load((checkout / ANSWERS).read_text())
    return recorded


def make_authors_edits(checkout: Path) -> None:
    """A new method, a changed default (in the model and the registered init), a new test."""
    connector = checkout / CONNECTOR
    lines = connector.read_text().splitlines(keepends=True)
    (cls,) = (
        node
        for node in ast.parse("".join(lines)).body
        if isinstance(node, ast.ClassDef) and node.name == "PulsarConnector"
    )
    first = next(n for n in cls.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef))
    start = min([first.lineno, *(decorator.lineno for decorator in first.decorator_list)]) - 1
    connector.write_text("".join([*lines[:start], AUTHORS_METHOD, *lines[start:]]))
    replace_once(
        connector, r"(send_timeout_seconds: int = Field\(\s+default=)10,", r"\g<1>30,", regex=True
    )
    replace_once(checkout / RESOURCE, '"send_timeout_seconds": 10,', '"send_timeout_seconds": 30,')
    with (checkout / UNIT_TEST).open("a") as unit_test:
        unit_test.write(AUTHORS_TEST)


def assert_authors_edits_kept(checkout: Path) -> None:
    connector = (checkout / CONNECTOR).read_text()
    assert AUTHORS_METHOD in connector
    assert re.search(r"send_timeout_seconds: int = Field\(\s+default=30,", connector)
    assert '"send_timeout_seconds": 30,' in (checkout / RESOURCE).read_text()
    assert (checkout / UNIT_TEST).read_text().endswith(AUTHORS_TEST)


def test_update_keeps_the_authors_edits_and_brings_the_template_change(
    versions_1_and_2: Path, tmp_path: Path
) -> None:
    checkout = rendered_checkout(tmp_path, versions_1_and_2, "1.0.0")
    assert (checkout / DOCS).read_text().startswith("# Apache Pulsar destination\n")
    make_authors_edits(checkout)
    commit_all(checkout, "The author's own changes")

    update(checkout, "2.0.0")

    assert (checkout / DOCS).read_text().startswith("# Apache Pulsar\n")
    assert V1_FOOTER not in (checkout / CONNECTOR).read_text()
    assert_authors_edits_kept(checkout)
    assert answers(checkout)["_commit"] == "2.0.0"
    status = git(checkout, "status", "--porcelain", "--untracked-files=all")
    assert "<<<<<<<" not in git(checkout, "diff") and ".rej" not in status, status
    result = run_rendered_tests(checkout, "-vv", "test/unit")
    assert result.failed == 0 and result.passed > 1, result.output
    assert "test_send_timeout_default_is_ours PASSED" in result.output, result.output


def test_update_shows_a_conflict_inline_and_keeps_the_other_edits(
    versions_1_and_2: Path, tmp_path: Path
) -> None:
    checkout = rendered_checkout(tmp_path, versions_1_and_2, "1.0.0")
    make_authors_edits(checkout)
    replace_once(checkout / DOCS, "# Apache Pulsar destination\n", "# Apache Pulsar at ACME\n")
    commit_all(checkout, "The author's own changes, one where the template changes too")

    update(checkout, "2.0.0", "--conflict", "inline")

    conflict = (
        "<<<<<<< before updating\n# Apache Pulsar at ACME\n=======\n"
        "# Apache Pulsar\n>>>>>>> after updating\n"
    )
    assert (checkout / DOCS).read_text().startswith(conflict)
    assert git(checkout, "diff", "--name-only", "--diff-filter=U").split() == [DOCS]
    assert V1_FOOTER not in (checkout / CONNECTOR).read_text()
    assert_authors_edits_kept(checkout)


def rename_jinja_variable(text: str, old: str, new: str) -> str:
    """`text` with the variable `old` called `new` inside every Jinja expression and statement."""
    return re.sub(
        r"\{\{.*?\}\}|\{%.*?%\}",
        lambda match: re.sub(rf"\b{old}\b", new, match.group()),
        text,
        flags=re.DOTALL,
    )


def version_0_1(template: Path) -> None:
    """The template before 0.2.0, when the `icon` question was called `destination_icon`."""
    copier_yml = template / "copier.yml"
    replace_once(copier_yml, r"^icon:", "destination_icon:", regex=True)
    copier_yml.write_text(rename_jinja_variable(copier_yml.read_text(), "icon", "destination_icon"))
    renamed = 0
    for path in (template / "template").rglob("*.jinja"):
        text = path.read_text()
        path.write_text(new := rename_jinja_variable(text, "icon", "destination_icon"))
        renamed += new != text
    assert renamed, "no template file uses the icon answer"


def test_update_carries_a_renamed_answer_across_with_its_migration(tmp_path: Path) -> None:
    template = template_repository(tmp_path, [("0.1.0", version_0_1), ("0.2.0", unchanged)])
    checkout = rendered_checkout(tmp_path, template, "0.1.0", "--data", "destination_icon=rocket")
    assert answers(checkout)["destination_icon"] == "rocket"
    untrusted = subprocess.run(
        [*COPIER, "update", "--defaults", "--vcs-ref", "0.2.0", "--answers-file", ANSWERS],
        cwd=checkout,
        capture_output=True,
        text=True,
        check=False,
    )
    assert untrusted.returncode != 0 and "migrations" in untrusted.stderr, untrusted.stderr

    output = update(checkout, "0.2.0", "--trust")

    recorded = answers(checkout)
    assert recorded["icon"] == "rocket" and "destination_icon" not in recorded, recorded
    assert 'icon="rocket",' in (checkout / RESOURCE).read_text()
    assert "'destination_icon' is now called 'icon'" in output


def test_rename_answer_changes_only_the_key_and_only_once() -> None:
    renamed = load_script("migrations/rename_answer.py").renamed
    text = "# Copier's header\n_commit: 0.1.0\ndestination_icon: rocket\ntags:\n- icon\n"
    expected = "# Copier's header\n_commit: 0.1.0\nicon: rocket\ntags:\n- icon\n"
    assert renamed(text, "destination_icon", "icon") == expected
    assert renamed(expected, "destination_icon", "icon") is None
    assert renamed('"destination_icon": rocket\n', "destination_icon", "icon") == "icon: rocket\n"


def test_add_transport_fields_appends_only_what_the_answers_lack() -> None:
    with_transport_fields = load_script("migrations/add_transport_fields.py").with_transport_fields
    backoff = {"name": "unreachable_backoff_seconds", "type": "float", "default": 5}
    transports = {
        "pulsar": {
            "credential_fields": [],
            "init_fields": [{"name": "topic", "type": "str"}, backoff],
        },
        "custom": {"credential_fields": [], "init_fields": []},
    }
    old = {"transport": "pulsar", "init_fields": [{"name": "topic", "type": "str", "default": "x"}]}
    added = with_transport_fields(old, transports)
    assert added["init_fields"] == [*old["init_fields"], backoff]
    assert with_transport_fields(added, transports) is None
    assert with_transport_fields({"transport": "custom", "init_fields": []}, transports) is None
    assert with_transport_fields({"transport": "carrier-pigeon"}, transports) is None


def test_the_1_0_0_migration_gives_older_pulsar_answers_ssl_ca_file() -> None:
    """Answers recorded before pulsar read ssl_ca_file get it as the table gives it, from an
    add_transport_fields migration of 1.0.0, so `copier update` does not refuse them."""
    copier_yml = yaml.safe_load((EXAMPLES.parent / "copier.yml").read_text())
    migrations = [
        entry
        for entry in copier_yml["_migrations"]
        if "add_transport_fields.py" in str(entry["command"])
    ]
    assert "1.0.0" in [entry["version"] for entry in migrations]
    with_transport_fields = load_script("migrations/add_transport_fields.py").with_transport_fields
    transports = copier_yml["transports"]["default"]
    (table_field,) = [
        f for f in transports["pulsar"]["credential_fields"] if f["name"] == "ssl_ca_file"
    ]
    recorded = yaml.safe_load((EXAMPLES / "pulsar" / ANSWERS).read_text())
    older = {
        **recorded,
        "credential_fields": [
            f for f in recorded["credential_fields"] if f["name"] != "ssl_ca_file"
        ],
    }
    migrated = with_transport_fields(older, transports)
    assert migrated["credential_fields"] == [*older["credential_fields"], table_field]
    assert migrated["init_fields"] == recorded["init_fields"]


def test_the_committed_example_records_a_relative_source_and_no_commit() -> None:
    """So regenerating it on a new commit changes nothing, and the drift test stays quiet."""
    for answers_file in EXAMPLES.glob("*/.copier-answers.destination-*.yml"):
        recorded = yaml.safe_load(answers_file.read_text())
        assert recorded["_src_path"] == "../..", answers_file
        assert "_commit" not in recorded, answers_file
